import { describe, expect, it } from 'vitest';
import { attribute, perPartnerBases, type AttributionFacts, type Referrer, type StoredCustomer } from '../../src/core/attribution.js';

const A: Referrer = { kind: 'partner', id: 'pa', key: 'PARTNER_A' };
const B: Referrer = { kind: 'partner', id: 'pb', key: 'PARTNER_B' };
const known = (referrer: Referrer | null, fromBrowser = false): StoredCustomer & { matchedBy: 'gateway_id' } => ({
  id: 'c1',
  key: 'cus_123',
  referrer,
  firstPaymentAt: null,
  fromBrowser,
  matchedBy: 'gateway_id',
});
const facts = (f: Partial<AttributionFacts>): AttributionFacts => ({
  model: 'customer',
  partnerKey: null,
  keyReferrer: null,
  baseCustomerKey: 'cus_123',
  customer: null,
  perPartnerCustomer: null,
  createCustomer: true,
  fromBrowser: false,
  ...f,
});
const key = (value: string) => ({ value, place: 'stripe_charge_metadata' as const });

describe('attribute', () => {
  it.each<[string, Partial<AttributionFacts>, { action: string; credited: string | null; match: string; fallback?: string | null; hold?: boolean; linked?: string | null }]>([
    ['customer model, new customer with a known key: created and linked', { partnerKey: key('PARTNER_A'), keyReferrer: A }, { action: 'create', credited: 'PARTNER_A', match: 'created' }],
    ['customer model, new customer without a key: created unlinked', {}, { action: 'create', credited: null, match: 'created' }],
    ['customer model, new customer with an unknown key: created unlinked', { partnerKey: key('X') }, { action: 'create', credited: null, match: 'created' }],
    ['customer model, linked customer: its partner, whatever the key says', { customer: known(A), partnerKey: key('PARTNER_B'), keyReferrer: B }, { action: 'use', credited: 'PARTNER_A', match: 'gateway_id' }],
    ['customer model, known unlinked customer: a key naming a partner links it now', { customer: known(null), partnerKey: key('PARTNER_A'), keyReferrer: A }, { action: 'link', credited: 'PARTNER_A', match: 'gateway_id' }],
    ['customer model, known unlinked customer: a key naming nobody leaves it unlinked', { customer: known(null), partnerKey: key('GHOST') }, { action: 'use', credited: null, match: 'gateway_id' }],
    ['transaction model, known unlinked customer and a known key: a per-partner record, the customer left unlinked', { model: 'transaction', customer: known(null), partnerKey: key('PARTNER_A'), keyReferrer: A }, { action: 'create', credited: 'PARTNER_A', match: 'created' }],
    ['customer model, unknown payer and create_customer off: nobody', { createCustomer: false, partnerKey: key('PARTNER_A'), keyReferrer: A }, { action: 'none', credited: null, match: 'none' }],
    ['transaction model, known key: per-partner record created', { model: 'transaction', partnerKey: key('PARTNER_B'), keyReferrer: B, customer: known(A) }, { action: 'create', credited: 'PARTNER_B', match: 'created' }],
    ['transaction model, known key and existing record: reused', { model: 'transaction', partnerKey: key('PARTNER_A'), keyReferrer: A, perPartnerCustomer: { id: 'pp', key: 'cus_123__pkey_PARTNER_A', referrer: A, firstPaymentAt: null, fromBrowser: false } }, { action: 'use', credited: 'PARTNER_A', match: 'per_partner_record' }],
    ['transaction model, no key: customer-based fallback', { model: 'transaction', customer: known(A) }, { action: 'use', credited: 'PARTNER_A', match: 'gateway_id', fallback: 'no_partner_key' }],
    ['transaction model, unknown key: customer-based fallback', { model: 'transaction', partnerKey: key('GHOST'), customer: known(A) }, { action: 'use', credited: 'PARTNER_A', match: 'gateway_id', fallback: 'unknown_partner_key' }],
    ['browser, new customer with a known key: the sale credited, the customer created unlinked', { fromBrowser: true, partnerKey: key('PARTNER_A'), keyReferrer: A }, { action: 'create', credited: 'PARTNER_A', match: 'created', linked: null }],
    ['browser, unlinked customer: the key does not link it', { fromBrowser: true, customer: known(null), partnerKey: key('PARTNER_B'), keyReferrer: B }, { action: 'use', credited: null, match: 'gateway_id' }],
    ['browser, transaction model, existing customer: the key makes no per-partner record', { fromBrowser: true, model: 'transaction', customer: known(A), partnerKey: key('PARTNER_B'), keyReferrer: B }, { action: 'use', credited: 'PARTNER_A', match: 'gateway_id', fallback: 'browser_reported' }],
    ['browser, transaction model, new customer: per-partner record created', { fromBrowser: true, model: 'transaction', partnerKey: key('PARTNER_B'), keyReferrer: B }, { action: 'create', credited: 'PARTNER_B', match: 'created' }],
    ['a customer a browser created: its link credits, held for review', { customer: known(A, true) }, { action: 'use', credited: 'PARTNER_A', match: 'gateway_id', hold: true }],
    ['transaction model, a key on the payment itself: not held even for a browser-made record', { model: 'transaction', partnerKey: key('PARTNER_A'), keyReferrer: A, customer: known(B, true) }, { action: 'create', credited: 'PARTNER_A', match: 'created' }],
  ])('%s', (_label, input, expected) => {
    const a = attribute(facts(input));
    if (expected.linked !== undefined) expect(a.customer.action === 'create' ? (a.customer.referrer?.key ?? null) : 'not created').toBe(expected.linked);
    expect(a.customer.action).toBe(expected.action);
    expect(a.credited?.key ?? null).toBe(expected.credited);
    expect(a.explanation.customer_match).toBe(expected.match);
    expect(a.explanation.fallback).toBe(expected.fallback ?? null);
    expect(a.hold).toBe(expected.hold ?? false);
    // the step that decided: nobody, the key when it names who is credited, else the customer's link
    const byKey = a.credited && input.keyReferrer?.key === a.credited.key;
    expect(a.explanation.decided_by).toBe(!a.credited ? 'none' : byKey ? 'partner_key' : 'customer_link');
  });

  it('names the per-partner record {customer_id}__pkey_{partner_key}', () => {
    const a = attribute(facts({ model: 'transaction', partnerKey: key('PARTNER_A'), keyReferrer: A }));
    expect(a.customer).toEqual({ action: 'create', key: 'cus_123__pkey_PARTNER_A', perPartner: true, referrer: A });
    const b = attribute(facts({ model: 'transaction', partnerKey: key('PARTNER_A'), keyReferrer: A, perPartnerBaseKey: 'stripe_cus_123' }));
    expect(b.customer).toEqual({ action: 'create', key: 'stripe_cus_123__pkey_PARTNER_A', perPartner: true, referrer: A });
  });

  it("a gateway's customer is based on {gateway}_{id}, with the bare id as the older name; a keyed one on its key", () => {
    expect(perPartnerBases({ gatewayId: 'cus_123' }, 'stripe', 'cus_123')).toEqual({ base: 'stripe_cus_123', older: 'cus_123' });
    expect(perPartnerBases({ gatewayId: '42' }, 'woocommerce', '42')).toEqual({ base: 'woocommerce_42', older: '42' });
    expect(perPartnerBases({ key: 'customer_123', gatewayId: 'cus_9' }, 'stripe', 'customer_123')).toEqual({ base: 'customer_123', older: null });
    expect(perPartnerBases({}, 'api', 'buyer@example.com')).toEqual({ base: 'buyer@example.com', older: null });
  });
});

