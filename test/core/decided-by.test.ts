// Which step decided who is credited (attribution.decided_by), and how a payer signed up through po.js
// is found: by key (the one its payment names, or the gateway's customer id it signed up under),
// never by email.
import { describe, expect, it } from 'vitest';
import { attribute, type AttributionFacts, type Referrer, type StoredCustomer } from '../../src/core/attribution.js';
import { CustomerStore, type CustomerRow } from '../../src/core/plan.js';

const A: Referrer = { kind: 'partner', id: 'pa', key: 'PARTNER_A' };
const B: Referrer = { kind: 'partner', id: 'pb', key: 'PARTNER_B' };
const stored = (referrer: Referrer | null, extra: Partial<StoredCustomer> = {}): StoredCustomer & { matchedBy: 'key' } => ({
  id: 'c1',
  key: 'acct_1',
  referrer,
  firstPaymentAt: null,
  fromBrowser: false,
  matchedBy: 'key',
  ...extra,
});
const viaLink = (r: Referrer) => stored(r, { fromBrowser: true, linkedBy: 'referral_link' });
const facts = (f: Partial<AttributionFacts>): AttributionFacts => ({
  model: 'customer',
  partnerKey: null,
  keyReferrer: null,
  baseCustomerKey: 'acct_1',
  customer: null,
  perPartnerCustomer: null,
  createCustomer: true,
  fromBrowser: false,
  ...f,
});
const key = (value: string) => ({ value, place: 'stripe_payment_intent_metadata' as const });

describe('decided_by', () => {
  it.each<[string, Partial<AttributionFacts>, string, string | null, boolean]>([
    ['a new customer linked by the key', { partnerKey: key('PARTNER_A'), keyReferrer: A }, 'partner_key', 'PARTNER_A', false],
    ['an unlinked customer linked now by the key', { customer: stored(null), partnerKey: key('PARTNER_A'), keyReferrer: A }, 'partner_key', 'PARTNER_A', false],
    ['a customer linked earlier, no key', { customer: stored(A) }, 'customer_link', 'PARTNER_A', false],
    ['a customer linked earlier, the same key', { customer: stored(A), partnerKey: key('PARTNER_A'), keyReferrer: A }, 'partner_key', 'PARTNER_A', false],
    ['a customer linked by a referral link, no key: held', { customer: viaLink(A) }, 'referral_link', 'PARTNER_A', true],
    ['a customer linked by a referral link, another key: the link stands (customer-based)', { customer: viaLink(A), partnerKey: key('PARTNER_B'), keyReferrer: B }, 'referral_link', 'PARTNER_A', true],
    ['transaction-based: the key outranks the referral link', { model: 'transaction', customer: viaLink(A), partnerKey: key('PARTNER_B'), keyReferrer: B }, 'partner_key', 'PARTNER_B', false],
    ['transaction-based, no key: the referral link', { model: 'transaction', customer: viaLink(A) }, 'referral_link', 'PARTNER_A', true],
    ['transaction-based, an unknown key: the customer link', { model: 'transaction', customer: stored(A), partnerKey: key('GHOST') }, 'customer_link', 'PARTNER_A', false],
    ['nobody: no key, no link', { customer: stored(null) }, 'none', null, false],
    ['nobody: an unknown key, a new customer', { partnerKey: key('GHOST') }, 'none', null, false],
  ])('%s', (_label, input, decidedBy, credited, hold) => {
    const a = attribute(facts(input));
    expect(a.explanation.decided_by).toBe(decidedBy);
    expect(a.credited?.key ?? null).toBe(credited);
    expect(a.hold).toBe(hold);
  });
});

describe('finding a payer signed up through po.js', () => {
  const row = (over: Partial<CustomerRow>): CustomerRow => ({
    id: over.key ?? 'x',
    programId: 'p',
    key: 'x',
    emailLower: null,
    gateway: null,
    gatewayCustomerId: null,
    perPartner: false,
    fromBrowser: false,
    deleted: false,
    archived: false,
    createdAt: 0,
    seq: 0,
    firstPaymentAt: null,
    referrer: null,
    fresh: null,
    touched: false,
    linkedNow: false,
    ...over,
  });
  const store = new CustomerStore();
  store.add(row({ key: 'acct_1', emailLower: 'ann@example.com', fromBrowser: true, referrer: A, linkedBy: 'referral_link' }));
  store.add(row({ key: 'ctm_77', fromBrowser: true, referrer: A, linkedBy: 'referral_link' }));
  store.add(row({ key: 'cus_9', gateway: 'stripe', gatewayCustomerId: 'cus_9', seq: 1 }));

  it.each<[string, { key?: string; gatewayId?: string; email?: string }, string, string | null]>([
    ['by the key the payment names', { key: 'acct_1', gatewayId: 'cus_new', email: 'ann@example.com' }, 'paddle', 'acct_1'],
    ["by the gateway's customer id it signed up under", { gatewayId: 'ctm_77' }, 'paddle', 'ctm_77'],
    ['the key first, then the gateway id as a key', { key: 'acct_other', gatewayId: 'ctm_77' }, 'paddle', 'ctm_77'],
    ['never by email', { key: 'acct_other', email: 'ANN@example.com' }, 'stripe', null],
    ['a record with its gateway is found by gateway id, as before', { gatewayId: 'cus_9' }, 'stripe', 'cus_9'],
  ])('%s', (_label, who, gateway, expected) => {
    expect(store.find('p', gateway, who, false)?.row.key ?? null).toBe(expected);
  });

  it("learns the gateway's customer id of its first payment, once, so renewals naming only that id find it", () => {
    const own = new CustomerStore();
    const signedUp = row({ key: 'acct_2', fromBrowser: true, referrer: A, linkedBy: 'referral_link' });
    own.add(signedUp);
    expect(own.find('p', 'stripe', { gatewayId: 'cus_2' }, false)).toBe(null);
    expect(own.adoptGateway(signedUp, 'stripe', 'cus_2')).toBe(true);
    expect(own.find('p', 'stripe', { gatewayId: 'cus_2' }, false)).toMatchObject({ row: { key: 'acct_2' }, matchedBy: 'gateway_id' });
    expect(own.adoptGateway(signedUp, 'stripe', 'cus_other')).toBe(false);
    expect(own.find('p', 'stripe', { gatewayId: 'cus_other' }, false)).toBe(null);
  });
});
