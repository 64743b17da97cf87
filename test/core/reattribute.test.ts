// The pure re-attribution rules: which stored payments a partner is credited with, through which
// customer record, with which reward; and lookups that were not configured, done again.
import { describe, expect, it } from 'vitest';
import { CapSettings, DEFAULT_COMMISSION, FraudSettings, type ProgramRules } from '../../src/core/program.js';
import { emptyStats } from '../../src/core/limits.js';
import { lookupOf, namesPartner, planReattribution, redoLookups, rewardTotals, type ReCustomer, type StoredPayment } from '../../src/core/reattribute.js';

const program = (model: 'customer' | 'transaction', lifetime: ProgramRules['commission']['lifetime'] = { kind: 'all' }): ProgramRules => ({
  id: 'p',
  type: 'affiliate',
  attributionModel: model,
  currency: 'USD',
  isCurrency: true,
  reviewPeriodDays: 0,
  commission: { ...DEFAULT_COMMISSION, lifetime },
  fraud: FraudSettings.parse({}),
  caps: CapSettings.parse({}),
});
const partner = { kind: 'partner' as const, id: 'pa', key: 'PA', archived: false, email: 'pa@example.com', referralCode: 'CODE_A' };
const customer = (over: Partial<ReCustomer> = {}): ReCustomer => ({
  id: 'c1',
  key: 'cus_1',
  emailLower: 'buyer@example.com',
  gateway: 'stripe',
  gatewayCustomerId: 'cus_1',
  perPartner: false,
  fromBrowser: false,
  deleted: false,
  archived: false,
  firstPaymentAt: new Date('2026-10-01T00:00:00Z'),
  referrer: null,
  ...over,
});
let n = 0;
const payment = (over: Partial<StoredPayment> = {}, record: Record<string, unknown> = {}): StoredPayment => ({
  id: String(++n),
  key: `pi_${n}`,
  occurredAt: new Date('2026-10-01T00:00:00Z'),
  amountMinor: 10000n,
  refundedMinor: 0n,
  currency: 'USD',
  isCurrency: true,
  gateway: 'stripe',
  action: 'sale',
  disputeOpen: false,
  customerId: 'c1',
  attribution: { model: 'customer', partner_key: 'PA', partner_key_place: 'stripe_payment_intent_metadata', customer_match: 'created', credited: null, ignored_partner_key: 'PA', event_type: 'payment_intent.succeeded', ...record },
  ...over,
});
const plan = (p: ProgramRules, payments: StoredPayment[], customers: ReCustomer[]) => {
  let id = 0;
  return planReattribution({ program: p, partner, payments, customers, stats: emptyStats(), now: new Date('2026-11-01T00:00:00Z'), newId: () => `new${++id}` });
};