describe('attribute: a promotion code a partner owns, after the partner key', () => {
  const coupon = { code: 'ALICE20', referrer: A };
  it.each<[string, Partial<AttributionFacts>, { credited: string | null; decided: string; place: string | null; ignored?: string | null; action: string }]>([
    ['no key: the code credits its partner, the new customer linked to it', { coupon }, { credited: 'PARTNER_A', decided: 'coupon', place: 'coupon', action: 'create' }],
    ['a key naming a partner beats the code', { coupon, partnerKey: key('PARTNER_B'), keyReferrer: B }, { credited: 'PARTNER_B', decided: 'partner_key', place: 'stripe_charge_metadata', action: 'create' }],
    ['a key naming nobody: the code decides, the key is said ignored', { coupon, partnerKey: key('GHOST') }, { credited: 'PARTNER_A', decided: 'coupon', place: 'coupon', ignored: 'GHOST', action: 'create' }],
    ["customer model: the customer's existing link outranks the code, as it outranks a key", { coupon, customer: known(B) }, { credited: 'PARTNER_B', decided: 'customer_link', place: 'coupon', action: 'use' }],
    ['customer model: an unlinked customer is linked by the code', { coupon, customer: known(null) }, { credited: 'PARTNER_A', decided: 'coupon', place: 'coupon', action: 'link' }],
    ["transaction model: the code credits its partner through a per-partner record, whatever the customer's link", { model: 'transaction', coupon, customer: known(B) }, { credited: 'PARTNER_A', decided: 'coupon', place: 'coupon', action: 'create' }],
    ['no code and no key: nobody', {}, { credited: null, decided: 'none', place: null, action: 'create' }],
  ])('%s', (_label, input, expected) => {
    const a = attribute(facts(input));
    expect(a.customer.action).toBe(expected.action);
    expect(a.credited?.key ?? null).toBe(expected.credited);
    expect(a.explanation.decided_by).toBe(expected.decided);
    expect(a.explanation.partner_key_place).toBe(expected.place);
    expect(a.explanation.ignored_partner_key).toBe(expected.ignored ?? null);
    expect(a.explanation.coupon).toBe(input.coupon ? 'ALICE20' : null);
  });

  it('names the per-partner record after the coupon partner and reuses it', () => {
    const made = attribute(facts({ model: 'transaction', coupon: { code: 'ALICE20', referrer: A } }));
    expect(made.customer).toEqual({ action: 'create', key: 'cus_123__pkey_PARTNER_A', perPartner: true, referrer: A });
    const record = { id: 'pp', key: 'cus_123__pkey_PARTNER_A', referrer: A, firstPaymentAt: null, fromBrowser: false };
    const reused = attribute(facts({ model: 'transaction', coupon: { code: 'ALICE20', referrer: A }, couponPerPartnerCustomer: record }));
    expect(reused.customer).toEqual({ action: 'use', customer: record });
  });
});
