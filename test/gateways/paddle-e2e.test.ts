// Paddle Billing webhooks end to end: signed HTTP deliveries → inbox → queue → worker (with the real
// @paddle/paddle-node-sdk talking to a local fake of the Paddle API) → transactions and rewards.
import { createHmac, randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers, transactions } from '../../src/db/schema.js';
import { gatewayE2eContract } from '../gateway-e2e-contract.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fakePaddleApi } from '../support/fake-paddle-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { count, createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'pdl_ntfset_e2e_secret';
const API_KEY = 'pdl_sdbx_apikey_e2e';
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

const signature = (body: Buffer, secret = SECRET, ts = Math.floor(Date.now() / 1000)) =>
  `ts=${ts};h1=${createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${ts}:`), body])).digest('hex')}`;
async function deliver(body: Buffer, opts: { secret?: string; path?: string } = {}) {
  return svc.post(opts.path ?? '/webhooks/paddle', body, { 'paddle-signature': signature(body, opts.secret) });
}
const eventId = (body: Buffer) => (JSON.parse(body.toString()) as { event_id: string }).event_id;
async function deliverAndSettle(...bodies: Buffer[]) {
  for (const b of bodies) expect((await deliver(b)).status).toBe(200);
  return Promise.all(bodies.map((b) => svc.settled('paddle', eventId(b))));
}

/** A fixture with every Paddle id in it made unique, so each scenario has its own payments. */
function variant(name: string, suffix: string, change?: (e: any) => void): Buffer { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = fixture('paddle', name)
    .toString('utf8')
    .replace(/"((?:evt|ntf|txn|sub|ctm|adj|adjitm|txnitm)_[a-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  change?.(event);
  return Buffer.from(JSON.stringify(event));
}
const suffix = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;

/** The fake API's subscription and customer of the renewal fixtures, under suffixed ids. */
function renewalObjects(s: string, partnerKey: string | null = 'ptn_delta_3c9e') {
  const sub = fixtureJson<{ data: Record<string, unknown> }>('paddle', 'api/subscriptions.get.json').data;
  const customer = fixtureJson<{ data: Record<string, unknown> }>('paddle', 'api/customers.get.json').data;
  objects.set(`${sub.id}${s}`, { ...sub, id: `${sub.id}${s}`, custom_data: partnerKey ? { partner_key: partnerKey } : null });
  objects.set(`${customer.id}${s}`, { ...customer, id: `${customer.id}${s}`, email: `diego${s}@example.org` });
}

beforeAll(async () => {
  api = await fakePaddleApi(objects).start();
  svc = await startTestService({ PADDLE_WEBHOOK_SECRET: SECRET, PADDLE_API_KEY: API_KEY, PADDLE_API_BASE: api.url });
  for (const key of ['ptn_orbit_7f3k', 'ptn_delta_3c9e', 'ptn_seoul_91ac']) await createPartner(svc.db.db, svc.programId, key);
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('Paddle webhooks, end to end', () => {
  it('transaction.paid + transaction.completed, in either order, are one transaction credited by custom_data', async () => {
    for (const order of [['paid', 'completed'], ['completed', 'paid']]) {
      const s = suffix('p');
      objects.set(`ctm_01jy2w5p2h8d4f6g1k3m9n7qrs${s}`, { id: `ctm_01jy2w5p2h8d4f6g1k3m9n7qrs${s}`, status: 'active', email: `hannah${s}@example.com`, custom_data: null });
      const bodies = {
        paid: variant('transaction.paid.json', s),
        completed: variant('transaction.completed.json', s),
      } as Record<string, Buffer>;
      // each processed before the next is delivered, so that the order under test is the order of
      // processing (delivered back to back, the two jobs run at once and either may create it)
      const rows = [];
      for (const o of order) rows.push(...(await deliverAndSettle(bodies[o]!)));
      expect(rows.map((r) => r.status)).toEqual(['processed', 'processed']);
      expect(rows.map((r) => (r.outcome as { result: string }[])[0]?.result)).toEqual(['created', 'merged']);

      const key = `txn_01jy2w6k9b3m7q4r8t1v5x0zcd${s}`;
      const t = await stored(svc.db.db, svc.programId, key);
      expect(t, order.join(' → ')).toMatchObject({ amountMinor: 2880n, currency: 'GBP', taxMinor: 480n, gateway: 'paddle', partnerKey: 'ptn_orbit_7f3k' });
      expect(t).toMatchObject({ productId: 'pro_01jhq3b2k5m8p1r4t7v0x3zcde', productType: 'month' });
      expect(t?.attribution).toMatchObject({ partner_key_place: 'paddle_transaction_custom_data' });
      expect(t?.rewards.map((r) => [r.amount, r.units, r.status])).toEqual([['5.76', 'GBP', 'ok']]);
      expect(await svc.db.db.select().from(transactions).where(eq(transactions.key, key))).toHaveLength(1);
      // the payer's email came from GET /customers/{id}
      const [c] = await svc.db.db.select().from(customers).where(eq(customers.id, t!.customerId!));
      expect(c).toMatchObject({ key: `ctm_01jy2w5p2h8d4f6g1k3m9n7qrs${s}`, email: `hannah${s}@example.com` });
    }
  });

  it('a renewal whose key is only on the subscription is credited through GET /subscriptions/{id}', async () => {
    const s = suffix('r');
    renewalObjects(s);
    api.requests.length = 0;
    const [paid] = await deliverAndSettle(variant('transaction.paid.renewal.no_custom_data.json', s));
    expect(paid?.status).toBe('processed');
    await deliverAndSettle(variant('transaction.completed.renewal.no_custom_data.json', s));

    const t = await stored(svc.db.db, svc.programId, `txn_01k0m3x5z7b9d1f3h5k7m9p1rt${s}`);
    expect(t).toMatchObject({ amountMinor: 5292n, currency: 'USD', taxMinor: 392n, partnerKey: 'ptn_delta_3c9e' });
    expect(t?.rewards.map((r) => r.amount)).toEqual(['10.584']);
    expect(t?.attribution).toMatchObject({
      partner_key_place: 'paddle_subscription_custom_data',
      lookups: [{ place: 'paddle_subscription_custom_data', id: `sub_01jw4e9k3m5p7r9t1v3x5z7b9d${s}`, result: 'found' }],
    });
    expect(api.requests.slice(0, 2).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /subscriptions/sub_01jw4e9k3m5p7r9t1v3x5z7b9d${s}`,
      `GET /customers/ctm_01jw4e7g9j1l3n5q7s9u1w3y5a${s}`,
    ]);
    expect(api.requests[0]?.headers.authorization).toBe(`bearer ${API_KEY}`);
    expect(await count(svc.db.db, transactions, svc.programId)).toBeGreaterThan(0);
  });

  it('a partial refund reduces the reward; the rest of it deletes the transaction', async () => {
    const s = suffix('f');
    const key = `txn_01jy2w6k9b3m7q4r8t1v5x0zcd${s}`;
    await deliverAndSettle(variant('transaction.completed.json', s));
    expect((await stored(svc.db.db, svc.programId, key))?.rewards.map((r) => r.amount)).toEqual(['5.76']);

    const [partial] = await deliverAndSettle(variant('adjustment.created.refund.partial.json', s));
    expect(partial?.outcome).toEqual([{ kind: 'refund', result: 'applied', transactionKey: key, deleted: false }]);
    let t = await stored(svc.db.db, svc.programId, key);
    expect(t?.refundedMinor).toBe(1440n);
    expect(t?.rewards.map((r) => r.amount)).toEqual(['2.88']);

    // the other seat: a second partial refund of the remaining 1440
    const rest = variant('adjustment.created.refund.partial.json', s, (e) => {
      e.event_id = `evt_rest${s}`;
      e.data.id = `adj_rest${s}`;
    });
    await deliverAndSettle(rest);
    t = await stored(svc.db.db, svc.programId, key);
    expect(t?.refundedMinor).toBe(2880n);
    expect(t?.deletedReason).toBe('refunded');
    expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
  });

  it('a full refund waits for approval, then deletes the transaction and its reward', async () => {
    const s = suffix('a');
    renewalObjects(s);
    const key = `txn_01k0m3x5z7b9d1f3h5k7m9p1rt${s}`;
    await deliverAndSettle(variant('transaction.completed.renewal.no_custom_data.json', s));
    expect((await stored(svc.db.db, svc.programId, key))?.rewards.map((r) => r.amount)).toEqual(['10.584']);

    const pending = variant('adjustment.created.refund.full.pending_approval.json', s);
    expect(await deliver(pending)).toMatchObject({
      status: 200,
      body: { status: 'ignored', reason: 'refund adjustment pending_approval: booked once Paddle approves it' },
    });
    expect((await stored(svc.db.db, svc.programId, key))?.deletedAt).toBeNull();

    const [approved] = await deliverAndSettle(variant('adjustment.updated.refund.full.approved.json', s));
    expect(approved?.outcome).toEqual([{ kind: 'refund', result: 'applied', transactionKey: key, deleted: true }]);
    const t = await stored(svc.db.db, svc.programId, key);
    expect(t?.deletedReason).toBe('refunded');
    expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
  });

  it('a chargeback deletes the transaction (JPY, whole yen)', async () => {
    const s = suffix('c');
    const key = `txn_01k2b7a4c6e8g0j2m4p6r8t0vw${s}`;
    await deliverAndSettle(variant('transaction.completed.jpy.json', s));
    let t = await stored(svc.db.db, svc.programId, key);
    expect(t).toMatchObject({ amountMinor: 5280n, currency: 'JPY', partnerKey: 'ptn_seoul_91ac' });
    expect(t?.rewards.map((r) => [r.amount, r.units])).toEqual([['1056', 'JPY']]);

    const [chargeback] = await deliverAndSettle(variant('adjustment.created.chargeback.json', s));
    expect(chargeback?.outcome).toEqual([{ kind: 'dispute', result: 'applied', transactionKey: key, status: 'lost' }]);
    t = await stored(svc.db.db, svc.programId, key);
    expect(t?.deletedReason).toBe('dispute_lost');
  });

  it('answers on /webhooks/paddle/{program_id} too, and keeps the notification id', async () => {
    const s = suffix('g');
    const body = variant('transaction.completed.json', s);
    expect(await deliver(body, { path: `/webhooks/paddle/${svc.programId}` })).toMatchObject({ status: 200, body: { received: true } });
    expect(await svc.settled('paddle', eventId(body))).toMatchObject({
      status: 'processed',
      headers: { notification_id: `ntf_01jy2w8h8n0q2s4u6w8y0a2c4e${s}` },
    });
  });
});

