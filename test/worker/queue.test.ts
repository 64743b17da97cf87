// The worker end to end through BullMQ on the real Redis: enrich, retries, failures a person can read.
import { QueueEvents, type Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import type { ProgramRules } from '../../src/core/program.js';
import { applyEvents, matureRewards } from '../../src/db/ledger.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { rewards, transactions, webhookEvents } from '../../src/db/schema.js';
import { EnrichmentError, type LookupClient } from '../../src/gateways/gateway.js';
import { createLogger } from '../../src/logger.js';
import { PaymentProducer } from '../../src/queue/producer.js';
import { PAYMENT_EVENTS_QUEUE, PAYMENT_JOB_ATTEMPTS, paymentJobOptions } from '../../src/queue/queues.js';
import { producerConnection, workerConnection } from '../../src/queue/redis.js';
import { createPaymentWorker } from '../../src/queue/worker.js';
import { paymentProcessor } from '../../src/worker/process-payment.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { count, createPartner, createProgram, payment, stored } from '../support/ledger.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const prefix = testPrefix();
let t: TestDatabase;
let program: ProgramRules;
const producerRedis = producerConnection(TEST_REDIS_URL);
const workerRedis = workerConnection(TEST_REDIS_URL);
const producer = new PaymentProducer(producerRedis, prefix);
const events = new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: { url: TEST_REDIS_URL }, prefix });

/** A stand-in for a gateway's API: what each object holds, and how many times it should fail first. */
const objects = new Map<string, { partnerKey?: string; email?: string }>();
let failuresLeft = 0;
let lookups: string[] = [];
const fakeStripe: LookupClient = {
  async lookup(l) {
    lookups.push(`${l.object}:${l.id}`);
    if (failuresLeft > 0) {
      failuresLeft--;
      throw new EnrichmentError('partner lookup: Stripe API 503', true);
    }
    return objects.get(l.id) ?? null;
  },
};
let worker: ReturnType<typeof createPaymentWorker>;

beforeAll(async () => {
  t = await createTestDatabase();
  program = await createProgram(t.db);
  await createPartner(t.db, program.id, 'ptn_lumen_5e0a');
  worker = createPaymentWorker({
    connection: workerRedis,
    prefix,
    concurrency: 8,
    logger: createLogger('silent'),
    process: paymentProcessor({
      db: t.db,
      programs: (id) => loadProgramRules(t.db, id),
      clients: async (_programId, gateway) => (gateway === 'stripe' ? fakeStripe : null),
    }),
  });
  void worker.run();
  await Promise.all([worker.waitUntilReady(), events.waitUntilReady(), producer.queue.waitUntilReady()]);
});
afterAll(async () => {
  await worker.close();
  await events.close();
  await producer.close();
  producerRedis.disconnect();
  workerRedis.disconnect();
  await removePrefix(prefix);
  await t.drop();
});

async function inbox(eventId: string) {
  const [row] = await t.db
    .insert(webhookEvents)
    .values({ programId: program.id, gateway: 'stripe', eventId, eventType: 'charge.succeeded', rawBody: '{}', status: 'queued' })
    .returning();
  return row!;
}

async function run(e: PaymentEventInput, opts: { inboxId?: string; attempts?: number; jobId?: string } = {}) {
  const job = await producer.queue.add(
    'stripe',
    { programId: program.id, source: 'webhook', inboxId: opts.inboxId, events: [e] },
    { attempts: opts.attempts ?? 3, backoff: { type: 'fixed', delay: 30 }, jobId: opts.jobId },
  );
  return job as Job;
}

