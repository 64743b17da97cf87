// Outbound webhooks against the real PostgreSQL and Redis: the outbox is written only by committed
// transactions, dispatched once however many dispatchers run, lost jobs are queued again, each
// attempt is recorded, and a subscription failing for 5 days is disabled (an injected clock).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { emit, type OutboundEvent } from '../../src/db/outbox.js';
import { outbox, webhookDeliveries, webhookSubscriptions } from '../../src/db/schema.js';
import { OUTBOUND_RETRY_SCHEDULE_MS, OUTBOUND_WEBHOOKS_QUEUE, outboundJobId, type OutboundJobData } from '../../src/queue/queues.js';
import { disableIfFailing } from '../../src/db/subscription-health.js';
import { processDelivery, type DeliveryJob } from '../../src/worker/outbound-delivery.js';
import { dispatchOutbox, requeuePending } from '../../src/worker/outbound-dispatcher.js';
import { sendSigned } from '../../src/outbound/send.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { createPartner, createProgram, payment } from '../support/ledger.js';
import { removePrefix, testPrefix } from '../support/redis.js';

let t: TestDatabase;
let redis: Redis;
let queue: Queue<OutboundJobData>;
const prefix = testPrefix();
let answer = 200;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(answer).end();
  });
});
let receiverUrl = '';

beforeAll(async () => {
  t = await createTestDatabase();
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue<OutboundJobData>(OUTBOUND_WEBHOOKS_QUEUE, { connection: redis, prefix });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await removePrefix(prefix);
  await t?.drop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});
beforeEach(async () => {
  // each test starts from an empty queue and an outbox with nothing left to dispatch
  await queue.obliterate({ force: true });
  await t.db.execute(sql`update outbox set dispatched_at = now() where dispatched_at is null`);
  received.length = 0;
  answer = 200;
});

async function subscribe(programId: string, events: OutboundEvent[], over: Partial<typeof webhookSubscriptions.$inferInsert> = {}) {
  const [row] = await t.db
    .insert(webhookSubscriptions)
    .values({ programId, key: `wh_${Math.random().toString(36).slice(2)}`, url: receiverUrl, events, secret: 'whsec_test', ...over })
    .returning();
  return row!;
}

const deliveriesOf = (subscriptionId: string) =>
  t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.subscriptionId, subscriptionId)).orderBy(webhookDeliveries.id);

describe('the outbox', () => {
  it('a job whose second event fails writes nothing at all: no outbox row, nothing dispatched', async () => {
    const program = await createProgram(t.db);
    await subscribe(program.id, ['transaction.created', 'customer.created']);
    const good = payment({ customer: { id: 'cus_atomic' } });
    const bad = payment({ customer: { id: 'cus_atomic' }, amount: { minor: '100', currency: 'ZZZ' } });
    await expect(applyEvents(t.db, program, [good, bad])).rejects.toThrow(/unknown currency code "ZZZ"/);
    expect(await t.db.select().from(outbox).where(eq(outbox.programId, program.id))).toEqual([]);
    expect(await dispatchOutbox(t.db, queue)).toEqual({ events: 0, deliveries: 0 });
    // the same payment alone commits, and announces itself
    await applyEvents(t.db, program, [good]);
    const rows = await t.db.select().from(outbox).where(eq(outbox.programId, program.id));
    expect(rows.map((r) => r.event).sort()).toEqual(['customer.created', 'transaction.created']);
  });

  it('is written only for programs with an active subscription to the event', async () => {
    const program = await createProgram(t.db);
    await subscribe(program.id, ['partner.created'], { isActive: false });
    await subscribe(program.id, ['partner.created'], { deletedAt: new Date() });
    await subscribe(program.id, ['partner.updated']);
    await t.db.transaction((tx) => emit(tx, program.id, [{ event: 'partner.created', entityKey: 'P1' }]));
    expect(await t.db.select().from(outbox).where(eq(outbox.programId, program.id))).toEqual([]);
  });
});

