// Reversals of reversals, end to end: a refund (or chargeback) the gateway takes back restores what it
// took. Sequences of signed deliveries through the receivers, the queue and the worker, read back
// through the REST API (the transaction, its rewards, the partner's balance), in the orders gateways
// deliver them, including a reversal that arrives before its refund.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { delivery, gatewayEnv, paymentDelivery, type Delivery, type Sale } from '../support/deliveries.js';
import { payoutHelpers } from '../support/payouts.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_reversals_key';
let svc: TestService;
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
const { partner, balance } = payoutHelpers(api, KEY);
const PARTNER = 'REV_P';

// a merchant's endpoint for the outbound webhooks
const received: { event: string; data: Record<string, unknown> }[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    res.writeHead(200).end();
  });
});

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  svc = await startTestService({ API_KEY: KEY, ...gatewayEnv(), WEBHOOKS_ALLOW_LOOPBACK: 'true', WEBHOOKS_DISPATCH_INTERVAL_MS: '100' });
  await partner(PARTNER);
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  expect((await api('POST', '/v1/webhooks', { name: 'rev', url, events: ['transaction.deleted', 'transaction.restored'], is_active: true })).status).toBe(201);
});
afterAll(async () => {
  await svc?.stop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

async function announced(event: string, key: string) {
  const started = Date.now();
  for (;;) {
    const found = received.find((r) => r.event === event && r.data.key === key);
    if (found) return found;
    if (Date.now() - started > 10_000) throw new Error(`no ${event} for ${key}; got ${received.map((r) => r.event).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let seq = 0;
const tag = () => `rv${++seq}${randomBytes(3).toString('hex')}`;

/** Deliver in this order, each processed before the next is sent (as a gateway's retries space them). */
async function send(...list: Delivery[]) {
  for (const d of list) {
    expect((await svc.post(`/webhooks/${d.gateway}`, d.body, d.headers())).status).toBe(200);
    const row = await svc.settled(d.gateway, d.eventId);
    expect(row.status, `${d.eventId}: ${row.lastError ?? ''}`).toBe('processed');
  }
}
type View = {
  deleted_at: string | null;
  deleted_reason: string | null;
  deleted_by: string | null;
  reduced_by: string[];
  refunded_amount: number;
  rewards: { amount: number; status: string; deleted_at: string | null; deleted_reason: string | null; deleted_by: string | null; reduced_by: string[] }[];
};
async function txn(key: string): Promise<View> {
  const r = await api('GET', `/v1/transactions/${key}`);
  expect(r.status).toBe(200);
  return r.body.data as View;
}

const at = (day: number) => 1_785_000_000 + day * 86_400;

// ---- Stripe ----

function stripeRefund(sale: Sale, re: string, amount: bigint, status: string, type: string, day: number): Delivery {
  const id = `evt_${type.replace(/\W/g, '')}${re}${status}`;
  return delivery('stripe', id, {
    id,
    object: 'event',
    api_version: '2025-03-31.basil',
    created: at(day),
    livemode: false,
    type,
    data: { object: { id: re, object: 'refund', amount: Number(amount), currency: 'usd', charge: `ch_${sale.id}`, payment_intent: `pi_${sale.id}`, status } },
  });
}

describe('Stripe: a refund that fails or is canceled', () => {
  const sale = (amountMinor = 10_000n): Sale => ({ gateway: 'stripe', id: tag(), n: 0, amountMinor, currency: 'USD', partnerKey: PARTNER, customer: 7 });

  it('payment → partial refund → refund.failed: the reward is whole again, reduced by nothing', async () => {
    const s = sale();
    await send(paymentDelivery(s), stripeRefund(s, `re_a${s.id}`, 2_500n, 'succeeded', 'refund.created', 1));
    let t = await txn(`pi_${s.id}`);
    expect(t.rewards[0]).toMatchObject({ amount: 15, reduced_by: [`re_a${s.id}`] });
    expect(t.reduced_by).toEqual([`re_a${s.id}`]);
    await send(stripeRefund(s, `re_a${s.id}`, 2_500n, 'failed', 'refund.failed', 2));
    t = await txn(`pi_${s.id}`);
    expect(t).toMatchObject({ refunded_amount: 0, reduced_by: [], deleted_at: null });
    expect(t.rewards[0]).toMatchObject({ amount: 20, reduced_by: [] });
  });

  it('a full refund deletes the payment and names the refund; canceled (charge.refund.updated), it comes back with the partial refund still standing', async () => {
    const s = sale();
    await send(paymentDelivery(s), stripeRefund(s, `re_p${s.id}`, 2_000n, 'succeeded', 'refund.created', 1), stripeRefund(s, `re_f${s.id}`, 8_000n, 'succeeded', 'refund.created', 2));
    let t = await txn(`pi_${s.id}`);
    expect(t).toMatchObject({ deleted_reason: 'refunded', deleted_by: `re_f${s.id}` });
    expect(t.deleted_at).not.toBeNull();
    expect(t.rewards[0]).toMatchObject({ status: 'deleted', deleted_reason: 'refunded', deleted_by: `re_f${s.id}` });

    await send(stripeRefund(s, `re_f${s.id}`, 8_000n, 'canceled', 'charge.refund.updated', 3));
    t = await txn(`pi_${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, deleted_reason: null, deleted_by: null, refunded_amount: 20, reduced_by: [`re_p${s.id}`] });
    expect(t.rewards).toHaveLength(1);
    expect(t.rewards[0]).toMatchObject({ amount: 16, deleted_at: null, deleted_reason: null, reduced_by: [`re_p${s.id}`] });
    expect(t.rewards[0]!.status).not.toBe('deleted');
    // the merchant's endpoint heard both: deleted (by the refund), then restored (as it is now)
    expect((await announced('transaction.deleted', `pi_${s.id}`)).data).toMatchObject({ deleted_reason: 'refunded' });
    expect((await announced('transaction.restored', `pi_${s.id}`)).data).toMatchObject({ key: `pi_${s.id}`, deleted_at: null, reduced_by: [`re_p${s.id}`] });
    // a redelivery of the reversal (a new event id, as refund.updated repeats it) changes nothing
    await send(stripeRefund(s, `re_f${s.id}`, 8_000n, 'canceled', 'refund.updated', 4));
    expect((await txn(`pi_${s.id}`)).rewards[0]).toMatchObject({ amount: 16 });
  });

  it('out of order: refund.failed, then the payment, then the refund it failed: nothing is taken', async () => {
    const s = sale();
    await send(stripeRefund(s, `re_o${s.id}`, 10_000n, 'failed', 'refund.failed', 2), paymentDelivery(s), stripeRefund(s, `re_o${s.id}`, 10_000n, 'succeeded', 'refund.created', 1));
    const t = await txn(`pi_${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, refunded_amount: 0, reduced_by: [] });
    expect(t.rewards[0]).toMatchObject({ amount: 20 });
  });

  it('a lost dispute whose funds are reinstated: the payment comes back', async () => {
    const s = sale();
    const dp = (type: string, status: string, day: number) => {
      const id = `evt_${type.replace(/\W/g, '')}${s.id}`;
      return delivery('stripe', id, {
        id, object: 'event', api_version: '2025-03-31.basil', created: at(day), livemode: false, type,
        data: { object: { id: `dp_${s.id}`, object: 'dispute', amount: 10_000, currency: 'usd', charge: `ch_${s.id}`, payment_intent: `pi_${s.id}`, status } },
      });
    };
    await send(paymentDelivery(s), dp('charge.dispute.closed', 'lost', 1));
    expect(await txn(`pi_${s.id}`)).toMatchObject({ deleted_reason: 'dispute_lost', deleted_by: `dp_${s.id}` });
    await send(dp('charge.dispute.funds_reinstated', 'won', 2));
    const t = await txn(`pi_${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, deleted_reason: null });
    expect(t.rewards[0]).toMatchObject({ amount: 20, deleted_at: null });
  });
});