describe('the payment worker', () => {
  it('finds the partner key on the customer through the gateway API, in order, and explains it', async () => {
    objects.set('sub_1', {});
    objects.set('cus_SXa9Pf3eKw7VbM', { partnerKey: 'ptn_lumen_5e0a', email: 'lumen.buyer@example.com' });
    lookups = [];
    const row = await inbox('evt_enrich');
    const e = payment({
      eventId: 'evt_enrich',
      customer: { id: 'cus_SXa9Pf3eKw7VbM' },
      lookups: [
        { gateway: 'stripe', object: 'subscription', id: 'sub_missing', place: 'stripe_subscription_metadata' },
        { gateway: 'stripe', object: 'subscription', id: 'sub_1', place: 'stripe_subscription_metadata' },
        { gateway: 'stripe', object: 'customer', id: 'cus_SXa9Pf3eKw7VbM', place: 'stripe_customer_metadata' },
      ],
    });
    const job = await run(e, { inboxId: String(row.id) });
    await job.waitUntilFinished(events, 10_000);
    expect(lookups).toEqual(['subscription:sub_missing', 'subscription:sub_1', 'customer:cus_SXa9Pf3eKw7VbM']);
    const s = await stored(t.db, program.id, e.transactionKey);
    expect(s?.partnerKey).toBe('ptn_lumen_5e0a');
    expect(s?.attribution).toMatchObject({
      partner_key_place: 'stripe_customer_metadata',
      lookups: [
        { place: 'stripe_subscription_metadata', id: 'sub_missing', result: 'not_found' },
        { place: 'stripe_subscription_metadata', id: 'sub_1', result: 'no_key' },
        { place: 'stripe_customer_metadata', id: 'cus_SXa9Pf3eKw7VbM', result: 'found' },
      ],
    });
    const [after] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, row.id));
    expect(after?.status).toBe('processed');
    expect(after?.outcome).toEqual([
      { kind: 'payment', result: 'created', transactionKey: e.transactionKey, rewards: 1, reason: null },
    ]);
  });

  it('stops looking at the first place that has the key', async () => {
    objects.set('sub_hit', { partnerKey: 'ptn_lumen_5e0a' });
    lookups = [];
    const e = payment({
      customer: { id: 'cus_stop', email: 'has@example.com' },
      lookups: [
        { gateway: 'stripe', object: 'subscription', id: 'sub_hit', place: 'stripe_subscription_metadata' },
        { gateway: 'stripe', object: 'customer', id: 'cus_stop', place: 'stripe_customer_metadata' },
      ],
    });
    await (await run(e)).waitUntilFinished(events, 10_000);
    expect(lookups).toEqual(['subscription:sub_hit']);
  });

  it('retries a gateway API outage with backoff, then succeeds', async () => {
    objects.set('cus_retry', { partnerKey: 'ptn_lumen_5e0a' });
    failuresLeft = 2;
    const row = await inbox('evt_retry');
    const e = payment({
      eventId: 'evt_retry',
      customer: { id: 'cus_retry' },
      lookups: [{ gateway: 'stripe', object: 'customer', id: 'cus_retry', place: 'stripe_customer_metadata' }],
    });
    const job = await run(e, { inboxId: String(row.id), attempts: 3 });
    await job.waitUntilFinished(events, 10_000);
    expect((await stored(t.db, program.id, e.transactionKey))?.partnerKey).toBe('ptn_lumen_5e0a');
    const [after] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, row.id));
    expect(after).toMatchObject({ status: 'processed', attempts: 3, lastError: null });
  });

  it('after the retry budget the job stays failed, with the reason on the inbox row, for replay', async () => {
    failuresLeft = 100;
    const row = await inbox('evt_down');
    const e = payment({
      eventId: 'evt_down',
      customer: { id: 'cus_down' },
      lookups: [{ gateway: 'stripe', object: 'customer', id: 'cus_down', place: 'stripe_customer_metadata' }],
    });
    const job = await run(e, { inboxId: String(row.id), attempts: 3 });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(
      'partner lookup: Stripe API 503 (after 3 attempts)',
    );
    failuresLeft = 0;
    const [after] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, row.id));
    expect(after).toMatchObject({ status: 'failed', attempts: 3, lastError: 'partner lookup: Stripe API 503 (after 3 attempts)' });
    expect(await stored(t.db, program.id, e.transactionKey)).toBeNull();
    expect(await producer.queue.getJobState(job.id!)).toBe('failed');

    // retried from the failed set (as the dashboard does) once the API is back, it processes for real
    objects.set('cus_down', { partnerKey: 'ptn_lumen_5e0a' });
    const failed = (await producer.queue.getJob(job.id!))!;
    await failed.retry();
    await failed.waitUntilFinished(events, 10_000);
    expect((await stored(t.db, program.id, e.transactionKey))?.partnerKey).toBe('ptn_lumen_5e0a');
  });

  it('bad data fails once, unrecoverably, with a readable reason and nothing written', async () => {
    const row = await inbox('evt_bad');
    const e = payment({ eventId: 'evt_bad', amount: { minor: '100', currency: 'ZZZ' } });
    const job = await run(e, { inboxId: String(row.id), attempts: 5 });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow('payload: unknown currency code "ZZZ"');
    expect((await producer.queue.getJob(job.id!))?.attemptsMade).toBe(1);
    const [after] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, row.id));
    expect(after).toMatchObject({ status: 'failed', attempts: 1, lastError: 'payload: unknown currency code "ZZZ"' });
    expect(await stored(t.db, program.id, e.transactionKey)).toBeNull();
  });

  it('five deliveries of one event as separate jobs, concurrently, make one transaction', async () => {
    const p = await createProgram(t.db);
    await createPartner(t.db, p.id, 'P1');
    const e = payment({ customer: { id: 'cus_five' }, partnerKey: { value: 'P1', place: 'stripe_charge_metadata' } });
    const jobs = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        producer.queue.add('stripe', { programId: p.id, source: 'webhook', events: [e] }, { jobId: `five-${i}` }),
      ),
    );
    await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 10_000)));
    expect(await count(t.db, transactions, p.id)).toBe(1);
    expect(await count(t.db, rewards, p.id)).toBe(1);
  });
});

