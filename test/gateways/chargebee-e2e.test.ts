// Chargebee webhooks end to end: HTTP Basic deliveries → inbox → queue → worker (with the real
// chargebee SDK talking to a local fake of the Chargebee API) → transactions and rewards in PostgreSQL.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayE2eContract } from '../gateway-e2e-contract.js';
import { fakeChargebeeApi } from '../support/fake-chargebee-api.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const USER = 'cb_hooks';
const PASSWORD = 'e2e-pass:with-colon';
const API_KEY = 'test_cb_e2e_key';
const customers = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

const basic = (user = USER, password = PASSWORD) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const deliver = (body: Buffer, headers: Record<string, string> = basic(), path = '/webhooks/chargebee') => svc.post(path, body, headers);
const eventId = (body: Buffer) => (JSON.parse(body.toString()) as { id: string }).id;
const FIXTURE_CUSTOMERS = ['AzyvQ1Uq7Xk1Ab2', 'BTkLp3Vr9Yw2Cd4', 'CjpYq4Ws2Tb8Hn5', 'DnoCf5Xt3Vc9Pq1'];

/** A fixture with its event, transaction, invoice, credit note and customer ids (and emails) made unique. */
function variant(name: string, s: string, change?: (e: any) => void): Buffer { // eslint-disable-line @typescript-eslint/no-explicit-any
  const ids = new RegExp(`"((?:ev|txn)_[A-Za-z0-9]{8,}|(?:INV|CN)-[0-9-]+|${FIXTURE_CUSTOMERS.join('|')})"`, 'g');
  const text = fixture('chargebee', name)
    .toString('utf8')
    .replace(ids, (_m, id: string) => `"${id}${s}"`)
    .replace(/"([^"@\s]+)@(example\.(?:com|org))"/g, (_m, local: string, domain: string) => `"${local}+${s}@${domain}"`);
  const event = JSON.parse(text);
  change?.(event);
  return Buffer.from(JSON.stringify(event));
}
const suffix = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;

