// GET /metrics (Prometheus text) after real webhook traffic on the real PostgreSQL and Redis:
// deliveries by gateway and outcome, acknowledgement latency, queue sizes read from BullMQ at scrape
// time, job durations by outcome, enrich calls, rewards created and reversed.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/queues.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { freePort } from '../support/ports.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_metrics_test';
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

function variant(name: string, suffix: string, change?: (e: any) => void): { body: Buffer; id: string } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = fixture('stripe', name)
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in|re|dp|sub|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  change?.(event);
  return { body: Buffer.from(JSON.stringify(event)), id: event.id };
}
const signed = (body: Buffer, secret = SECRET) => ({ 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret }) });

async function scrape(url = svc.url): Promise<{ text: string; value(name: string, labels?: Record<string, string>): number | undefined }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return {
    text,
    value(name, labels = {}) {
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = (m[2] ?? '').split(',').filter(Boolean);
        if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
      }
      return undefined;
    },
  };
}

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  svc = await startTestService({ STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_metrics', STRIPE_API_BASE: api.url }, { paymentJobs: { attempts: 2, backoffMs: 10 } });
  await createPartner(svc.db.db, svc.programId, 'ptn_metrics');
  const s = randomBytes(3).toString('hex');
  const deliver = async (v: { body: Buffer; id: string }, expected = 200) => {
    expect((await svc.post('/webhooks/stripe', v.body, signed(v.body))).status).toBe(expected);
  };

  // a payment with its partner on it (49.00: reward 9.8), then a partial and a full refund of it
  const pay = variant('payment_intent.succeeded.json', `p${s}`, (e) => (e.data.object.metadata = { partner_key: 'ptn_metrics' }));
  await deliver(pay);
  await svc.settled('stripe', pay.id);
  await deliver(pay); // a redelivery
  const partial = variant('charge.refunded.partial.json', `p${s}`);
  await deliver(partial);
  await svc.settled('stripe', partial.id);
  const full = variant('charge.refunded.partial.json', `p${s}`, (e) => {
    e.id = `evt_full${s}`;
    Object.assign(e.data.object, { amount_refunded: 4900, refunded: true });
  });
  await deliver(full);
  await svc.settled('stripe', full.id);
  // a payment whose key is on the Stripe customer: one API call, found
  objects.set(`cus_m${s}`, { id: `cus_m${s}`, object: 'customer', email: 'm@example.com', metadata: { partner_key: 'ptn_metrics' } });
  const lookup = variant('charge.succeeded.2024-06-20.json', `l${s}`, (e) => Object.assign(e.data.object, { invoice: null, customer: `cus_m${s}` }));
  await deliver(lookup);
  await svc.settled('stripe', lookup.id);
  // the same while Stripe is down: two attempts, then failed
  objects.set(`cus_d${s}`, { id: `cus_d${s}`, object: 'customer', metadata: {} });
  const down = variant('charge.succeeded.2024-06-20.json', `d${s}`, (e) => Object.assign(e.data.object, { invoice: null, customer: `cus_d${s}` }));
  api.outage = 503;
  await deliver(down);
  expect((await svc.settled('stripe', down.id)).status).toBe('failed');
  api.outage = null;
  // ignored, forged, unknown gateway
  await deliver(variant('payment_method.attached.ignore.json', `i${s}`));
  const forged = variant('payment_intent.succeeded.json', `x${s}`);
  expect((await svc.post('/webhooks/stripe', forged.body, signed(forged.body, 'whsec_forged'))).status).toBe(400);
  expect((await svc.post('/webhooks/paypal', '{}')).status).toBe(404);
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('GET /metrics', () => {
  it('counts webhooks by gateway and outcome, and times their acknowledgement', async () => {
    const m = await scrape();
    expect(m.value('partner_ledger_webhooks_total', { gateway: 'stripe', outcome: 'queued' })).toBe(5);
    expect(m.value('partner_ledger_webhooks_total', { gateway: 'stripe', outcome: 'duplicate' })).toBe(1);
    expect(m.value('partner_ledger_webhooks_total', { gateway: 'stripe', outcome: 'ignored' })).toBe(1);
    expect(m.value('partner_ledger_webhooks_total', { gateway: 'stripe', outcome: 'rejected' })).toBe(1);
    expect(m.value('partner_ledger_webhook_rejections_total', { gateway: 'stripe', code: 'invalid_signature' })).toBe(1);
    // a gateway nobody has is one label value, whatever the path said
    expect(m.value('partner_ledger_webhooks_total', { gateway: 'unknown', outcome: 'not_found' })).toBe(1);
    expect(m.text).not.toContain('paypal');
    expect(m.value('partner_ledger_webhook_ack_seconds_count', { gateway: 'stripe' })).toBe(8);
    expect(m.value('partner_ledger_webhook_ack_seconds_bucket', { gateway: 'stripe', le: '+Inf' })).toBe(8);
  });

  it('reads queue sizes from BullMQ at scrape time, for every queue', async () => {
    const m = await scrape();
    for (const queue of QUEUE_NAMES) {
      for (const state of ['waiting', 'active', 'failed', 'delayed']) expect(m.value('partner_ledger_queue_jobs', { queue, state }), `${queue} ${state}`).toBeTypeOf('number');
      expect(m.value('partner_ledger_queue_up', { queue })).toBe(1);
    }
    expect(m.value('partner_ledger_queue_jobs', { queue: 'payment-events', state: 'failed' })).toBe(1);
    // which store the queues are in (QUEUE_BACKEND, decided at start)
    expect(m.value('partner_ledger_queue_backend', { backend: 'redis' })).toBe(1);
    // a job added now shows at the next scrape
    await svc.service.producer!.queue.add('test delayed', { programId: svc.programId, source: 'api', events: [] } as never, { delay: 60_000, jobId: 'metrics-delayed' });
    expect((await scrape()).value('partner_ledger_queue_jobs', { queue: 'payment-events', state: 'delayed' })).toBe(1);
    await (await svc.service.producer!.queue.getJob('metrics-delayed'))!.remove();
  });

  it('times jobs by outcome and counts enrich calls, rewards created and reversed', async () => {
    const m = await scrape();
    expect(m.value('partner_ledger_job_duration_seconds_count', { queue: 'payment-events', outcome: 'completed' })).toBe(4);
    expect(m.value('partner_ledger_job_duration_seconds_count', { queue: 'payment-events', outcome: 'retry' })).toBe(1);
    expect(m.value('partner_ledger_job_duration_seconds_count', { queue: 'payment-events', outcome: 'failed' })).toBe(1);
    expect(m.value('partner_ledger_enrich_calls_total', { gateway: 'stripe', status: 'found' })).toBe(1);
    expect(m.value('partner_ledger_enrich_calls_total', { gateway: 'stripe', status: 'transient_error' })).toBe(2);
    expect(m.value('partner_ledger_rewards_created_total', { gateway: 'stripe' })).toBe(2);
    expect(m.value('partner_ledger_rewards_reversed_total', { gateway: 'stripe', reason: 'partial_refund' })).toBe(1);
    expect(m.value('partner_ledger_rewards_reversed_total', { gateway: 'stripe', reason: 'refund' })).toBe(1);
    expect(m.text).toContain('process_cpu_user_seconds_total');
  });

  it('says the queue counts are missing when Redis does not answer', async () => {
    const connection = (svc.service.producer as unknown as { connection: Redis }).connection;
    // closed for good before the scrape: disconnect() only starts closing, and a reconnect made while
    // the status still reads "ready" would be undone by the close that follows
    const ended = new Promise((r) => connection.once('end', r));
    connection.disconnect();
    await ended;
    try {
      const m = await scrape();
      expect(m.value('partner_ledger_queue_up', { queue: 'payment-events' })).toBe(0);
      expect(m.value('partner_ledger_queue_jobs', { queue: 'payment-events', state: 'failed' })).toBeUndefined();
      expect(m.value('partner_ledger_webhooks_total', { gateway: 'stripe', outcome: 'queued' })).toBe(5);
    } finally {
      // BullMQ may have started the reconnect already
      if (connection.status === 'end' || connection.status === 'close') await connection.connect().catch(() => {});
      if (connection.status !== 'ready') await new Promise((r) => connection.once('ready', r));
    }
    await expect.poll(async () => (await scrape()).value('partner_ledger_queue_up', { queue: 'payment-events' }), { timeout: 15_000, interval: 200 }).toBe(1);
  });

  it('a worker-only process serves its own metrics on METRICS_PORT', async () => {
    const port = await freePort();
    const worker = await startTestService({ PROCESS_ROLE: 'worker', METRICS_PORT: String(port) });
    try {
      const m = await scrape(`http://127.0.0.1:${port}`);
      expect(m.text).toContain('partner_ledger_job_duration_seconds');
      expect(m.text).not.toContain('partner_ledger_queue_jobs{');
    } finally {
      await worker.stop();
    }
  });
});
