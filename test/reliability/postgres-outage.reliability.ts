// PostgreSQL outage: the service runs against a PostgreSQL server of the test's own, which is stopped
// for 20 s while the worker drains acknowledged events. Jobs fail while it is down and retry with the
// production backoff (15 s, doubling); once it is back every event is persisted, none failed for good.
// Deliveries that arrive during the outage are answered 503 (the gateway retries them), never 5xx else.
import { describe, expect, it } from 'vitest';
import { makeSales, paymentDelivery, pool, prng, send } from '../support/deliveries.js';
import { stopAllServices } from '../support/processes.js';
import { startTempPostgres, type TempPostgres } from '../support/temp-postgres.js';
import { deploy, drained, expectedRewards, inboxCounts, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const EVENTS = 1000;
const OUTAGE_MS = 20_000;
/** Deliveries sent during the outage (answered 503, then retried by the "gateway"). */
const DURING = 40;

describe('PostgreSQL outage', () => {
  it(`stopped for ${OUTAGE_MS / 1000} s while the worker runs: jobs retry with backoff, then every event is persisted and none failed`, { timeout: 300_000 }, async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    let server: TempPostgres | undefined;
    let d: Deployment | undefined;
    try {
      server = await startTempPostgres();
      d = await deploy({ workers: 1, startWorkers: false, databaseUrl: server.url('partner_ledger') });
      const dep = d;
      const sales = makeSales(EVENTS + DURING, { tag: `g${seed.toString(36)}`, random, partners: PARTNERS, customers: 300 });
      const deliveries = sales.map(paymentDelivery);
      const before = deliveries.slice(0, EVENTS);
      const during = deliveries.slice(EVENTS);
      await pool(before, 16, async (e) => {
        const a = await send(dep.api.url, e);
        if (a.status !== 200) throw new Error(`${e.gateway}/${e.eventId}: ${a.status} ${a.text}`);
      });

      const started = Date.now();
      await dep.startWorker();
      // the outage begins once the worker is well into the queue
      while (((await inboxCounts(dep.db.db)).processed ?? 0) < EVENTS * 0.15) {
        if (Date.now() - started > 60_000) throw new Error('the worker did not start processing');
        await new Promise((r) => setTimeout(r, 50));
      }
      const processedBefore = (await inboxCounts(dep.db.db)).processed ?? 0;
      await server.stop('SIGINT');
      const stoppedAt = Date.now();

      // jobs fail and wait out their backoff at some point of the outage, not at a given instant:
      // the queue is watched through the whole outage, from its first moment (beside the deliveries
      // below, which may take most of it), and its most delayed moment is kept
      let queueDuring = await queueCounts(dep.queue);
      const watching = (async () => {
        while (Date.now() - stoppedAt < OUTAGE_MS) {
          await new Promise((r) => setTimeout(r, 250));
          const now = await queueCounts(dep.queue);
          if ((now.delayed ?? 0) > (queueDuring.delayed ?? 0)) queueDuring = now;
        }
      })();
      // deliveries during the outage: 503, so the gateway keeps them
      const duringStatuses: Record<string, number> = {};
      await pool(during, 4, async (e) => {
        const a = await send(dep.api.url, e, { timeoutMs: 15_000 });
        duringStatuses[a.status] = (duringStatuses[a.status] ?? 0) + 1;
      });
      await watching;
      await server.start();
      const outageMs = Date.now() - stoppedAt;

      // the gateway retries what was refused
      const retryStatuses: Record<string, number> = {};
      let pending = during;
      for (let round = 0; pending.length && round < 20; round++) {
        await new Promise((r) => setTimeout(r, 500));
        const answers = await pool(pending, 4, (e) => send(dep.api.url, e, { timeoutMs: 15_000 }));
        for (const a of answers) retryStatuses[a.status] = (retryStatuses[a.status] ?? 0) + 1;
        pending = pending.filter((_, i) => answers[i]!.status !== 200);
      }

      const drain = await drained(dep, EVENTS + DURING, 150_000);
      const ledger = await ledgerFigures(dep.db.db);
      const q = await queueCounts(dep.queue);
      const completed = await dep.queue.getJobs(['completed'], 0, -1);
      const attempts = completed.map((j) => j.attemptsMade);
      const retried = attempts.filter((n) => n > 1).length;
      report('postgres-outage', {
        seed,
        events: EVENTS + DURING,
        processedBeforeOutage: processedBefore,
        outageSeconds: outageMs / 1000,
        queueDuringOutage: queueDuring,
        deliveriesDuringOutage: duringStatuses,
        gatewayRetries: retryStatuses,
        jobsRetried: retried,
        maxAttempts: Math.max(...attempts),
        drainedSecondsAfterRestart: (Date.now() - stoppedAt - outageMs) / 1000,
        inbox: drain.inbox,
        jobs: { completed: q.completed, failed: q.failed },
        transactions: ledger.transactions,
        workerAlive: dep.workers.every((w) => w.alive()),
        apiAlive: dep.api.alive(),
      });

      expect(Object.keys(duringStatuses)).toEqual(['503']);
      expect(pending).toEqual([]);
      expect(queueDuring.delayed).toBeGreaterThan(0);
      expect(retried).toBeGreaterThan(0);
      expect(drain.inbox).toEqual({ processed: EVENTS + DURING });
      expect(q.failed).toBe(0);
      expect(ledger.transactions).toBe(EVENTS + DURING);
      expect(ledger.rewards).toBe(EVENTS + DURING);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
      expect(dep.workers.every((w) => w.alive()) && dep.api.alive()).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of d?.workers ?? []) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      await d?.stop();
      await server?.destroy();
      await stopAllServices();
    }
  });
});