async function deliverAndSettle(body: Buffer) {
  const res = await deliver(body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await svc.settled('chargebee', eventId(body));
  expect(row.status, row.lastError ?? '').not.toBe('failed');
  return row;
}

beforeAll(async () => {
  api = await fakeChargebeeApi(customers).start();
  svc = await startTestService({
    CHARGEBEE_WEBHOOK_USERNAME: USER,
    CHARGEBEE_WEBHOOK_PASSWORD: PASSWORD,
    CHARGEBEE_SITE: 'acme-test',
    CHARGEBEE_API_KEY: API_KEY,
    CHARGEBEE_API_BASE: api.url,
  });
  for (const key of ['ptn_orbit_7f3k', 'ptn_lumen_5e0a', 'ptn_seoul_91ac']) await createPartner(svc.db.db, svc.programId, key);
  await createPartner(svc.db.db, svc.programId, 'ptn_nova_22bd', { referralCode: 'NOVA-22BD' });
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('Chargebee webhooks, end to end', () => {
  it('a payment with cf_partnero_partner credits that partner 20%', async () => {
    const s = suffix('p');
    expect(await deliverAndSettle(variant('payment_succeeded.cf_partnero_partner.json', s))).toMatchObject({ status: 'processed', lastError: null });
    const t = await stored(svc.db.db, svc.programId, `txn_AzyvQ1Uq8Mn4Cd6${s}`);
    expect(t).toMatchObject({
      gateway: 'chargebee',
      amountMinor: 4900n,
      currency: 'USD',
      taxMinor: 0n,
      productId: 'growth-plan-USD-Monthly',
      productType: 'plan_item_price',
      partnerKey: 'ptn_orbit_7f3k',
      customerKey: `AzyvQ1Uq7Xk1Ab2${s}`,
      details: { invoice_id: `INV-2025-00871${s}`, subscription_id: 'AzyvQ1Uq7XkSub9' },
    });
    expect(t?.attribution).toMatchObject({ partner_key: 'ptn_orbit_7f3k', partner_key_place: 'chargebee_cf_partnero_partner', lookups: [] });
    expect(t?.rewards.map((r) => [r.amount, r.status])).toEqual([['9.8', 'ok']]);
  });

  it('a payment with cf_referral_code credits the partner owning that code', async () => {
    const s = suffix('c');
    await deliverAndSettle(variant('payment_succeeded.cf_referral_code.json', s));
    const t = await stored(svc.db.db, svc.programId, `txn_BTkLp3Vr0Zx5Ef7${s}`);
    expect(t).toMatchObject({ amountMinor: 9900n, partnerKey: 'ptn_nova_22bd' });
    expect(t?.attribution).toMatchObject({ partner_key: 'NOVA-22BD', partner_key_place: 'chargebee_cf_referral_code' });
    expect(t?.rewards.map((r) => r.amount)).toEqual(['19.8']);
  });

  // Known ledger bug (src/db/ledger.ts referrerByKey): `order by referral_code = key desc` sorts the
  // NULL of a partner without a referral code first, so a partner *keyed* like the code wins.
  // This documents it; drop `.fails` once the ordering is `... desc nulls last`.
  it('a referral code names the partner owning it even when another partner is keyed by the same text', async () => {
    await createPartner(svc.db.db, svc.programId, 'ptn_vega_77aa', { referralCode: 'VEGA-77AA' });
    await createPartner(svc.db.db, svc.programId, 'VEGA-77AA');
    const s = suffix('v');
    await deliverAndSettle(variant('payment_succeeded.cf_referral_code.json', s, (e) => (e.content.customer.cf_referral_code = 'VEGA-77AA')));
    expect((await stored(svc.db.db, svc.programId, `txn_BTkLp3Vr0Zx5Ef7${s}`))?.partnerKey).toBe('ptn_vega_77aa');
  });

  it('a JPY payment is stored in whole yen, with its tax', async () => {
    const s = suffix('y');
    await deliverAndSettle(variant('payment_succeeded.jpy.json', s));
    const t = await stored(svc.db.db, svc.programId, `txn_CjpYq4Ws3Uc1Jk7${s}`);
    expect(t).toMatchObject({ amountMinor: 5500n, currency: 'JPY', taxMinor: 500n, partnerKey: 'ptn_seoul_91ac' });
    expect(t?.rewards.map((r) => [r.amount, r.units])).toEqual([['1100', 'JPY']]);
  });

  it('a partial refund reduces the reward; refunding the rest deletes it', async () => {
    const s = suffix('r');
    const key = `txn_AzyvQ1Uq8Mn4Cd6${s}`;
    await deliverAndSettle(variant('payment_succeeded.cf_partnero_partner.json', s));
    await deliverAndSettle(variant('payment_refunded.partial.json', s));
    let t = await stored(svc.db.db, svc.programId, key);
    expect(t).toMatchObject({ refundedMinor: 2000n, deletedAt: null });
    expect(t?.rewards.map((r) => [r.amount, r.originalAmount])).toEqual([['5.8', '9.8']]);

    const rest = variant('payment_refunded.partial.json', s, (e) => {
      e.id = `ev_rest${s}`;
      Object.assign(e.content.transaction, { id: `txn_rest${s}`, amount: 2900 });
    });
    await deliverAndSettle(rest);
    t = await stored(svc.db.db, svc.programId, key);
    expect(t).toMatchObject({ refundedMinor: 4900n, deletedReason: 'refunded' });
    expect(t?.deletedAt).not.toBeNull();
    expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
  });

  it('a full refund deletes at once, even when it arrives before its payment', async () => {
    for (const order of ['payment-first', 'refund-first']) {
      const s = suffix(order[0]!);
      const pay = variant('payment_succeeded.cf_referral_code.json', s);
      const full = variant('payment_refunded.full.json', s);
      for (const b of order === 'payment-first' ? [pay, full] : [full, pay]) await deliverAndSettle(b);
      const t = await stored(svc.db.db, svc.programId, `txn_BTkLp3Vr0Zx5Ef7${s}`);
      expect(t, order).toMatchObject({ refundedMinor: 9900n, deletedReason: 'refunded' });
      expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
    }
  });

  it('a partner key missing from the event is read from the customer through the API', async () => {
    const s = suffix('l');
    const customer = fixtureJson<{ customer: Record<string, unknown> }>('chargebee', 'api/customers.retrieve.json').customer;
    customers.set(`DnoCf5Xt3Vc9Pq1${s}`, { ...customer, id: `DnoCf5Xt3Vc9Pq1${s}` });
    api.requests.length = 0;
    await deliverAndSettle(variant('payment_succeeded.no_cf.json', s));
    const t = await stored(svc.db.db, svc.programId, `txn_DnoCf5Xt4Wd2Rs3${s}`);
    expect(t?.partnerKey).toBe('ptn_lumen_5e0a');
    expect(t?.attribution).toMatchObject({
      partner_key_place: 'chargebee_cf_partnero_partner',
      lookups: [{ place: 'chargebee_cf_partnero_partner', id: `DnoCf5Xt3Vc9Pq1${s}`, result: 'found' }],
    });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /api/v2/customers/DnoCf5Xt3Vc9Pq1${s}`]);
    expect(api.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`${API_KEY}:`).toString('base64')}`);
  });

  it('a referral code found on the customer through the API is matched as a referral code, with one API call', async () => {
    const s = suffix('k');
    customers.set(`DnoCf5Xt3Vc9Pq1${s}`, { id: `DnoCf5Xt3Vc9Pq1${s}`, email: 'dana.kim@example.org', cf_referral_code: 'NOVA-22BD' });
    api.requests.length = 0;
    await deliverAndSettle(variant('payment_succeeded.no_cf.json', s));
    const t = await stored(svc.db.db, svc.programId, `txn_DnoCf5Xt4Wd2Rs3${s}`);
    expect(t?.partnerKey).toBe('ptn_nova_22bd');
    expect(t?.attribution).toMatchObject({
      partner_key_place: 'chargebee_cf_referral_code',
      lookups: [
        { place: 'chargebee_cf_partnero_partner', result: 'no_key' },
        { place: 'chargebee_cf_referral_code', result: 'found' },
      ],
    });
    expect(api.requests).toHaveLength(1);
  });

  it('a customer without the fields anywhere is recorded without a partner', async () => {
    const s = suffix('z');
    customers.set(`DnoCf5Xt3Vc9Pq1${s}`, { id: `DnoCf5Xt3Vc9Pq1${s}`, email: 'dana.kim@example.org' });
    await deliverAndSettle(variant('payment_succeeded.no_cf.json', s));
    const t = await stored(svc.db.db, svc.programId, `txn_DnoCf5Xt4Wd2Rs3${s}`);
    expect(t).toMatchObject({ amountMinor: 2900n, partnerKey: null, rewards: [] });
  });
});

// forged → 4xx, redelivery, ignored events, per-program URL: the contract every gateway meets.
// HTTP Basic credentials: a "secret" is the password (of the same username); they do not sign the body.
gatewayE2eContract('chargebee', () => ({
  env: () => ({
    CHARGEBEE_WEBHOOK_USERNAME: USER,
    CHARGEBEE_WEBHOOK_PASSWORD: PASSWORD,
    CHARGEBEE_SITE: 'acme-test',
    CHARGEBEE_API_KEY: API_KEY,
    CHARGEBEE_API_BASE: api.url,
  }),
  secret: PASSWORD,
  sign: (_body, secret) => basic(USER, secret),
  refused: { status: 401, invalid: 'invalid_credentials', missing: 'missing_credentials' },
  signsBody: false,
  forgeries: [{ name: 'with another username', headers: () => basic('someone', PASSWORD), status: 401, code: 'invalid_credentials' }],
  paid: ({ suffix: s }) => {
    const body = variant('payment_succeeded.cf_partnero_partner.json', s);
    return { body, eventId: eventId(body), transactionKey: `txn_AzyvQ1Uq8Mn4Cd6${s}`, amountMinor: 4900n, currency: 'USD', partnerKey: 'ptn_orbit_7f3k' };
  },
  ignored: {
    // delivered after its payment (same ids): the renewal of a paid invoice adds nothing to it
    subscription_renewed: ({ suffix: s }) => {
      const body = variant('subscription_renewed.json', s);
      return { body, eventId: eventId(body), reason: 'subscription_renewed carries no transaction: its money arrives as payment_succeeded' };
    },
  },
  programSettings: (secret) => ({ username: USER, password: secret }),
}));
