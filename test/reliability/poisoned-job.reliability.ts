// A poisoned job: one event that makes the worker hang or throw, among hundreds of good ones. The
// poison is a test-only trigger on the scenario's own database (a customer with one of these emails
// makes its insert sleep for ten minutes, or raise an exception): production code knows nothing of it.
//
// 1. Real processes (API + worker) with DATABASE_STATEMENT_TIMEOUT_MS=2000 and JOB_DEADLINE_MS=20000:
//    every good event is booked while the poisoned ones fail and wait for their retry; once the
//    poison is gone (the trigger dropped: the data or the code fixed), they are booked too.
// 2. The worker dies under the poisoned job, again and again (a job that OOMs its process): workers
//    in this process, with short BullMQ locks so a crash comes back in seconds, each "crashed" when the
//    poison has hung for a second. The good jobs that shared its batch are booked, never failed by
//    BullMQ's stalled-job limit; the poisoned one is failed with a reason on its job and inbox row.
import { randomBytes } from 'node:crypto';
import { Job } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/db/client.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { PaymentProducer } from '../../src/queue/producer.js';
import { paymentJobId } from '../../src/queue/queues.js';
import { producerConnection, workerConnection } from '../../src/queue/redis.js';
import { createPaymentWorker, PAYMENT_JOB_MAX_STALLS } from '../../src/queue/worker.js';
import { LedgerBatcher } from '../../src/worker/batcher.js';
import { paymentProcessor } from '../../src/worker/process-payment.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeSales, paymentDelivery, pool, prng, send, shuffle, type Sale } from '../support/deliveries.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { createPartner, createProgram, payment } from '../support/ledger.js';
import { stopAllServices } from '../support/processes.js';
import { removePrefix, testPrefix } from '../support/redis.js';
import { deploy, drained, expectedRewards, inboxCounts, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';
import { integrityViolations } from './integrity.js';

const GOOD = 800;
/** Customers (by number) whose email poisons the customer insert: two that hang, two that throw. */
const HANGING = [990_001, 990_002];
const THROWING = [990_101, 990_102];
const email = (customer: number) => `buyer${customer}@example.com`;

/** The trigger that turns those emails into a hang or an exception (created in the scenario's database only). */
function poisonTrigger(hang: string[], raise: string[]) {
  const list = (emails: string[]) => (emails.length ? emails.map((e) => `'${e}'`).join(', ') : 'null');
  return sql.raw(`
    create function test_poison() returns trigger language plpgsql as $$
    begin
      if new.email in (${list(hang)}) then perform pg_sleep(600); end if;
      if new.email in (${list(raise)}) then raise exception 'poisoned customer %', new.email; end if;
      return new;
    end $$;
    create trigger test_poison before insert on customers for each row execute function test_poison();`);
}

describe('poisoned job', () => {
  it(`${HANGING.length} events that hang and ${THROWING.length} that throw among ${GOOD} good ones: every good one is booked, the poisoned ones retry, and are booked once the poison is gone`, { timeout: 240_000 }, async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    let d: Deployment | undefined;
    try {
      d = await deploy({ workers: 1, env: { DATABASE_STATEMENT_TIMEOUT_MS: '2000', JOB_DEADLINE_MS: '20000' } });
      const dep = d;
      await dep.db.db.execute(poisonTrigger(HANGING.map(email), THROWING.map(email)));
      const good = makeSales(GOOD, { tag: `q${seed.toString(36)}`, random, partners: PARTNERS, customers: 300 });
      // the poisoned payments: Stripe and Chargebee carry the payer's email
      const poisoned: Sale[] = [...HANGING, ...THROWING].map((customer, i) => ({
        gateway: i % 2 ? 'chargebee' : 'stripe',
        id: `q${seed.toString(36)}p${i}`,
        n: 2_000_000 + i,
        amountMinor: 12_345n,
        currency: 'USD',
        partnerKey: PARTNERS[0]!,
        customer,
      }));
      const all = shuffle([...good, ...poisoned], random);
      const started = Date.now();
      const answers: Record<string, number> = {};
      await pool(all, 32, async (s) => {
        const a = await send(dep.api.url, paymentDelivery(s));
        answers[a.status] = (answers[a.status] ?? 0) + 1;
      });
      const ingestSeconds = (Date.now() - started) / 1000;

      // every good event booked, while the poisoned ones keep failing (bounded: today a hang never ends)
      let goodDoneAt = 0;
      while (!goodDoneAt) {
        const processed = (await inboxCounts(dep.db.db)).processed ?? 0;
        if (process.env.RELIABILITY_DEBUG) console.log(`[debug] t=${(Date.now() - started) / 1000}s processed=${processed} q=${JSON.stringify(await queueCounts(dep.queue))}`);
        if (processed >= GOOD) goodDoneAt = Date.now();
        else if (Date.now() - started > 90_000) throw new Error(`only ${processed} of ${GOOD} good events processed after 90 s: ${JSON.stringify(await queueCounts(dep.queue))}`);
        else await new Promise((r) => setTimeout(r, 100));
      }
      const poisonJobs = async () =>
        Promise.all(
          poisoned.map(async (s) => {
            const eventId = paymentDelivery(s).eventId;
            const job = (await dep.queue.getJob(paymentJobId(dep.programId, s.gateway, eventId)))!;
            const [row] = await dep.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId));
            return { job, state: await job.getState(), row: row! };
          }),
        );
      // each poisoned job has failed at least once (a hang is cut after 2 s, twice when in a batch)
      let seen = await poisonJobs();
      while (seen.some((p) => p.job.attemptsMade < 1) && Date.now() - goodDoneAt < 30_000) {
        await new Promise((r) => setTimeout(r, 200));
        seen = await poisonJobs();
      }
      const whilePoisoned = await queueCounts(dep.queue);
      const goodRetried = (await dep.queue.getJobs(['completed'], 0, -1)).filter((j) => j.attemptsMade > 1).length;

      // the poison is gone (data or code fixed); an operator retries the waiting jobs now
      await dep.db.db.execute(sql`drop trigger test_poison on customers`);
      // a poisoned job can be active at this moment (a hang waits out its 2 s statement timeout, and the
      // drop waited for it), then fail and wait out a backoff of 15 s or more: it is promoted as soon
      // as it is seen delayed, however late, not only if it was delayed at one look
      const promoteDelayed = async () => {
        for (const p of seen) if ((await p.job.getState()) === 'delayed') await p.job.promote().catch(() => {});
      };
      await promoteDelayed();
      const drain = await drained(dep, GOOD + poisoned.length, 60_000, promoteDelayed);
      const ledger = await ledgerFigures(dep.db.db);
      const after = await poisonJobs();
      const violations = await integrityViolations(dep.db.db);
      report('poisoned-job', {
        seed,
        goodEvents: GOOD,
        poisoned: { hang: HANGING.length, throw: THROWING.length },
        answers,
        ingestSeconds,
        goodAllProcessedAfterSeconds: (goodDoneAt - started) / 1000,
        goodJobsRetried: goodRetried,
        whilePoisoned: {
          queue: { active: whilePoisoned.active, waiting: whilePoisoned.waiting, delayed: whilePoisoned.delayed, failed: whilePoisoned.failed },
          poisonedJobs: seen.map((p) => ({ state: p.state, attemptsMade: p.job.attemptsMade, reason: p.job.failedReason, inbox: `${p.row.status}: ${p.row.lastError}` })),
        },
        afterPoisonGone: { inbox: drain.inbox, poisonedJobs: after.map((p) => `${p.state} after ${p.job.attemptsMade} attempts`) },
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        integrityViolations: Object.keys(violations).length,
        workerAlive: dep.workers.every((w) => w.alive()),
      });

      expect(Object.keys(answers)).toEqual(['200']);
      for (const p of seen.slice(0, HANGING.length)) {
        expect(p.job.attemptsMade).toBeGreaterThanOrEqual(1);
        expect(p.job.failedReason).toMatch(/^database: canceling statement due to statement timeout \(SQLSTATE 57014\)/);
        expect(p.row.lastError).toBe(p.job.failedReason);
      }
      for (const p of seen.slice(HANGING.length)) {
        expect(p.job.attemptsMade).toBeGreaterThanOrEqual(1);
        expect(p.job.failedReason).toMatch(/^database: poisoned customer .* \(SQLSTATE P0001\)/);
      }
      expect(whilePoisoned.failed).toBe(0);
      expect(drain.inbox).toEqual({ processed: GOOD + poisoned.length });
      expect(after.every((p) => p.state === 'completed')).toBe(true);
      expect(ledger.transactions).toBe(GOOD + poisoned.length);
      expect(ledger.rewards).toBe(GOOD + poisoned.length);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards([...good, ...poisoned]));
      expect(violations).toEqual({});
      expect(dep.workers.every((w) => w.alive())).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of d?.workers ?? []) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      if (process.env.RELIABILITY_DEBUG) for (const w of d?.workers ?? []) console.log(`[debug] ${w.name} failures:\n${w.output().split('\n').filter((l) => l.includes('payment job failed')).join('\n')}`);
      await d?.stop();
      await stopAllServices();
    }
  });

  it('the worker dies under a poisoned job again and again: the good jobs of its batch are booked, never failed for stalling; the poisoned one is failed with its reason', { timeout: 180_000 }, async () => {
    const GOOD_JOBS = 200;
    /** BullMQ's lock, short here so that a dead worker's jobs come back in seconds (production: 30 s). */
    const LOCK_MS = 1500;
    const prefix = testPrefix();
    const t: TestDatabase = await createTestDatabase();
    const producerRedis = producerConnection(TEST_REDIS_URL);
    const producer = new PaymentProducer(producerRedis, prefix);
    type Incarnation = { name: string; database: Database; redis: ReturnType<typeof workerConnection>; worker: ReturnType<typeof createPaymentWorker> };
    let current: Incarnation | undefined;
    const start = async (n: number): Promise<Incarnation> => {
      const name = `poison_crash_${n}_${randomBytes(3).toString('hex')}`;
      const url = new URL(t.url);
      url.searchParams.set('application_name', name);
      // the production statement timeout: the worker dies long before it would cut the hang
      const database = connect(url.toString(), { max: 10, statementTimeoutMs: 30_000 });
      const redis = workerConnection(TEST_REDIS_URL);
      redis.on('error', () => {});
      const worker = createPaymentWorker({
        connection: redis,
        prefix,
        concurrency: 750,
        logger: createLogger('silent'),
        lockDurationMs: LOCK_MS,
        stalledIntervalMs: 500,
        process: paymentProcessor({
          db: database.db,
          programs: (id) => loadProgramRules(database.db, id),
          clients: async () => null,
          apply: new LedgerBatcher(database.db, { maxSize: 250, maxInFlight: 2 }).apply,
        }),
      });
      worker.on('error', () => {});
      void worker.run();
      await worker.waitUntilReady();
      return { name, database, redis, worker };
    };
    /** What a SIGKILL does: no more lock renewals or replies to Redis, and its connections gone. */
    const crash = async (w: Incarnation) => {
      await w.worker.close(true).catch(() => {});
      w.redis.disconnect();
      await t.pool.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [w.name]);
      void w.database.close().catch(() => {});
    };
    try {
      const program = await createProgram(t.db);
      await createPartner(t.db, program.id, 'P1');
      await t.db.execute(poisonTrigger([email(HANGING[0]!)], []));
      await producer.queue.waitUntilReady();
      const key = { value: 'P1', place: 'stripe_charge_metadata' } as const;
      const jobs = Array.from({ length: GOOD_JOBS + 1 }, (_, i) => {
        // the poisoned one last: the worker writes the first two jobs it takes alone, then the rest together
        const poisonedOne = i === GOOD_JOBS;
        return { poisonedOne, event: payment({ customer: { id: `cus_crash${i}`, email: poisonedOne ? email(HANGING[0]!) : `crash${i}@example.com` }, partnerKey: key }) };
      });
      const ids: string[] = [];
      for (const j of jobs) {
        const [row] = await t.db
          .insert(webhookEvents)
          .values({ programId: program.id, gateway: 'stripe', eventId: j.event.eventId, rawBody: '{}', status: 'queued' })
          .returning({ id: webhookEvents.id });
        ids.push(await producer.add({ programId: program.id, inboxId: row!.id.toString(), source: 'webhook', events: [j.event] }, { gateway: 'stripe', eventId: j.event.eventId }));
      }
      const poisonId = ids[GOOD_JOBS]!;
      const goodIds = ids.filter((id) => id !== poisonId);

      const started = Date.now();
      const crashes: { at: number; goodDone: number }[] = [];
      current = await start(0);
      let poisonState = '';
      for (;;) {
        poisonState = await producer.queue.getJobState(poisonId);
        if (poisonState === 'failed' || poisonState === 'completed') break;
        if (Date.now() - started > 120_000 || crashes.length > 12) throw new Error(`not settled after ${crashes.length} crashes: poisoned job ${poisonState}`);
        // the poisoned job has hung for a second in this worker: it takes the worker down (as an OOM would)
        const hung = await t.pool.query(
          `select 1 from pg_stat_activity where application_name = $1 and wait_event = 'PgSleep' and now() - query_start > interval '1 second'`,
          [current.name],
        );
        if (hung.rowCount) {
          await crash(current);
          const goodDone = (await Promise.all(goodIds.map((id) => producer.queue.getJobState(id)))).filter((s) => s === 'completed').length;
          crashes.push({ at: Date.now() - started, goodDone });
          current = await start(crashes.length);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const states = await Promise.all(goodIds.map((id) => producer.queue.getJobState(id)));
      const goodJobs = await Promise.all(goodIds.map((id) => Job.fromId(producer.queue, id)));
      const poison = (await producer.queue.getJob(poisonId))!;
      const [poisonRow] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, jobs[GOOD_JOBS]!.event.eventId));
      const booked = (await t.db.select({ key: transactions.key }).from(transactions)).length;
      const stateCounts: Record<string, number> = {};
      for (const s of states) stateCounts[s] = (stateCounts[s] ?? 0) + 1;
      report('poisoned-job-crash', {
        goodJobs: GOOD_JOBS,
        lockMs: LOCK_MS,
        crashes: crashes.length,
        crashedAt: crashes.map((c) => `${(c.at / 1000).toFixed(1)}s/${c.goodDone} good done`),
        goodJobStates: stateCounts,
        goodJobsMostStalls: Math.max(...goodJobs.map((j) => j?.stalledCounter ?? 0)),
        poisonedJob: { state: poisonState, stalls: poison.stalledCounter, reason: poison.failedReason, inbox: `${poisonRow?.status}: ${poisonRow?.lastError}` },
        transactions: booked,
        seconds: (Date.now() - started) / 1000,
      });

      expect(stateCounts).toEqual({ completed: GOOD_JOBS });
      expect(booked).toBe(GOOD_JOBS);
      expect(crashes.length).toBe(PAYMENT_JOB_MAX_STALLS + 1);
      expect(poisonState).toBe('failed');
      expect(poison.failedReason).toMatch(/worker died 6 times/);
      expect(poisonRow).toMatchObject({ status: 'failed' });
      expect(poisonRow!.lastError).toMatch(/worker died 6 times/);
    } finally {
      if (current) await crash(current);
      await producer.close().catch(() => {});
      producerRedis.disconnect();
      await removePrefix(prefix);
      await t.drop();
    }
  });
});
