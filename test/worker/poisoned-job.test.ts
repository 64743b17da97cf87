// A poisoned job (one that makes the worker hang or throw) against statement and job timeouts: a
// statement that sleeps is cut by statement_timeout, a job that hangs anywhere fails at its deadline
// and is retried with backoff, a batch holding a poisoned job still books the others, and a job that
// failed for a reason of its own or stalled twice runs alone. The poison is a test-only trigger on this
// file's own database: production code knows nothing of it.
import { QueueEvents, UnrecoverableError, type Job } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramRules } from '../../src/core/program.js';
import { loadConfig } from '../../src/config.js';
import { connect, DEFAULT_STATEMENT_TIMEOUT_MS, runMigrations, type Database } from '../../src/db/client.js';
import type { EventOutcome, JobEvents } from '../../src/db/ledger.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { PaymentProducer } from '../../src/queue/producer.js';
import { PAYMENT_EVENTS_QUEUE } from '../../src/queue/queues.js';
import { producerConnection, workerConnection } from '../../src/queue/redis.js';
import { abortable, createPaymentWorker, DEFAULT_JOB_DEADLINE_MS, JobDeadlineError, PAYMENT_JOB_MAX_STALLS } from '../../src/queue/worker.js';
import { LedgerBatcher } from '../../src/worker/batcher.js';
import { paymentProcessor, runsAlone } from '../../src/worker/process-payment.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { count, createPartner, createProgram, payment } from '../support/ledger.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const HANG = 'hang@poison.example';
const THROW = 'throw@poison.example';
const key = { value: 'P1', place: 'stripe_charge_metadata' } as const;

let t: TestDatabase;
let program: ProgramRules;
/** Extra pools of this file (other statement timeouts), closed at the end. */
const pools: Database[] = [];
const pool = (statementTimeoutMs: number, max = 5) => {
  const d = connect(t.url, { max, statementTimeoutMs });
  pools.push(d);
  return d;
};

beforeAll(async () => {
  t = await createTestDatabase();
  program = await createProgram(t.db);
  await createPartner(t.db, program.id, 'P1');
  // the poison: a customer with one of these emails makes its insert sleep for a minute, or throw
  await t.db.execute(sql.raw(`
    create function test_poison() returns trigger language plpgsql as $$
    begin
      if new.email = '${HANG}' then perform pg_sleep(60); end if;
      if new.email = '${THROW}' then raise exception 'poisoned customer %', new.email; end if;
      return new;
    end $$;
    create trigger test_poison before insert on customers for each row execute function test_poison();`));
});
afterAll(async () => {
  // drop ... with (force) first: it ends whatever still sleeps, which closing a pool would wait for
  await t.drop();
  await Promise.all(pools.map((p) => p.close().catch(() => {})));
});