describe('retry policy and review periods', () => {
  it('transient failures get at least 8 attempts spread over at least an hour', () => {
    expect(PAYMENT_JOB_ATTEMPTS).toBeGreaterThanOrEqual(8);
    const { delay } = paymentJobOptions.backoff;
    let total = 0;
    for (let retry = 1; retry < PAYMENT_JOB_ATTEMPTS; retry++) total += delay * 2 ** (retry - 1);
    expect(total).toBeGreaterThanOrEqual(3600_000);
    expect(paymentJobOptions.removeOnFail).toMatchObject({ age: expect.any(Number) });
  });

  it('rewards leave the review period when it ends; held ones wait for their dispute', async () => {
    const p = await createProgram(t.db, { reviewPeriodDays: 7 });
    await createPartner(t.db, p.id, 'P1');
    const now = new Date('2026-11-10T00:00:00Z');
    const a = payment({ occurredAt: '2026-11-05T00:00:00Z', customer: { id: 'cus_rv' }, partnerKey: { value: 'P1', place: 'api_partner' }, aliases: ['ch_rv_a'] });
    const b = payment({ occurredAt: '2026-11-05T00:00:00Z', customer: { id: 'cus_rv' }, aliases: ['ch_rv_b'] });
    await applyEvents(t.db, p, [a, b], { now });
    await applyEvents(t.db, p, [{ kind: 'dispute', gateway: 'stripe', eventId: 'evt_dp_rv', eventType: 'charge.dispute.created', occurredAt: '2026-11-06T00:00:00Z', disputeId: 'dp_rv', paymentRefs: ['ch_rv_b'], status: 'opened' }], { now });
    expect(await matureRewards(t.db, new Date('2026-11-11T23:59:59Z'))).toBe(0);
    expect(await matureRewards(t.db, new Date('2026-11-12T00:00:00Z'))).toBe(1);
    expect((await stored(t.db, p.id, a.transactionKey))?.rewards[0]?.status).toBe('ok');
    expect((await stored(t.db, p.id, b.transactionKey))?.rewards[0]?.status).toBe('review_period');
  });
});