describe('planReattribution', () => {
  it('customer-based: links the customer, credits each payment oldest first, the lifetime counted from its first payment', () => {
    const later = payment({ occurredAt: new Date('2026-10-05T00:00:00Z') });
    const first = payment();
    const r = plan(program('customer', { kind: 'first' }), [later, first], [customer()]);
    expect(r.items.map((i) => [i.payment.key, i.result, i.reason, i.reward?.keptAmount ?? null])).toEqual([
      [first.key, 'credited', null, '20'],
      [later.key, 'credited', 'lifetime_first_only', null],
    ]);
    expect(r.linked.map((c) => c.key)).toEqual(['cus_1']);
    expect(r.items[0]!.attribution).toMatchObject({ customer_match: 'gateway_id', credited: { kind: 'partner', key: 'PA' }, ignored_partner_key: null, reattributed_at: '2026-11-01T00:00:00.000Z' });
    expect(r.outbox.map((o) => o.event)).toEqual(['customer.updated', 'transaction.created', 'transaction.created']);
  });

  it('transaction-based: through a per-partner record named with the gateway, created once', () => {
    const r = plan(program('transaction'), [payment(), payment({ occurredAt: new Date('2026-10-02T00:00:00Z') })], [customer()]);
    expect(r.created.map((c) => [c.key, c.perPartner, c.referrer?.key])).toEqual([['stripe_cus_1__pkey_PA', true, 'PA']]);
    expect(r.items.map((i) => [i.customerKey, i.attribution?.customer_match])).toEqual([
      ['stripe_cus_1__pkey_PA', 'created'],
      ['stripe_cus_1__pkey_PA', 'per_partner_record'],
    ]);
  });

  it('a partial refund takes its share; an open dispute holds the reward', () => {
    const r = plan(program('customer'), [payment({ refundedMinor: 2500n, disputeOpen: true })], [customer()]);
    expect(r.items[0]!.reward).toMatchObject({ amount: '20', keptAmount: '15', status: 'review_period', heldFromStatus: 'ok' });
    expect(rewardTotals(r.items)).toEqual({ USD: '15' });
  });

  it('skips what a booking now would not credit to this partner', () => {
    const r = plan(
      program('customer'),
      [
        payment({ customerId: 'c2' }),
        payment({ gateway: 'api' }),
        payment({}, { partner_key: 'OTHER' }),
        payment({ customerId: 'gone' }),
        payment({ customerId: 'c3' }),
      ],
      [customer(), customer({ id: 'c2', key: 'cus_2', referrer: { kind: 'partner', id: 'pb', key: 'PB' } }), customer({ id: 'c3', key: 'cus_3', deleted: true })],
    );
    expect(r.items.map((i) => i.reason)).toEqual(['customer_linked_elsewhere', 'not_a_gateway_payment', 'not_named', 'no_customer', 'customer_deleted']);
    expect(r.items.every((i) => i.result === 'skipped')).toBe(true);
    expect(r.outbox).toEqual([]);
  });
});

describe('naming and lookups', () => {
  it.each([
    [{ partner_key: 'PA' }, true],
    [{ partner_key: 'CODE_A', partner_key_place: 'chargebee_cf_referral_code' }, true],
    [{ partner_key: 'CODE_A', partner_key_place: 'stripe_charge_metadata' }, false],
    [{ partner_key: null }, false],
  ])('namesPartner(%o) = %s', (record, named) => expect(namesPartner(record, partner)).toBe(named));

  it('the lookup a stored trace entry stands for', () => {
    expect(lookupOf('stripe', { place: 'stripe_subscription_metadata', id: 'in_1', result: 'not_configured' })).toMatchObject({ object: 'invoice' });
    expect(lookupOf('stripe', { place: 'stripe_subscription_metadata', id: 'sub_1', result: 'not_configured' })).toMatchObject({ object: 'subscription' });
    expect(lookupOf('paddle', { place: 'paddle_subscription_custom_data', id: 'sub_1', result: 'not_configured' })).toMatchObject({ gateway: 'paddle', object: 'subscription' });
    expect(lookupOf('chargebee', { place: 'chargebee_cf_referral_code', id: 'c', result: 'not_configured' })).toMatchObject({ object: 'customer' });
    expect(lookupOf('stripe', { place: 'payment_key', id: 'in_1', result: 'not_configured' })).toBeNull();
  });

  it('does the skipped lookups, in order, the first key found being the payment\'s', async () => {
    const asked: string[] = [];
    const r = await redoLookups(
      'paddle',
      [
        { place: 'paddle_subscription_custom_data', id: 'sub_1', result: 'not_configured' },
        { place: 'paddle_transaction_custom_data', id: 'ctm_1', result: 'not_configured' },
      ],
      async (l) => {
        asked.push(`${l.object} ${l.id}`);
        return l.object === 'subscription' ? { partnerKey: 'PA' } : { email: 'x@example.com' };
      },
    );
    expect(asked).toEqual(['subscription sub_1', 'customer ctm_1']);
    expect(r).toEqual({
      partnerKey: { value: 'PA', place: 'paddle_subscription_custom_data' },
      stillNotConfigured: false,
      trace: [
        { place: 'paddle_subscription_custom_data', id: 'sub_1', result: 'found' },
        { place: 'paddle_transaction_custom_data', id: 'ctm_1', result: 'no_key' },
      ],
    });
    const unset = await redoLookups('paddle', [{ place: 'paddle_subscription_custom_data', id: 'sub_1', result: 'not_configured' }], async () => undefined);
    expect(unset).toMatchObject({ partnerKey: null, stillNotConfigured: true, trace: [{ result: 'not_configured' }] });
  });
});