describe('the dispatcher', () => {
  it('makes one delivery per matching subscription and one job per delivery, once', async () => {
    const program = await createProgram(t.db);
    const all = await subscribe(program.id, ['partner.created', 'partner.updated']);
    const some = await subscribe(program.id, ['partner.updated']);
    await subscribe(program.id, ['partner.created'], { isActive: false });
    const other = await createProgram(t.db);
    const theirs = await subscribe(other.id, ['partner.created']);
    await t.db.transaction(async (tx) => {
      await emit(tx, program.id, [
        { event: 'partner.created', entityKey: 'P1' },
        { event: 'partner.updated', entityKey: 'P1' },
      ]);
      await emit(tx, other.id, [{ event: 'partner.created', entityKey: 'Q1' }]);
    });
    expect(await dispatchOutbox(t.db, queue)).toEqual({ events: 3, deliveries: 4 });
    expect((await deliveriesOf(all.id)).map((d) => [d.event, d.status])).toEqual([
      ['partner.created', 'pending'],
      ['partner.updated', 'pending'],
    ]);
    expect((await deliveriesOf(some.id)).map((d) => d.event)).toEqual(['partner.updated']);
    expect((await deliveriesOf(theirs.id)).map((d) => d.event)).toEqual(['partner.created']);
    const jobs = await queue.getJobs(['waiting', 'prioritized']);
    const ids = [...(await deliveriesOf(all.id)), ...(await deliveriesOf(some.id)), ...(await deliveriesOf(theirs.id))].map((d) => outboundJobId(d.id));
    expect(jobs.map((j) => j.id).sort()).toEqual(ids.sort());
    expect(jobs.every((j) => !String(j.id).includes(':'))).toBe(true);
    expect(await dispatchOutbox(t.db, queue)).toEqual({ events: 0, deliveries: 0 });
  });

  it('several dispatchers at once dispatch every row exactly once', async () => {
    const program = await createProgram(t.db);
    const sub = await subscribe(program.id, ['partner.created']);
    await t.db.transaction((tx) =>
      emit(
        tx,
        program.id,
        Array.from({ length: 60 }, (_, i) => ({ event: 'partner.created' as const, entityKey: `P${i}` })),
      ),
    );
    const results = await Promise.all(Array.from({ length: 5 }, () => (async () => {
      let n = 0;
      for (;;) {
        const r = await dispatchOutbox(t.db, queue, { batchSize: 7 });
        if (!r.events) return n;
        n += r.events;
      }
    })()));
    expect(results.reduce((a, b) => a + b, 0)).toBe(60);
    const deliveries = await deliveriesOf(sub.id);
    expect(deliveries).toHaveLength(60);
    expect(new Set(deliveries.map((d) => d.outboxId)).size).toBe(60);
    expect(await queue.getJobCountByTypes('waiting', 'prioritized')).toBe(60);
    const [left] = await t.db.select({ n: sql<number>`count(*)::int` }).from(outbox).where(and(eq(outbox.programId, program.id), sql`dispatched_at is null`));
    expect(left?.n).toBe(0);
  });

  it('queues again a pending delivery whose job was lost (a crash between commit and queueing)', async () => {
    const program = await createProgram(t.db);
    const sub = await subscribe(program.id, ['partner.created']);
    await t.db.transaction((tx) => emit(tx, program.id, [{ event: 'partner.created', entityKey: 'P1' }]));
    await dispatchOutbox(t.db, queue);
    const [d] = await deliveriesOf(sub.id);
    // the job is lost, and time passes
    await (await queue.getJob(outboundJobId(d!.id)))!.remove();
    expect(await requeuePending(t.db, queue, { olderThanSeconds: 30 })).toBe(0);
    await t.db.update(webhookDeliveries).set({ createdAt: new Date(Date.now() - 60_000) }).where(eq(webhookDeliveries.id, d!.id));
    expect(await requeuePending(t.db, queue, { olderThanSeconds: 30 })).toBe(1);
    expect(await queue.getJob(outboundJobId(d!.id))).toBeTruthy();
    // the job exists now: nothing more to do
    expect(await requeuePending(t.db, queue, { olderThanSeconds: 30 })).toBe(0);
  });
});