// forged → 4xx, redelivery, ignored events, per-program URL: the contract every gateway meets
gatewayE2eContract('paddle', () => ({
  env: () => ({ PADDLE_WEBHOOK_SECRET: SECRET, PADDLE_API_KEY: API_KEY, PADDLE_API_BASE: api.url }),
  secret: SECRET,
  sign: (body, secret, opts) => ({ 'paddle-signature': signature(body, secret, Math.floor(Date.now() / 1000) - (opts?.ageSeconds ?? 0)) }),
  refused: { status: 400, invalid: 'invalid_signature', missing: 'missing_signature' },
  signsBody: true,
  staleAgeSeconds: 400,
  paid: ({ suffix: s }) => {
    const body = variant('transaction.completed.json', s);
    return { body, eventId: eventId(body), transactionKey: `txn_01jy2w6k9b3m7q4r8t1v5x0zcd${s}`, amountMinor: 2880n, currency: 'GBP', partnerKey: 'ptn_orbit_7f3k' };
  },
  ignored: {
    'customer.updated': ({ suffix: s }) => {
      const body = variant('customer.updated.ignore.json', s);
      return { body, eventId: eventId(body), reason: 'not a payment event: customer.updated' };
    },
  },
  programSettings: (secret) => ({ webhook_secrets: [secret] }),
}));
