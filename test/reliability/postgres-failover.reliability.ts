// PostgreSQL failing over, not stopping cleanly: on a PostgreSQL server of the test's own (the shared
// 5432 is never touched), each case with a database of its own.
//
// a. The connection is lost right after a COMMIT was sent (a proxy between the worker and the server
//    cuts it): the transaction commits, the worker sees an error and runs the jobs again; the ledger's
//    idempotency makes that a no-op: one transaction and one reward per payment.
// b. The server turns read-only (SQLSTATE 25006, as a demoted primary does): jobs fail and are retried
//    with the production backoff, deliveries are answered 503 (the gateway keeps them); once writable
//    again everything is booked, once.
// c. The connection pool is exhausted (DATABASE_POOL_SIZE=2) by a burst, then by statements that
//    cannot finish (a table locked by someone else): every request is answered within a bounded time,
//    200 or 503, and the pool recovers.
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeWasDown } from '../../src/worker/process-payment.js';
import { makeSales, paymentDelivery, pool, prng, send, type Delivery } from '../support/deliveries.js';
import { spawnService, stopAllServices } from '../support/processes.js';
import { startTempPostgres, type TempPostgres } from '../support/temp-postgres.js';
import { startCommitCuttingProxy, type CommitCuttingProxy } from './commit-cutting-proxy.js';
import { deploy, drained, expectedRewards, inboxCounts, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';
import { integrityViolations } from './integrity.js';

let server: TempPostgres;
const seedBase = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);

beforeAll(async () => {
  server = await startTempPostgres();
});
afterAll(async () => {
  await stopAllServices();
  await server?.destroy();
});