describe('an attempt', () => {
  const job = (deliveryId: bigint, attemptsMade: number): DeliveryJob =>
    ({ id: outboundJobId(deliveryId), data: { deliveryId: deliveryId.toString() }, attemptsMade, opts: { attempts: 8 } }) as DeliveryJob;
  const deps = (now: Date) => ({ db: t.db, policy: { allowLoopback: true }, schedule: OUTBOUND_RETRY_SCHEDULE_MS, now: () => now });

  async function oneDelivery(event: OutboundEvent = 'partner.created') {
    const program = await createProgram(t.db);
    await createPartner(t.db, program.id, 'P1');
    const sub = await subscribe(program.id, [event]);
    await t.db.transaction((tx) => emit(tx, program.id, [{ event, entityKey: 'P1' }]));
    await dispatchOutbox(t.db, queue);
    const [d] = await deliveriesOf(sub.id);
    return { program, sub, delivery: d! };
  }

  it('records a failure and when the schedule retries it; the last failure is final', async () => {
    const { delivery } = await oneDelivery();
    answer = 500;
    const now = new Date();
    await expect(processDelivery(deps(now), job(delivery.id, 0))).rejects.toThrow(/HTTP 500/);
    let [d] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, delivery.id));
    expect(d).toMatchObject({ status: 'retrying', attempts: 1, responseCode: 500, lastError: 'HTTP 500' });
    expect(d!.nextRetryAt?.getTime()).toBe(now.getTime() + 5_000);
    expect(d!.durationMs).toBeGreaterThanOrEqual(0);
    await expect(processDelivery(deps(now), job(delivery.id, 3))).rejects.toThrow(/HTTP 500/);
    [d] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, delivery.id));
    expect(d!.nextRetryAt?.getTime()).toBe(now.getTime() + 2 * 3600_000);
    await expect(processDelivery(deps(now), job(delivery.id, 7))).rejects.toThrow(/HTTP 500/);
    [d] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, delivery.id));
    expect(d).toMatchObject({ status: 'failed', attempts: 3, nextRetryAt: null });
    answer = 200;
    expect(await processDelivery(deps(now), job(delivery.id, 0))).toEqual({ status: 'delivered', responseCode: 200 });
    [d] = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, delivery.id));
    expect(d).toMatchObject({ status: 'delivered', attempts: 4, responseCode: 200, lastError: null, nextRetryAt: null });
    // a delivered delivery is not sent again by a stray job
    expect(await processDelivery(deps(now), job(delivery.id, 0))).toEqual({ status: 'delivered' });
    expect(received).toHaveLength(4);
    expect(new Set(received.map((r) => r.headers['x-partner-ledger-delivery']))).toEqual(new Set([outboundJobId(delivery.id)]));
  });

  it('is cancelled, not sent, when the subscription was turned off meanwhile', async () => {
    const { sub, delivery } = await oneDelivery();
    await t.db.update(webhookSubscriptions).set({ isActive: false }).where(eq(webhookSubscriptions.id, sub.id));
    expect(await processDelivery(deps(new Date()), job(delivery.id, 0))).toEqual({ status: 'cancelled' });
    expect(received).toHaveLength(0);
    const [d] = await deliveriesOf(sub.id);
    expect(d).toMatchObject({ status: 'cancelled', lastError: 'not sent: the subscription is inactive' });
  });

  it('disables a subscription whose deliveries have all failed for 5 days (injected clock)', async () => {
    const { sub, delivery } = await oneDelivery();
    answer = 503;
    const first = new Date('2026-11-01T00:00:00Z');
    await t.db.update(webhookDeliveries).set({ createdAt: first }).where(eq(webhookDeliveries.id, delivery.id));
    const day = 24 * 3600_000;
    // failing for 4 days: still on
    await expect(processDelivery(deps(new Date(first.getTime() + 4 * day)), job(delivery.id, 0))).rejects.toThrow(/HTTP 503/);
    expect(await disableIfFailing(t.db, sub.id, new Date(first.getTime() + 4 * day))).toBe(false);
    let [s] = await t.db.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.id, sub.id));
    expect(s).toMatchObject({ isActive: true, disabledAt: null });
    // a success (another delivery, a day later) starts the count again
    const later = new Date(first.getTime() + day);
    const [row] = await t.db.insert(outbox).values({ programId: sub.programId, event: 'partner.created', entityKey: 'P1', dispatchedAt: later }).returning();
    await t.db.insert(webhookDeliveries).values({ subscriptionId: sub.id, outboxId: row!.id, event: 'partner.created', status: 'delivered', createdAt: later, deliveredAt: later });
    expect(await disableIfFailing(t.db, sub.id, new Date(first.getTime() + 6 * day))).toBe(false);
    // failures since then, for 5 days: the next failed attempt disables and flags it
    const [row2] = await t.db.insert(outbox).values({ programId: sub.programId, event: 'partner.created', entityKey: 'P1', dispatchedAt: later }).returning();
    const [failing] = await t.db
      .insert(webhookDeliveries)
      .values({ subscriptionId: sub.id, outboxId: row2!.id, event: 'partner.created', status: 'failed', createdAt: new Date(later.getTime() + 3600_000) })
      .returning();
    const at = new Date(later.getTime() + 5 * day + 2 * 3600_000);
    await expect(processDelivery(deps(at), job(failing!.id, 0))).rejects.toThrow(/HTTP 503/);
    [s] = await t.db.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.id, sub.id));
    expect(s).toMatchObject({ isActive: false, disabledAt: at });
    expect(s!.disabledReason).toMatch(/^every delivery since 2026-11-02T01:00:00.000Z failed \(last: HTTP 503\); disabled after 5 days$/);
    // and the outbox stops collecting events for it
    await t.db.transaction((tx) => emit(tx, sub.programId, [{ event: 'partner.created', entityKey: 'P2' }]));
    expect(await t.db.select().from(outbox).where(and(eq(outbox.programId, sub.programId), eq(outbox.entityKey, 'P2')))).toEqual([]);
  });
});

describe('one POST', () => {
  const slow = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/redirect') res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    // otherwise: never answers
  });
  let slowBase = '';
  beforeAll(async () => {
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    slowBase = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  });
  const send = (url: string, timeoutMs = 10_000) =>
    sendSigned({ url, secret: 's', body: '{}', id: 'whd-1', event: 'partner.created', policy: { allowLoopback: true }, timeoutMs });

  it('gives up after the time limit (10 s in production), with no status', async () => {
    const r = await send(`${slowBase}/hang`, 300);
    expect(r).toMatchObject({ ok: false, status: null, error: 'timed out after 0.3 s' });
    expect(r.durationMs).toBeGreaterThanOrEqual(290);
  });

  it('does not follow a redirect: a 3xx is a failed attempt', async () => {
    expect(await send(`${slowBase}/redirect`)).toMatchObject({ ok: false, status: 302, error: 'HTTP 302' });
  });

  it('reports a receiver that is not there', async () => {
    const r = await send('http://127.0.0.1:1/nothing');
    expect(r).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/ECONNREFUSED/) });
  });
});
