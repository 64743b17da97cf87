// Attribution and commission as the worker applies them, against a real PostgreSQL.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { customers } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { count, createPartner, createProgram, payment, stored } from '../support/ledger.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('customer-based attribution (the default model)', () => {
  it('links a new customer to the partner its key names, for good', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'PARTNER_A');
    await createPartner(t.db, program.id, 'PARTNER_B');
    const first = payment({ partnerKey: { value: 'PARTNER_A', place: 'stripe_charge_metadata' } });
    const second = payment({ partnerKey: { value: 'PARTNER_B', place: 'stripe_charge_metadata' } });
    const third = payment({});
    await applyEvents(t.db, program, [first]);
    await applyEvents(t.db, program, [second]);
    await applyEvents(t.db, program, [third]);

    for (const e of [first, second, third]) {
      const s = await stored(t.db, program.id, e.transactionKey);
      expect(s?.partnerKey).toBe('PARTNER_A');
      expect(s?.customerKey).toBe('cus_123');
      expect(s?.rewards.map((r) => [r.amount, r.units, r.status])).toEqual([['29.997', 'USD', 'ok']]);
    }
    const later = await stored(t.db, program.id, second.transactionKey);
    expect(later?.attribution).toMatchObject({
      model: 'customer',
      path: 'customer',
      customer_match: 'gateway_id',
      ignored_partner_key: 'PARTNER_B',
      credited: { kind: 'partner', key: 'PARTNER_A' },
      partner_key_place: 'stripe_charge_metadata',
    });
    expect(await count(t.db, customers, program.id)).toBe(1);
  });

  it('records a payment from a customer with no partner, with no reward and the reason', async () => {
    const program = await createProgram(t.db);
    const e = payment({ customer: { id: 'cus_organic' } });
    const [outcome] = await applyEvents(t.db, program, [e]);
    expect(outcome).toMatchObject({ kind: 'payment', result: 'created', rewards: 0, reason: 'no_partner' });
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.rewards).toEqual([]);
    expect(s?.partnerId).toBeNull();
    expect(s?.attribution).toMatchObject({ reward_reason: 'no_partner', partner_key: null, customer_match: 'created' });
  });

  it('an unknown partner key creates the customer unlinked', async () => {
    const program = await createProgram(t.db);
    const e = payment({ customer: { id: 'cus_x' }, partnerKey: { value: 'NOBODY', place: 'stripe_charge_metadata' } });
    await applyEvents(t.db, program, [e]);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.rewards).toEqual([]);
    expect(s?.attribution).toMatchObject({ partner_key: 'NOBODY', credited: null, reward_reason: 'no_partner' });
  });

  it('matches a stored customer by gateway id, else by email case-insensitively', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    await applyEvents(t.db, program, [
      payment({ customer: { id: 'cus_m', email: 'Mixed.Case@Example.com' }, partnerKey: { value: 'P1', place: 'stripe_customer_metadata' } }),
    ]);
    const byEmail = payment({ gateway: 'paddle', customer: { id: 'ctm_other', email: 'mixed.case@example.COM' } });
    await applyEvents(t.db, program, [byEmail]);
    const s = await stored(t.db, program.id, byEmail.transactionKey);
    expect(s?.customerKey).toBe('cus_m');
    expect(s?.partnerKey).toBe('P1');
    expect(s?.attribution).toMatchObject({ customer_match: 'email' });
  });

  it('a guest with neither id nor email gets a customer keyed by the payment', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const e = payment({ customer: {}, partnerKey: { value: 'P1', place: 'woocommerce_meta_data' } });
    await applyEvents(t.db, program, [e]);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.customerKey).toBe(`guest_${e.transactionKey}`);
    expect(s?.partnerKey).toBe('P1');
  });

  it('without create_customer an unknown payer is recorded against nobody, with the reason', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const e = payment({ gateway: 'api', customer: { key: 'nobody-yet' }, createCustomer: false });
    await applyEvents(t.db, program, [e]);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.customerId).toBeNull();
    expect(s?.rewards).toEqual([]);
    expect(s?.attribution).toMatchObject({ customer_match: 'none', reward_reason: 'no_partner' });
  });

  it('rewardable: false records the sale and pays nothing', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const e = payment({ customer: { id: 'cus_nr' }, rewardable: false, partnerKey: { value: 'P1', place: 'api_partner' } });
    await applyEvents(t.db, program, [e]);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.partnerKey).toBe('P1');
    expect(s?.rewards).toEqual([]);
    expect(s?.attribution).toMatchObject({ reward_reason: 'not_rewardable' });
  });

  it('a Chargebee referral code names the partner that owns it', async () => {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'ptn_nova_22bd', { referralCode: 'NOVA-22BD' });
    const e = payment({ gateway: 'chargebee', customer: { id: 'cb_1' }, partnerKey: { value: 'NOVA-22BD', place: 'chargebee_cf_referral_code' } });
    await applyEvents(t.db, program, [e]);
    expect((await stored(t.db, program.id, e.transactionKey))?.partnerKey).toBe('ptn_nova_22bd');
  });
});