/** A statement as the server's operator, on its own connection. */
async function admin(statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: server.url('postgres') });
  c.on('error', () => {});
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Until a new session on the server is read-only (the reload has been done, every session signalled); bounded. */
async function readOnlyTakesEffect(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new pg.Client({ connectionString: server.url('postgres') });
    c.on('error', () => {});
    await c.connect();
    const { rows } = await c.query<{ default_transaction_read_only: string }>('show default_transaction_read_only').finally(() => c.end().catch(() => {}));
    if (rows[0]?.default_transaction_read_only === 'on') return;
    if (Date.now() > deadline) throw new Error('default_transaction_read_only is not on 30 s after the reload');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tally = (into: Record<string, number>, key: number | string) => (into[key] = (into[key] ?? 0) + 1);

/** The gateway retrying what was refused, every 500 ms, until every delivery is acknowledged (bounded). */
async function retryUntilAcknowledged(url: string, refused: Delivery[], statuses: Record<string, number>, rounds = 60) {
  let pending = refused;
  for (let round = 0; pending.length && round < rounds; round++) {
    await new Promise((r) => setTimeout(r, 500));
    const answers = await pool(pending, 8, (e) => send(url, e, { timeoutMs: 15_000 }));
    for (const a of answers) tally(statuses, a.status);
    pending = pending.filter((_, i) => answers[i]!.status !== 200);
  }
  return pending;
}

describe('PostgreSQL failover', () => {
  it('a connection lost right after COMMIT was sent: the worker runs the jobs again, and nothing is booked twice', { timeout: 180_000 }, async () => {
    const EVENTS = 400;
    const seed = seedBase;
    const random = prng(seed);
    let d: Deployment | undefined;
    let proxy: CommitCuttingProxy | undefined;
    try {
      d = await deploy({ workers: 1, startWorkers: false, databaseUrl: server.url('pl_commit_lost') });
      const dep = d;
      // the worker reaches PostgreSQL through the proxy; the API directly
      proxy = await startCommitCuttingProxy({ host: '127.0.0.1', port: server.port });
      const viaProxy = new URL(dep.env.DATABASE_URL!);
      viaProxy.port = String(proxy.port);
      // three cuts, every third ledger COMMIT, take nine COMMITs after arming. With batches of up to 250
      // a worker that fell behind the deliveries (a loaded machine) wrote the 340 events left in few
      // transactions (14 in all, once), so the third cut depended on luck: batches of at most 20 make
      // at least 17 COMMITs of them, and the lost COMMITs are still batches
      const env = { ...dep.env, DATABASE_URL: viaProxy.toString(), WORKER_BATCH_SIZE: '20' };
      dep.workers.push(await spawnService(env, { role: 'worker', name: 'worker-via-proxy' }));
      const sales = makeSales(EVENTS, { tag: `k${seed.toString(36)}`, random, partners: PARTNERS, customers: 150 });
      const answers: Record<string, number> = {};
      const started = Date.now();
      let armedAt = 0;
      await pool(sales, 8, async (s, i) => {
        // cut once the worker is busy: every third ledger COMMIT, three times
        if (i === 60) {
          proxy!.arm({ cuts: 3, every: 3 });
          armedAt = Date.now();
        }
        tally(answers, (await send(dep.api.url, paymentDelivery(s))).status);
      });
      const drain = await drained(dep, EVENTS, 120_000);
      const ledger = await ledgerFigures(dep.db.db);
      const q = await queueCounts(dep.queue);
      const rerun = (
        (await dep.db.db.execute(sql`select count(*)::int as n from webhook_events where outcome->0->>'result' = 'merged'`)).rows[0] as { n: number }
      ).n;
      const retried = (await dep.queue.getJobs(['completed'], 0, -1)).filter((j) => j.attemptsMade > 1).length;
      const violations = await integrityViolations(dep.db.db);
      report('postgres-commit-lost', {
        seed,
        events: EVENTS,
        answers,
        ...proxy.stats(),
        armedAfterSeconds: (armedAt - started) / 1000,
        jobsRunAgainAfterTheirCommit: rerun,
        jobsRetriedThroughBullMQ: retried,
        drainedAfterSeconds: (Date.now() - started) / 1000,
        inbox: drain.inbox,
        jobs: { completed: q.completed, failed: q.failed },
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        transactionsWithSeveralRewards: ledger.transactionsWithSeveralRewards,
        integrityViolations: Object.keys(violations).length,
        workerAlive: dep.workers.every((w) => w.alive()),
      });

      expect(answers).toEqual({ 200: EVENTS });
      expect(proxy.stats().cut).toBe(3);
      // the cut transactions had committed: their jobs ran again and found their payments stored
      expect(rerun).toBeGreaterThan(0);
      expect(drain.inbox).toEqual({ processed: EVENTS });
      expect(q.failed).toBe(0);
      expect(ledger.transactions).toBe(EVENTS);
      expect(ledger.distinctKeys).toBe(EVENTS);
      expect(ledger.rewards).toBe(EVENTS);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
      expect(violations).toEqual({});
      expect(dep.workers.every((w) => w.alive())).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of d?.workers ?? []) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      await d?.stop();
      await proxy?.close();
    }
  });

  it('the server turns read-only (25006): jobs retry with backoff, deliveries get 503, and once writable everything is booked once', { timeout: 240_000 }, async () => {
    // enough that the worker is far from done when the server turns (it drains some 1,000 a second)
    const EVENTS = 2000;
    /** Deliveries sent while the server is read-only (answered 503, then retried by the "gateway"). */
    const DURING = 100;
    const READ_ONLY_MS = 10_000;
    const seed = seedBase + 1;
    const random = prng(seed);
    let d: Deployment | undefined;
    try {
      d = await deploy({ workers: 1, startWorkers: false, databaseUrl: server.url('pl_read_only') });
      const dep = d;
      const sales = makeSales(EVENTS + DURING, { tag: `r${seed.toString(36)}`, random, partners: PARTNERS, customers: 500 });
      const deliveries = sales.map(paymentDelivery);
      const before = await pool(deliveries.slice(0, EVENTS), 16, (e) => send(dep.api.url, e));
      if (before.some((a) => a.status !== 200)) throw new Error(`a delivery before the failover was refused: ${JSON.stringify(before.find((a) => a.status !== 200))}`);
      const started = Date.now();
      await dep.startWorker();
      while (((await inboxCounts(dep.db.db)).processed ?? 0) < EVENTS * 0.05) {
        if (Date.now() - started > 60_000) throw new Error('the worker did not start processing');
        await new Promise((r) => setTimeout(r, 50));
      }
      const processedBefore = (await inboxCounts(dep.db.db)).processed ?? 0;
      // as a primary demoted to a standby in a failover: every session, old and new, is read-only now
      await admin(['alter system set default_transaction_read_only = on', 'select pg_reload_conf()']);
      const readOnlyAt = Date.now();
      // pg_reload_conf() only signals the postmaster, which re-reads the file and signals the sessions
      // later: a delivery sent at once could still be written. A new session that sees the setting
      // means the postmaster has reloaded, and every open session has its signal.
      await readOnlyTakesEffect();
      // jobs fail and wait out their backoff at some point of the window, not at a given instant: the
      // queue is watched through the whole of it (its most delayed moment kept, its failed at any
      // moment), and the reasons of the delayed jobs seen on the way are all kept
      const failureReasons: Record<string, number> = {};
      const reasonsSeen = new Set<string>();
      let queueWhileReadOnly = await queueCounts(dep.queue);
      let failedWhileReadOnly = queueWhileReadOnly.failed ?? 0;
      const watching = (async () => {
        while (Date.now() - readOnlyAt < READ_ONLY_MS) {
          const now = await queueCounts(dep.queue);
          if ((now.delayed ?? 0) > (queueWhileReadOnly.delayed ?? 0)) queueWhileReadOnly = now;
          failedWhileReadOnly = Math.max(failedWhileReadOnly, now.failed ?? 0);
          // why the waiting jobs failed: the server's refusal, or (in the burst of failures) no pool connection within 3 s
          for (const j of await dep.queue.getJobs(['delayed'], 0, 99)) {
            if (reasonsSeen.has(j.id!)) continue;
            reasonsSeen.add(j.id!);
            tally(failureReasons, j.failedReason);
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const answersWhileReadOnly: Record<string, number> = {};
      const during = deliveries.slice(EVENTS);
      await pool(during, 4, async (e) => tally(answersWhileReadOnly, (await send(dep.api.url, e, { timeoutMs: 15_000 })).status));
      await watching;
      await admin(['set default_transaction_read_only = off', 'alter system reset default_transaction_read_only', 'select pg_reload_conf()']);
      const writableAt = Date.now();
      const retries: Record<string, number> = {};
      const unacknowledged = await retryUntilAcknowledged(dep.api.url, during, retries);
      const drain = await drained(dep, EVENTS + DURING, 150_000);
      const ledger = await ledgerFigures(dep.db.db);
      const q = await queueCounts(dep.queue);
      const completed = await dep.queue.getJobs(['completed'], 0, -1);
      const attempts = completed.map((j) => j.attemptsMade);
      // why the jobs tried more than twice failed the last time (BullMQ keeps the last reason)
      const lastReasons: Record<string, number> = {};
      for (const j of completed) if (j.attemptsMade > 2) tally(lastReasons, j.failedReason.replace(/\d+/g, "N").slice(0, 120));
      const violations = await integrityViolations(dep.db.db);
      report('postgres-read-only', {
        lastReasonsOfJobsTriedMoreThanTwice: lastReasons,
        seed,
        events: EVENTS + DURING,
        processedBeforeReadOnly: processedBefore,
        readOnlySeconds: (writableAt - readOnlyAt) / 1000,
        deliveriesWhileReadOnly: answersWhileReadOnly,
        gatewayRetries: retries,
        unacknowledged: unacknowledged.length,
        queueWhileReadOnly: { waiting: queueWhileReadOnly.waiting, active: queueWhileReadOnly.active, delayed: queueWhileReadOnly.delayed, failed: failedWhileReadOnly },
        failureReasonsWhileReadOnly: failureReasons,
        jobsRetried: attempts.filter((n) => n > 1).length,
        maxAttempts: Math.max(...attempts),
        drainedSecondsAfterWritable: (Date.now() - writableAt) / 1000,
        inbox: drain.inbox,
        jobs: { completed: q.completed, failed: q.failed },
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        integrityViolations: Object.keys(violations).length,
        workerAlive: dep.workers.every((w) => w.alive()),
        apiAlive: dep.api.alive(),
      });

      expect(answersWhileReadOnly).toEqual({ 503: DURING });
      expect(unacknowledged).toEqual([]);
      expect(queueWhileReadOnly.delayed).toBeGreaterThan(0);
      expect(failedWhileReadOnly).toBe(0);
      expect(Object.keys(failureReasons).some((r) => /read-only transaction \(SQLSTATE 25006\)/.test(r))).toBe(true);
      // all of them said as the store's failure, so that their retries go in batches again
      expect(Object.keys(failureReasons).filter((r) => !storeWasDown(r))).toEqual([]);
      expect(Math.max(...attempts)).toBeGreaterThan(1);
      expect(drain.inbox).toEqual({ processed: EVENTS + DURING });
      expect(q.failed).toBe(0);
      expect(ledger.transactions).toBe(EVENTS + DURING);
      expect(ledger.rewards).toBe(EVENTS + DURING);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
      expect(violations).toEqual({});
      expect(dep.workers.every((w) => w.alive()) && dep.api.alive()).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of [...(d?.workers ?? []), ...(d ? [d.api] : [])]) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      // writable again whatever happened: the next case shares the server
      await admin(['set default_transaction_read_only = off', 'alter system reset default_transaction_read_only', 'select pg_reload_conf()']).catch(() => {});
      await d?.stop();
    }
  });

  it('the pool exhausted (DATABASE_POOL_SIZE=2), by a burst and by statements that cannot finish: every request answered within a bounded time, 200 or 503, and the pool recovers', { timeout: 240_000 }, async () => {
    const BURST = 400;
    const DURING_LOCK = 120;
    const LOCK_MS = 15_000;
    const STATEMENT_TIMEOUT_MS = 2000;
    /** What "bounded" means here: the statement timeout, the pool's 3 s wait for a connection, slack for a loaded machine. */
    const BOUND_MS = STATEMENT_TIMEOUT_MS + 3000 + 4000;
    const API_KEY = 'pl_reliability_pool_key_5f1e2a9c77';
    const seed = seedBase + 2;
    const random = prng(seed);
    let d: Deployment | undefined;
    try {
      d = await deploy({
        workers: 1,
        databaseUrl: server.url('pl_pool_exhausted'),
        env: { DATABASE_POOL_SIZE: '2', DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS), API_KEY },
      });
      const dep = d;
      const sales = makeSales(BURST + DURING_LOCK, { tag: `x${seed.toString(36)}`, random, partners: PARTNERS, customers: 200 });
      const deliveries = sales.map(paymentDelivery);
      const timed = async (fn: () => Promise<{ status: number }>) => {
        const t0 = Date.now();
        const { status } = await fn();
        return { status, ms: Date.now() - t0 };
      };
      const read = () =>
        timed(async () => {
          try {
            const res = await fetch(`${dep.api.url}/v1/transactions?limit=10`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(60_000) });
            await res.arrayBuffer();
            return { status: res.status };
          } catch {
            return { status: 0 };
          }
        });
      const summary = (results: { status: number; ms: number }[]) => {
        const statuses: Record<string, number> = {};
        for (const r of results) tally(statuses, r.status);
        const ms = results.map((r) => r.ms).sort((a, b) => a - b);
        return { statuses, p50Ms: ms[Math.floor(ms.length / 2)] ?? 0, maxMs: ms.at(-1) ?? 0 };
      };

      // 1. a burst: 100 deliveries at once and API reads beside them, through two connections
      const burstStarted = Date.now();
      const [burstHooks, burstReads] = await Promise.all([
        pool(deliveries.slice(0, BURST), 100, (e) => timed(() => send(dep.api.url, e, { timeoutMs: 60_000 }))),
        pool(Array.from({ length: 60 }), 10, () => read()),
      ]);
      const burstSeconds = (Date.now() - burstStarted) / 1000;

      // 2. statements that cannot finish: someone holds a lock on the inbox (a migration, a VACUUM FULL)
      const holder = new pg.Client({ connectionString: dep.env.DATABASE_URL });
      holder.on('error', () => {});
      await holder.connect();
      await holder.query('begin');
      await holder.query('lock table webhook_events in access exclusive mode');
      const lockedAt = Date.now();
      const release = (async () => {
        await new Promise((r) => setTimeout(r, LOCK_MS));
        await holder.query('commit').catch(() => {});
        await holder.end().catch(() => {});
      })();
      const during = deliveries.slice(BURST);
      const [lockHooks, lockReads] = await Promise.all([
        pool(during, 40, (e) => timed(() => send(dep.api.url, e, { timeoutMs: 60_000 }))),
        pool(Array.from({ length: 30 }), 5, () => read()),
      ]);
      const answeredWhileLockedWithinSeconds = (Date.now() - lockedAt) / 1000;
      await release;
      const unlockedAt = Date.now();

      // 3. the pool recovers: a delivery right after is answered at once, and the gateway's retries land
      const [after] = await pool(deliveries.slice(0, 1), 1, (e) => timed(() => send(dep.api.url, e)));
      const afterRead = await read();
      const refused = deliveries.filter((_, i) => (i < BURST ? burstHooks[i]! : lockHooks[i - BURST]!).status !== 200);
      const retries: Record<string, number> = {};
      const unacknowledged = await retryUntilAcknowledged(dep.api.url, refused, retries);
      const drain = await drained(dep, BURST + DURING_LOCK, 150_000);
      const ledger = await ledgerFigures(dep.db.db);
      const q = await queueCounts(dep.queue);
      const figures = {
        seed,
        poolSize: 2,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
        burst: { seconds: burstSeconds, deliveries: summary(burstHooks), apiReads: summary(burstReads) },
        whileInboxLocked: { lockSeconds: LOCK_MS / 1000, allAnsweredWithinSeconds: answeredWhileLockedWithinSeconds, deliveries: summary(lockHooks), apiReads: summary(lockReads) },
        afterUnlock: { delivery: after, apiRead: afterRead, afterSeconds: (Date.now() - unlockedAt) / 1000 },
        gatewayRetries: retries,
        unacknowledged: unacknowledged.length,
        inbox: drain.inbox,
        jobs: { completed: q.completed, failed: q.failed },
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        processesAlive: dep.api.alive() && dep.workers.every((w) => w.alive()),
      };
      report('postgres-pool-exhausted', figures);

      const all = [...burstHooks, ...lockHooks];
      // webhooks: 200, or 503 (kept by the gateway), never anything else, never hung
      expect(all.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
      // API reads: answered, or 503 when no connection came free within the pool's 3 s
      expect([...burstReads, ...lockReads].filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
      expect(Math.max(...lockHooks.map((r) => r.ms))).toBeLessThan(BOUND_MS);
      expect(Math.max(...lockReads.map((r) => r.ms))).toBeLessThan(BOUND_MS);
      expect(after!.status).toBe(200);
      expect(afterRead.status).toBe(200);
      expect(unacknowledged).toEqual([]);
      expect(drain.inbox).toEqual({ processed: BURST + DURING_LOCK });
      expect(q.failed).toBe(0);
      expect(ledger.transactions).toBe(BURST + DURING_LOCK);
      expect(ledger.rewards).toBe(BURST + DURING_LOCK);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(figures.processesAlive).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of [...(d?.workers ?? []), ...(d ? [d.api] : [])]) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      await d?.stop();
    }
  });
});