/** The SQLSTATE of an error from pg, or from drizzle (which wraps it). */
const sqlState = (e: unknown) => (e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code;

async function inboxRow(eventId: string) {
  const [row] = await t.db
    .insert(webhookEvents)
    .values({ programId: program.id, gateway: 'stripe', eventId, eventType: 'payment_intent.succeeded', rawBody: '{}', status: 'queued' })
    .returning();
  return row!;
}

const fakeJob = (over: Partial<Pick<Job, 'attemptsMade' | 'stalledCounter' | 'failedReason'>> = {}) =>
  ({ attemptsMade: 0, stalledCounter: 0, opts: { attempts: 10 }, ...over }) as unknown as Job<unknown>;

describe("the worker's PostgreSQL connections", () => {
  it('cut a statement that runs past DATABASE_STATEMENT_TIMEOUT_MS (SQLSTATE 57014)', async () => {
    const d = pool(300);
    const started = Date.now();
    const err = await d.pool.query('select pg_sleep(5)').then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(2500);
    // and the pool goes on
    expect((await d.pool.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
  });

  it('default to 30 s (DATABASE_STATEMENT_TIMEOUT_MS), and migrations lift it only while they run', async () => {
    const byDefault = connect(t.url, { max: 1 });
    pools.push(byDefault);
    expect((await byDefault.pool.query('show statement_timeout')).rows[0]).toEqual({ statement_timeout: '30s' });
    // the settings' defaults are the defaults of the pool and the worker, which the service hands them to
    expect(loadConfig({}).DATABASE_STATEMENT_TIMEOUT_MS).toBe(DEFAULT_STATEMENT_TIMEOUT_MS);
    expect(loadConfig({}).JOB_DEADLINE_MS).toBe(DEFAULT_JOB_DEADLINE_MS);
    const d = pool(300, 1);
    await runMigrations(d);
    expect((await d.pool.query('show statement_timeout')).rows[0]).toEqual({ statement_timeout: '300ms' });
  });
});

describe('a batch holding a poisoned job', () => {
  it('books every other job of the batch: the one that hangs is cut by the statement timeout, the one that throws is refused alone', async () => {
    const d = pool(500);
    const p = await createProgram(d.db);
    await createPartner(d.db, p.id, 'P1');
    const batcher = new LedgerBatcher(d.db, { maxSize: 50, maxInFlight: 1 });
    const jobs: JobEvents[] = Array.from({ length: 20 }, (_, i) => ({
      program: p,
      events: [payment({ customer: { id: `cus_pb${i}`, email: i === 7 ? HANG : i === 13 ? THROW : `b${i}@example.com` }, partnerKey: key })],
    }));
    const started = Date.now();
    const settled = await Promise.allSettled(jobs.map((j) => batcher.apply(j)));
    const seconds = (Date.now() - started) / 1000;
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(18);
    expect(settled.map((s) => (s.status === 'rejected' ? sqlState(s.reason) : 'ok'))).toEqual(
      // 57014: canceled by statement_timeout; P0001: raised by the trigger
      jobs.map((_, i) => (i === 7 ? '57014' : i === 13 ? 'P0001' : 'ok')),
    );
    expect(await count(d.db, transactions, p.id)).toBe(18);
    // the whole batch once, then the poisoned job alone: two statement timeouts, not a minute
    expect(seconds).toBeLessThan(5);
  });
});

describe('the payment processor', () => {
  it('writes a job that failed for a reason of its own, or stalled twice, alone, never in a batch', async () => {
    const batched: JobEvents[] = [];
    const processor = paymentProcessor({
      db: t.db,
      programs: (id) => loadProgramRules(t.db, id),
      clients: async () => null,
      apply: async (job): Promise<EventOutcome[]> => {
        batched.push(job);
        return [];
      },
    });
    const data = (i: number) => ({ programId: program.id, source: 'api' as const, events: [payment({ customer: { id: `cus_alone${i}` }, partnerKey: key })] });
    await processor(data(0), fakeJob());
    expect(batched).toHaveLength(1);
    expect(runsAlone(fakeJob({ attemptsMade: 1 }))).toBe(true);
    // one crash is any crash (a deploy, an OOM): those jobs go in batches again; twice is suspicious
    expect(runsAlone(fakeJob({ stalledCounter: 1 }))).toBe(false);
    expect(runsAlone(fakeJob({ stalledCounter: 2 }))).toBe(true);
    expect(runsAlone(fakeJob({ attemptsMade: 1, failedReason: 'database: canceling statement due to statement timeout (SQLSTATE 57014)' }))).toBe(true);
    expect(runsAlone(fakeJob({ attemptsMade: 2, failedReason: 'deadline: the job was still running after 120000 ms' }))).toBe(true);
    // the store was down: after an outage thousands of jobs retry, and go in batches again
    expect(runsAlone(fakeJob({ attemptsMade: 1, failedReason: 'database: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)' }))).toBe(false);
    expect(runsAlone(fakeJob({ attemptsMade: 1, failedReason: 'database: could not extend file: No space left on device (SQLSTATE 53100)' }))).toBe(false);
    expect(runsAlone(fakeJob({ attemptsMade: 1, failedReason: 'timeout exceeded when trying to connect' }))).toBe(false);
    expect(runsAlone(fakeJob({ attemptsMade: 1, failedReason: 'Connection terminated unexpectedly' }))).toBe(false);
    const retried = await processor(data(1), fakeJob({ attemptsMade: 1 }));
    const recovered = await processor(data(2), fakeJob({ stalledCounter: 2 }));
    expect(batched).toHaveLength(1);
    expect([retried[0]?.kind, recovered[0]?.kind]).toEqual(['payment', 'payment']);
  });

  it(`fails a job its worker died under ${PAYMENT_JOB_MAX_STALLS + 1} times, with the reason on its inbox row, without running it`, async () => {
    const row = await inboxRow('evt_died');
    const processor = paymentProcessor({ db: t.db, programs: (id) => loadProgramRules(t.db, id), clients: async () => null });
    const e = payment({ customer: { id: 'cus_died' }, partnerKey: key });
    const err = await processor({ programId: program.id, inboxId: row.id.toString(), source: 'webhook', events: [e] }, fakeJob({ stalledCounter: PAYMENT_JOB_MAX_STALLS + 1 })).catch(
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/worker died 6 times/);
    const [after] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, row.id));
    expect(after).toMatchObject({ status: 'failed', attempts: 1 });
    expect(after!.lastError).toMatch(/worker died 6 times/);
    expect((await t.db.select().from(transactions).where(eq(transactions.key, e.transactionKey))).length).toBe(0);
    // retried from the dashboard once the cause is fixed (BullMQ keeps the stall count): it runs, alone
    const retried = await processor(
      { programId: program.id, inboxId: row.id.toString(), source: 'webhook', events: [e] },
      fakeJob({ stalledCounter: PAYMENT_JOB_MAX_STALLS + 1, attemptsMade: 1, failedReason: (err as Error).message }),
    );
    expect(retried).toMatchObject([{ kind: 'payment', result: 'created' }]);
    // and if it kills the worker again, it is failed again
    await expect(
      processor({ programId: program.id, source: 'webhook', events: [e] }, fakeJob({ stalledCounter: PAYMENT_JOB_MAX_STALLS + 2, attemptsMade: 1, failedReason: (err as Error).message })),
    ).rejects.toThrow(/worker died 7 times/);
  });
});

describe('a job past its deadline (JOB_DEADLINE_MS)', () => {
  const prefix = testPrefix();
  const producerRedis = producerConnection(TEST_REDIS_URL);
  const workerRedis = workerConnection(TEST_REDIS_URL);
  // retries far apart: the retried job is still waiting for its next attempt when the test looks
  const producer = new PaymentProducer(producerRedis, prefix, { attempts: 3, backoffMs: 60_000 });
  const events = new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: { url: TEST_REDIS_URL }, prefix });
  let worker: ReturnType<typeof createPaymentWorker> | undefined;
  afterAll(async () => {
    await worker?.close(true);
    await events.close();
    await producer.close();
    producerRedis.disconnect();
    workerRedis.disconnect();
    await removePrefix(prefix);
  });

  it('fails it with the reason on the job and its inbox row, retries it with backoff, and the worker goes on', async () => {
    // no statement timeout on this pool: only the deadline can end the sleeping insert
    const d = pool(0);
    worker = createPaymentWorker({
      connection: workerRedis,
      prefix,
      concurrency: 4,
      logger: createLogger('silent'),
      deadlineMs: 700,
      process: paymentProcessor({ db: d.db, programs: (id) => loadProgramRules(d.db, id), clients: async () => null }),
    });
    void worker.run();
    await Promise.all([worker.waitUntilReady(), events.waitUntilReady(), producer.queue.waitUntilReady()]);
    const hangRow = await inboxRow('evt_deadline_hang');
    const goodRow = await inboxRow('evt_deadline_good');
    const hang = payment({ customer: { id: 'cus_deadline_hang', email: HANG }, partnerKey: key });
    const good = payment({ customer: { id: 'cus_deadline_good' }, partnerKey: key });
    const hangId = await producer.add({ programId: program.id, inboxId: hangRow.id.toString(), source: 'webhook', events: [hang] }, { gateway: 'stripe', eventId: 'evt_deadline_hang' });
    const goodId = await producer.add({ programId: program.id, inboxId: goodRow.id.toString(), source: 'webhook', events: [good] }, { gateway: 'stripe', eventId: 'evt_deadline_good' });
    await (await producer.queue.getJob(goodId))!.waitUntilFinished(events, 5000);
    const started = Date.now();
    let state = '';
    while (Date.now() - started < 5000) {
      state = await producer.queue.getJobState(hangId);
      if (state === 'delayed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const job = (await producer.queue.getJob(hangId))!;
    expect(state).toBe('delayed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/deadline: the job was still running after 700 ms/);
    const [row] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.id, hangRow.id));
    expect(row).toMatchObject({ status: 'queued', attempts: 1 });
    expect(row!.lastError).toMatch(/deadline/);
  });
});

describe('abortable', () => {
  it("settles with the signal's reason when it aborts, after the grace given", async () => {
    const c = new AbortController();
    const never = new Promise<never>(() => {});
    const started = Date.now();
    setTimeout(() => c.abort(new JobDeadlineError('late')), 50);
    await expect(abortable(never, c.signal, 100)).rejects.toThrow('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await expect(abortable(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
  });
});