describe('transaction-based attribution', () => {
  it("the seeds' worked example: cus_123 pays with PARTNER_A, PARTNER_B, PARTNER_A", async () => {
    const program = await createProgram(t.db, { attributionModel: 'transaction' });
    await createPartner(t.db, program.id, 'PARTNER_A');
    await createPartner(t.db, program.id, 'PARTNER_B');
    const charges = ['PARTNER_A', 'PARTNER_B', 'PARTNER_A'].map((key) =>
      payment({ customer: { id: 'cus_123' }, partnerKey: { value: key, place: 'stripe_charge_metadata' } }),
    );
    for (const c of charges) await applyEvents(t.db, program, [c]);

    const rows = await Promise.all(charges.map((c) => stored(t.db, program.id, c.transactionKey)));
    expect(rows.map((r) => r?.partnerKey)).toEqual(['PARTNER_A', 'PARTNER_B', 'PARTNER_A']);
    // named as the seed names them: the gateway, the customer id, the partner
    expect(rows.map((r) => r?.customerKey)).toEqual([
      'stripe_cus_123__pkey_PARTNER_A',
      'stripe_cus_123__pkey_PARTNER_B',
      'stripe_cus_123__pkey_PARTNER_A',
    ]);
    expect(rows.map((r) => r?.rewards[0]?.amount)).toEqual(['29.997', '29.997', '29.997']);
    const records = await t.db.select().from(customers).where(eq(customers.programId, program.id));
    expect(records.map((c) => c.key).sort()).toEqual(['stripe_cus_123__pkey_PARTNER_A', 'stripe_cus_123__pkey_PARTNER_B']);
    expect(records.every((c) => c.perPartner)).toBe(true);
    expect(rows[2]?.attribution).toMatchObject({ path: 'transaction', customer_match: 'per_partner_record' });
  });

  it('no key and an unknown key fall back to customer-based attribution', async () => {
    const program = await createProgram(t.db, { attributionModel: 'transaction' });
    await createPartner(t.db, program.id, 'PARTNER_A');
    await applyEvents(t.db, program, [payment({ customer: { id: 'cus_fb' } })]);
    const noKey = payment({ customer: { id: 'cus_fb' } });
    const badKey = payment({ customer: { id: 'cus_fb' }, partnerKey: { value: 'GHOST', place: 'stripe_charge_metadata' } });
    await applyEvents(t.db, program, [noKey]);
    await applyEvents(t.db, program, [badKey]);
    expect((await stored(t.db, program.id, noKey.transactionKey))?.attribution).toMatchObject({
      path: 'customer',
      fallback: 'no_partner_key',
    });
    expect((await stored(t.db, program.id, badKey.transactionKey))?.attribution).toMatchObject({
      path: 'customer',
      fallback: 'unknown_partner_key',
      partner_key: 'GHOST',
    });

    // transaction-based payments create only per-partner records: the plain payer stays unlinked
    const p2 = await createProgram(t.db, { attributionModel: 'transaction' });
    await createPartner(t.db, p2.id, 'PARTNER_A');
    await applyEvents(t.db, p2, [payment({ customer: { id: 'cus_l' }, partnerKey: { value: 'PARTNER_A', place: 'stripe_charge_metadata' } })]);
    const fallback = payment({ customer: { id: 'cus_l' } });
    await applyEvents(t.db, p2, [fallback]);
    expect((await stored(t.db, p2.id, fallback.transactionKey))?.partnerKey).toBeNull();
  });

  it('settings change only new events', async () => {
    const program = await createProgram(t.db, { commission: { value: '10' } });
    await createPartner(t.db, program.id, 'P1');
    const before = payment({ customer: { id: 'cus_s' }, partnerKey: { value: 'P1', place: 'api_partner' } });
    await applyEvents(t.db, program, [before]);
    const changed = { ...program, commission: { ...program.commission, value: '50' } };
    const after = payment({ customer: { id: 'cus_s' } });
    await applyEvents(t.db, changed, [after]);
    expect((await stored(t.db, program.id, before.transactionKey))?.rewards[0]?.amount).toBe('9.999');
    expect((await stored(t.db, program.id, after.transactionKey))?.rewards[0]?.amount).toBe('49.995');
  });
});

