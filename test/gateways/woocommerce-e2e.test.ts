// WooCommerce webhooks end to end: signed HTTP deliveries → inbox → queue → worker → transactions and
// rewards in PostgreSQL (default program: 20% commission).
import { createHmac, randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import { gatewayE2eContract } from '../gateway-e2e-contract.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'wc_e2e_secret';
let svc: TestService;

const headers = (body: Buffer, topic: string, secret: string) => ({
  'content-type': 'application/json',
  'user-agent': 'WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)',
  'x-wc-webhook-source': 'https://shop.example.com/',
  'x-wc-webhook-topic': topic,
  'x-wc-webhook-resource': topic.split('.')[0]!,
  'x-wc-webhook-event': topic.split('.')[1]!,
  'x-wc-webhook-id': '27',
  'x-wc-webhook-delivery-id': randomBytes(16).toString('hex'),
  'x-wc-webhook-signature': createHmac('sha256', secret).update(body).digest('base64'),
});
const deliver = (body: Buffer, topic = 'order.updated', opts: { secret?: string; path?: string } = {}) =>
  svc.post(opts.path ?? '/webhooks/woocommerce', body, headers(body, topic, opts.secret ?? SECRET));

/** A fixture order changed (and PHP-encoded again, as WooCommerce would send it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const variant = (name: string, change: (o: any) => void) => {
  const o = fixtureJson('woocommerce', name);
  change(o);
  return Buffer.from(JSON.stringify(o).replace(/\//g, '\\/'));
};
const inboxRows = () => svc.db.db.select().from(webhookEvents).where(eq(webhookEvents.gateway, 'woocommerce'));

beforeAll(async () => {
  svc = await startTestService({ WOOCOMMERCE_WEBHOOK_SECRET: `wc_retired_secret,${SECRET}` });
  for (const key of ['ptn_orbit_7f3k', 'ptn_lumen_5e0a', 'ptn_seoul_91ac', 'ptn_gulf_48d1']) await createPartner(svc.db.db, svc.programId, key);
});
afterAll(async () => {
  await svc?.stop();
});

describe('WooCommerce webhooks, end to end', () => {
  // the next three run in order: one order (4817) paid, partly refunded, then refunded in full
  it('a completed order becomes a transaction with a 20% reward', async () => {
    const body = fixture('woocommerce', 'order.updated.completed.json');
    expect(await deliver(body)).toMatchObject({ status: 200, body: { received: true } });
    const row = await svc.settled('woocommerce', 'order-4817-20250721T132045-completed');
    expect(row).toMatchObject({ status: 'processed', eventType: 'order.updated', headers: { 'x-wc-webhook-topic': 'order.updated', 'x-wc-webhook-id': '27' } });
    expect(row.outcome).toEqual([
      { kind: 'payment', result: 'created', transactionKey: 'wc_order_4817', rewards: 1, reason: null },
      // the order's refunds standing: none was taken back
      { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false, reversed: true },
    ]);
    const t = await stored(svc.db.db, svc.programId, 'wc_order_4817');
    expect(t).toMatchObject({
      amountMinor: 5900n,
      currency: 'USD',
      taxMinor: 0n,
      gateway: 'woocommerce',
      productId: '58',
      partnerKey: 'ptn_orbit_7f3k',
      customerKey: '112',
      createdAt: new Date('2025-07-21T13:14:09Z'),
      details: { payment_method: 'stripe', payment_transaction_id: 'pi_3RnV2aHk2QwLm9Xa0e5Fg6Hi' },
    });
    expect(t?.attribution).toMatchObject({ partner_key_place: 'woocommerce_meta_data' });
    expect(t?.rewards.map((r) => [r.amount, r.units, r.status])).toEqual([['11.8', 'USD', 'ok']]);
  });

  it('a partial refund reduces the reward; status refunded then deletes the transaction and its reward', async () => {
    const partial = fixture('woocommerce', 'order.updated.partial_refund.json');
    expect((await deliver(partial)).status).toBe(200);
    const row = await svc.settled('woocommerce', 'order-4817-20250728T140211-completed-r1-4890');
    expect(row.outcome).toEqual([
      { kind: 'payment', result: 'merged', transactionKey: 'wc_order_4817', rewards: 0, reason: null },
      { kind: 'refund', result: 'applied', transactionKey: 'wc_order_4817', deleted: false },
      { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false, reversed: true },
    ]);
    let t = await stored(svc.db.db, svc.programId, 'wc_order_4817');
    expect(t?.refundedMinor).toBe(2000n);
    expect(t?.deletedAt).toBeNull();
    expect(t?.rewards.map((r) => [r.amount, r.originalAmount])).toEqual([['7.8', '11.8']]); // 20% of 39.00

    const refunded = fixture('woocommerce', 'order.updated.refunded.json');
    expect((await deliver(refunded)).status).toBe(200);
    expect((await svc.settled('woocommerce', 'order-4817-20250802T150537-refunded-r1-4901')).status).toBe('processed');
    t = await stored(svc.db.db, svc.programId, 'wc_order_4817');
    expect(t?.deletedAt).not.toBeNull();
    expect(t?.deletedReason).toBe('refunded');
    expect(t?.refundedMinor).toBe(5900n);
    expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
  });

  it('the partial refund delivered again after the full refund changes nothing', async () => {
    // an older state of the order arriving late: the refunds seen since (4901, the full refund) stand
    const again = variant('order.updated.partial_refund.json', (o) => (o.date_modified_gmt = '2025-08-01T09:00:00'));
    await deliver(again);
    const row = await svc.settled('woocommerce', 'order-4817-20250801T090000-completed-r1-4890');
    expect(row.outcome).toEqual([
      { kind: 'payment', result: 'merged', transactionKey: 'wc_order_4817', rewards: 0, reason: null },
      { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false },
      { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false, reversed: true },
    ]);
    expect((await stored(svc.db.db, svc.programId, 'wc_order_4817'))?.deletedReason).toBe('refunded');
  });

  it('a guest order is keyed by the billing email', async () => {
    const body = fixture('woocommerce', 'order.created.guest.json');
    expect((await deliver(body, 'order.created')).status).toBe(200);
    await svc.settled('woocommerce', 'order-4835-20250725T064119-completed');
    const t = await stored(svc.db.db, svc.programId, 'wc_order_4835');
    expect(t).toMatchObject({ amountMinor: 2400n, currency: 'EUR', customerKey: 'lena.vogel@example.org', partnerKey: 'ptn_lumen_5e0a' });
    expect(t?.rewards.map((r) => [r.amount, r.units])).toEqual([['4.8', 'EUR']]);
  });

  it('order.created (processing) then order.updated (completed): one transaction', async () => {
    const created = fixture('woocommerce', 'order.created.processing.json');
    const completed = variant('order.created.processing.json', (o) => {
      Object.assign(o, { status: 'completed', date_modified_gmt: '2025-07-25T09:00:00', date_completed_gmt: '2025-07-25T09:00:00' });
    });
    await deliver(created, 'order.created');
    await deliver(completed, 'order.updated');
    expect((await svc.settled('woocommerce', 'order-4830-20250724T200341-processing')).status).toBe('processed');
    expect((await svc.settled('woocommerce', 'order-4830-20250725T090000-completed')).status).toBe('processed');
    const all = await svc.db.db.select().from(transactions).where(and(eq(transactions.programId, svc.programId), eq(transactions.key, 'wc_order_4830')));
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ amountMinor: 10791n, taxMinor: 891n, productId: '64' });
  });

  it('a three-decimal currency through the per-program URL', async () => {
    const body = fixture('woocommerce', 'order.updated.bhd.json');
    expect((await deliver(body, 'order.updated', { path: `/webhooks/woocommerce/${svc.programId}` })).status).toBe(200);
    await svc.settled('woocommerce', 'order-4822-20250722T155203-completed');
    const t = await stored(svc.db.db, svc.programId, 'wc_order_4822');
    expect(t).toMatchObject({ amountMinor: 12345n, currency: 'BHD', customerKey: 'fatima.k@example.org', partnerKey: 'ptn_gulf_48d1' });
    expect(t?.rewards.map((r) => r.amount)).toEqual(['2.469']);
  });

  it('the creation ping is answered 200 and nothing is stored', async () => {
    const before = (await inboxRows()).length;
    const res = await svc.post('/webhooks/woocommerce', fixture('woocommerce', 'ping.webhook_id.txt'), {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)',
    });
    expect(res).toMatchObject({ status: 200, body: { received: true, ignored: 'WooCommerce webhook 27 creation ping' } });
    expect((await inboxRows()).length).toBe(before);
  });

  it('a signature from the retired secret still passes while both are configured', async () => {
    const body = variant('order.updated.completed.json', (o) => Object.assign(o, { id: 9918, order_key: 'wc_order_rot9918' }));
    expect((await deliver(body, 'order.updated', { secret: 'wc_retired_secret' })).status).toBe(200);
    expect((await svc.settled('woocommerce', 'order-9918-20250721T132045-completed')).status).toBe('processed');
  });

  it('an amount the currency cannot hold is kept as failed with the reason (no retries)', async () => {
    const body = variant('order.updated.completed.json', (o) => Object.assign(o, { id: 9919, total: '59.005' }));
    expect(await deliver(body)).toMatchObject({ status: 200, body: { status: 'failed' } });
    expect(await svc.settled('woocommerce', 'order-9919-20250721T132045-completed')).toMatchObject({
      status: 'failed',
      lastError: 'payload: total: "59.005" has more than 2 decimal places for USD',
    });
  });
});

// forged → 4xx, redelivery, ignored events, per-program URL: the contract every gateway meets. Each
// signing is a new delivery id, so a redelivery is what WooCommerce sends on a second save: a new
// delivery id, the same event.
gatewayE2eContract('woocommerce', () => ({
  env: () => ({ WOOCOMMERCE_WEBHOOK_SECRET: SECRET }),
  secret: SECRET,
  sign: (body, secret) => headers(body, 'order.updated', secret),
  refused: { status: 400, invalid: 'invalid_signature', missing: 'missing_signature' },
  signsBody: true,
  paid: ({ suffix, n }) => ({
    body: variant('order.updated.completed.json', (o) => Object.assign(o, { id: n, number: String(n), order_key: `wc_order_${suffix}` })),
    eventId: `order-${n}-20250721T132045-completed`,
    transactionKey: `wc_order_${n}`,
    amountMinor: 5900n,
    currency: 'USD',
    partnerKey: 'ptn_orbit_7f3k',
  }),
  ignored: {
    'an unpaid (pending) order': ({ n }) => ({
      body: variant('order.updated.pending.json', (o) => Object.assign(o, { id: n + 500_000, number: String(n + 500_000) })),
      eventId: `order-${n + 500_000}-20250727T233002-pending`,
      reason: `order ${n + 500_000} is pending: not paid yet`,
    }),
    'a product update': ({ suffix }) => ({
      body: fixture('woocommerce', 'product.updated.json'),
      headers: { 'x-wc-webhook-topic': 'product.updated', 'x-wc-webhook-resource': 'product', 'x-wc-webhook-delivery-id': `prod${suffix}` },
      eventId: `delivery-prod${suffix}`,
      reason: 'not an order: only order deliveries carry payments',
    }),
  },
  programSettings: (secret) => ({ webhook_secrets: [secret] }),
}));