// ---- Paddle ----

function paddleAdjustment(sale: Sale, adj: string, action: string, status: string, type: 'full' | 'partial', amount: bigint, day: number): Delivery {
  const id = `evt_${adj}${action}${status}`;
  return delivery('paddle', id, {
    event_id: id,
    event_type: status === 'approved' && action !== 'refund' ? 'adjustment.created' : 'adjustment.updated',
    occurred_at: new Date(at(day) * 1000).toISOString(),
    notification_id: `ntf_${id}`,
    data: { id: adj, action, type, status, transaction_id: `txn_pd${sale.id}`, currency_code: 'USD', totals: { total: amount.toString(), currency_code: 'USD' } },
  });
}

describe('Paddle: an adjustment reversed', () => {
  const sale = (): Sale => ({ gateway: 'paddle', id: tag(), n: 0, amountMinor: 5_000n, currency: 'USD', partnerKey: PARTNER, customer: 8 });

  it('a full refund approved then reversed: the transaction comes back', async () => {
    const s = sale();
    await send(paymentDelivery(s), paddleAdjustment(s, `adj_${s.id}`, 'refund', 'approved', 'full', 5_000n, 1));
    expect(await txn(`txn_pd${s.id}`)).toMatchObject({ deleted_reason: 'refunded', deleted_by: `adj_${s.id}` });
    await send(paddleAdjustment(s, `adj_${s.id}`, 'refund', 'reversed', 'full', 5_000n, 2));
    const t = await txn(`txn_pd${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, refunded_amount: 0 });
    expect(t.rewards[0]).toMatchObject({ amount: 10, deleted_at: null });
  });

  it('out of order: the reversed update before the approved one, both before the payment', async () => {
    const s = sale();
    await send(paddleAdjustment(s, `adj_${s.id}`, 'refund', 'reversed', 'partial', 1_000n, 2), paddleAdjustment(s, `adj_${s.id}`, 'refund', 'approved', 'partial', 1_000n, 1), paymentDelivery(s));
    const t = await txn(`txn_pd${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, refunded_amount: 0 });
    expect(t.rewards[0]).toMatchObject({ amount: 10 });
  });

  it('a chargeback, then its chargeback_reverse: the transaction and its reward come back', async () => {
    const s = sale();
    await send(paymentDelivery(s), paddleAdjustment(s, `adj_cb${s.id}`, 'chargeback', 'approved', 'full', 5_000n, 1));
    expect(await txn(`txn_pd${s.id}`)).toMatchObject({ deleted_reason: 'dispute_lost' });
    await send(paddleAdjustment(s, `adj_cbr${s.id}`, 'chargeback_reverse', 'approved', 'full', 5_000n, 2));
    const t = await txn(`txn_pd${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, deleted_reason: null });
    expect(t.rewards[0]).toMatchObject({ amount: 10, deleted_at: null });
  });
});

// ---- Chargebee ----

function chargebeeRefund(sale: Sale, txnId: string, status: string, eventType: string, amount: bigint, day: number): Delivery {
  const id = `ev_${eventType}${txnId}${status}`;
  return delivery('chargebee', id, {
    id,
    occurred_at: at(day),
    event_type: eventType,
    api_version: 'v2',
    object: 'event',
    content: { transaction: { id: txnId, type: 'refund', status, amount: Number(amount), currency_code: 'USD', customer_id: `cbc_${sale.customer}`, refunded_txn_id: `txn_cb${sale.id}` } },
  });
}

describe('Chargebee: a refund transaction voided or deleted', () => {
  const sale = (): Sale => ({ gateway: 'chargebee', id: tag(), n: 0, amountMinor: 20_000n, currency: 'USD', partnerKey: PARTNER, customer: 9 });

  it('payment_refunded, then payment_refunded with the refund voided: restored', async () => {
    const s = sale();
    await send(paymentDelivery(s), chargebeeRefund(s, `txn_r${s.id}`, 'success', 'payment_refunded', 5_000n, 1));
    expect((await txn(`txn_cb${s.id}`)).rewards[0]).toMatchObject({ amount: 30 });
    await send(chargebeeRefund(s, `txn_r${s.id}`, 'voided', 'payment_refunded', 5_000n, 2));
    expect((await txn(`txn_cb${s.id}`)).rewards[0]).toMatchObject({ amount: 40, reduced_by: [] });
  });

  it('a full refund, then transaction_deleted of that refund: the transaction comes back', async () => {
    const s = sale();
    await send(paymentDelivery(s), chargebeeRefund(s, `txn_r${s.id}`, 'success', 'payment_refunded', 20_000n, 1));
    expect((await txn(`txn_cb${s.id}`)).deleted_reason).toBe('refunded');
    await send(chargebeeRefund(s, `txn_r${s.id}`, 'success', 'transaction_deleted', 20_000n, 2));
    const t = await txn(`txn_cb${s.id}`);
    expect(t).toMatchObject({ deleted_at: null, refunded_amount: 0 });
    expect(t.rewards[0]).toMatchObject({ amount: 40 });
  });
});

// ---- WooCommerce ----

let wooN = 7_000_000;
function wooOrder(n: number, status: string, refunds: { id: number; total: string }[], modified: string): Delivery {
  const body = {
    id: n,
    parent_id: 0,
    number: String(n),
    order_key: `wc_order_keyrv${n}`,
    status,
    currency: 'USD',
    total: '80.00',
    total_tax: '0.00',
    customer_id: 12,
    billing: { email: 'woo-buyer@example.com' },
    payment_method: 'stripe',
    meta_data: [{ id: 1, key: 'partner_key', value: PARTNER }],
    line_items: [{ id: 1, product_id: 58, quantity: 1 }],
    refunds: refunds.map((r) => ({ ...r, reason: '' })),
    date_created_gmt: '2026-07-25T09:59:00',
    date_modified_gmt: modified,
    date_paid_gmt: '2026-07-25T10:00:00',
  };
  const ids = refunds.map((r) => r.id);
  return delivery('woocommerce', `order-${n}-${modified.replace(/[^0-9T]/g, '')}-${status}${ids.length ? `-r${ids.length}-${Math.max(...ids)}` : ''}`, body);
}

describe('WooCommerce: a refund deleted in the store', () => {
  it('a refund that leaves the order\'s refunds[] is restored; the others keep applying once each', async () => {
    const n = ++wooN;
    const r1 = { id: n * 10 + 1, total: '-20.00' };
    const r2 = { id: n * 10 + 2, total: '-8.00' };
    await send(wooOrder(n, 'completed', [], '2026-07-25T10:00:00'), wooOrder(n, 'completed', [r1], '2026-07-26T10:00:00'), wooOrder(n, 'completed', [r1, r2], '2026-07-27T10:00:00'));
    expect((await txn(`wc_order_${n}`)).rewards[0]).toMatchObject({ amount: 10.4 }); // 16 × 52/80
    // r1 deleted in the store
    await send(wooOrder(n, 'completed', [r2], '2026-07-28T10:00:00'));
    let t = await txn(`wc_order_${n}`);
    expect(t).toMatchObject({ refunded_amount: 8, reduced_by: [`wc_refund_${r2.id}`] });
    expect(t.rewards[0]).toMatchObject({ amount: 14.4 });
    // an older state delivered late (before r2 existed) does not take r2 back
    await send(wooOrder(n, 'completed', [r1], '2026-07-26T12:00:00'));
    t = await txn(`wc_order_${n}`);
    expect(t).toMatchObject({ refunded_amount: 8 });
    expect(t.rewards[0]).toMatchObject({ amount: 14.4 });
  });

  it('a full refund (status refunded) deleted: the order completed again is restored', async () => {
    const n = ++wooN;
    const r1 = { id: n * 10 + 1, total: '-80.00' };
    await send(wooOrder(n, 'completed', [], '2026-07-25T10:00:00'), wooOrder(n, 'refunded', [r1], '2026-07-26T10:00:00'));
    expect((await txn(`wc_order_${n}`)).deleted_reason).toBe('refunded');
    await send(wooOrder(n, 'completed', [], '2026-07-27T10:00:00'));
    const t = await txn(`wc_order_${n}`);
    expect(t).toMatchObject({ deleted_at: null, refunded_amount: 0, reduced_by: [] });
    expect(t.rewards[0]).toMatchObject({ amount: 16, deleted_at: null });
  });
});

// ---- clawback ----

describe('a restored refund cancels its clawback', () => {
  it('paid out, refunded in part (clawback), the refund fails: the clawback is gone from the balance', async () => {
    const p = `REV_C${randomBytes(2).toString('hex')}`;
    await partner(p);
    const s: Sale = { gateway: 'stripe', id: tag(), n: 0, amountMinor: 10_000n, currency: 'USD', partnerKey: p, customer: 70 };
    await send(paymentDelivery(s));
    const req = await api('POST', '/v1/payout_requests', { partner: { key: p } });
    expect(req.status).toBe(201);
    expect((await api('POST', `/v1/payout_requests/${req.body.data.id}/approve`)).status).toBe(200);
    expect((await api('POST', `/v1/payout_requests/${req.body.data.id}/mark_as_paid`, { reference: 'PP-R' })).status).toBe(200);

    await send(stripeRefund(s, `re_c${s.id}`, 5_000n, 'succeeded', 'refund.created', 1));
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '20', clawback: '10' }]);
    await send(stripeRefund(s, `re_c${s.id}`, 5_000n, 'failed', 'refund.failed', 2));
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '20', clawback: '0' }]);

    // a full refund after payout claws it all back; its reversal cancels that too, and the payment is back
    await send(stripeRefund(s, `re_d${s.id}`, 10_000n, 'succeeded', 'refund.created', 3));
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '20', clawback: '20' }]);
    await send(stripeRefund(s, `re_d${s.id}`, 10_000n, 'canceled', 'refund.updated', 4));
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '20', clawback: '0' }]);
    expect(await txn(`pi_${s.id}`)).toMatchObject({ deleted_at: null });
  });

  it('a clawback a later payout already netted: the reversal credits it back through the next request', async () => {
    const p = `REV_N${randomBytes(2).toString('hex')}`;
    await partner(p);
    const s: Sale = { gateway: 'stripe', id: tag(), n: 0, amountMinor: 10_000n, currency: 'USD', partnerKey: p, customer: 71 };
    const approve = async () => {
      const req = await api('POST', '/v1/payout_requests', { partner: { key: p } });
      expect(req.status).toBe(201);
      expect((await api('POST', `/v1/payout_requests/${req.body.data.id}/approve`)).status).toBe(200);
      return req.body.data;
    };
    await send(paymentDelivery(s));
    await approve();
    await send(stripeRefund(s, `re_n${s.id}`, 5_000n, 'succeeded', 'refund.created', 1));
    // a second sale (reward 20) paid out less the 10 owed back
    const s2: Sale = { ...s, id: tag() };
    await send(paymentDelivery(s2));
    const netted = await approve();
    expect(String(netted.amount)).toBe('10');
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '30', paid: '0', clawback: '0' }]);
    // the refund fails: the partner was netted 10 it did not owe; a credit says so
    await send(stripeRefund(s, `re_n${s.id}`, 5_000n, 'failed', 'refund.failed', 2));
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '30', paid: '0', clawback: '-10' }]);
    // the next request pays it: a third sale's 20 plus the 10 credited
    await send(paymentDelivery({ ...s, id: tag() }));
    const next = await api('POST', '/v1/payout_requests', { partner: { key: p } });
    expect(next.status).toBe(201);
    expect(String(next.body.data.amount)).toBe('30');
    expect(await balance(p)).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '60', paid: '0', clawback: '0' }]);
  });
});