describe('commission rules as stored', () => {
  it('product rules, fixed amounts in the program currency, lifetime and review period', async () => {
    const program = await createProgram(t.db, {
      currency: 'EUR',
      reviewPeriodDays: 30,
      commission: {
        type: 'percent',
        value: '20',
        rules: [
          { product_type: 'year', type: 'fixed', value: '50' },
          { product_id: 'prod_pro', type: 'percent', value: '40' },
        ],
        lifetime: { kind: 'first' },
      },
    });
    await createPartner(t.db, program.id, 'P1');
    const yearly = payment({
      customer: { id: 'cus_r1' },
      occurredAt: new Date().toISOString(),
      amount: { minor: '5000', currency: 'JPY' },
      product: { type: 'year' },
      partnerKey: { value: 'P1', place: 'api_partner' },
    });
    await applyEvents(t.db, program, [yearly]);
    const s = await stored(t.db, program.id, yearly.transactionKey);
    expect(s?.amountMinor).toBe(5000n);
    expect(s?.currency).toBe('JPY');
    expect(s?.rewards.map((r) => [r.amount, r.units, r.status])).toEqual([['50', 'EUR', 'review_period']]);
    expect(s?.rewards[0]?.basis).toEqual({ type: 'fixed', value: '50', rule: 0 });

    const second = payment({ customer: { id: 'cus_r1' }, occurredAt: new Date().toISOString(), product: { id: 'prod_pro' } });
    await applyEvents(t.db, program, [second]);
    expect((await stored(t.db, program.id, second.transactionKey))?.attribution).toMatchObject({
      reward_reason: 'lifetime_first_only',
    });
  });

  it('non-monetary programs reward in their unit', async () => {
    const program = await createProgram(t.db, { currency: 'points', isCurrency: false, commission: { type: 'percent', value: '10' } });
    await createPartner(t.db, program.id, 'P1');
    const e = payment({ customer: { id: 'cus_pts' }, amount: { minor: '4900', currency: 'USD' }, partnerKey: { value: 'P1', place: 'api_partner' } });
    await applyEvents(t.db, program, [e]);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.rewards.map((r) => [r.amount, r.units, r.isCurrency])).toEqual([['4.9', 'points', false]]);
  });
});

describe('refer-a-friend programs', () => {
  it('the referring customer plays the partner', async () => {
    const program = await createProgram(t.db, { type: 'refer_a_friend' });
    const referrer = payment({ gateway: 'api', customer: { key: 'friend-1', email: 'friend@example.com' } });
    await applyEvents(t.db, program, [referrer]);
    const referred = payment({ customer: { id: 'cus_new' }, partnerKey: { value: 'friend-1', place: 'api_customer_partner' } });
    await applyEvents(t.db, program, [referred]);
    const s = await stored(t.db, program.id, referred.transactionKey);
    expect(s?.customerKey).toBe('cus_new');
    expect(s?.partnerId).toBeNull();
    expect(s?.attribution).toMatchObject({ credited: { kind: 'customer', key: 'friend-1' } });
    const [friend] = await t.db.select().from(customers).where(eq(customers.key, 'friend-1'));
    expect(s?.rewards.map((r) => [r.customerId, r.amount])).toEqual([[friend!.id, '29.997']]);
  });
});
