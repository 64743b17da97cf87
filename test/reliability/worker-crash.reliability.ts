// Worker crash: 5,000 acknowledged events in the queue; the worker process is SIGKILLed at random
// moments while it drains them (and once more while it re-runs the jobs a crash left behind), and
// started again each time. A killed worker's active jobs come back when their lock expires (BullMQ's
// stalled-job check); the ledger's unique keys make a job that had already committed a no-op.
// Every event is persisted exactly once, and nothing is left active, waiting or failed.
import type { QueueEvents } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { TEST_QUEUE_BACKEND } from '../support/env.js';
import { makeSales, paymentDelivery, pool, prng, send } from '../support/deliveries.js';
import type { ServiceProcess } from '../support/processes.js';
import { deploy, drained, expectedRewards, inboxCounts, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const EVENTS = 5000;
const KILLS = 6;

async function crash(workers: number) {
  const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000) + workers;
  const random = prng(seed);
  let d: Deployment | undefined;
  let events: QueueEvents | undefined;
  try {
    d = await deploy({ workers, startWorkers: false });
    const sales = makeSales(EVENTS, { tag: `c${workers}${seed.toString(36)}`, random, partners: PARTNERS, customers: 1000 });
    const deliveries = sales.map(paymentDelivery);
    const started = Date.now();
    await pool(deliveries, 32, async (e) => {
      const a = await send(d!.api.url, e);
      if (a.status !== 200) throw new Error(`${e.gateway}/${e.eventId}: ${a.status} ${a.text}`);
    });
    const ingestSeconds = (Date.now() - started) / 1000;

    events = await d.queueEvents();
    let stalled = 0;
    let firstStalledAt = 0;
    events.on('stalled', () => {
      stalled++;
      firstStalledAt ||= Date.now();
    });

    const drainStarted = Date.now();
    for (let i = 0; i < workers; i++) await d.startWorker();
    // kill points: random amounts of processed events, in order
    const thresholds = Array.from({ length: KILLS }, () => Math.floor(EVENTS * (0.03 + random() * 0.8))).sort((a, b) => a - b);
    const kills: { at: number; processed: number; worker: string; whileActive: number }[] = [];
    // a killed worker is started again at once, as a supervisor would; the kills go on meanwhile
    const restarts: Promise<unknown>[] = [];
    const killOne = async (processed: number) => {
      if (!d!.workers.length) return false; // all of them are starting again
      const victim: ServiceProcess = d!.workers[Math.floor(random() * d!.workers.length)]!;
      const active = (await queueCounts(d!.queue)).active!;
      await victim.kill('SIGKILL');
      d!.workers.splice(d!.workers.indexOf(victim), 1);
      kills.push({ at: Date.now() - drainStarted, processed, worker: victim.name, whileActive: active });
      restarts.push(d!.startWorker(`${victim.name}'`));
      return true;
    };
    let lastLog = 0;
    // some progress between two kills, so they are spread over the drain, not one burst
    let processedAtLastKill = -Infinity;
    while (thresholds.length) {
      const processed = (await inboxCounts(d.db.db)).processed ?? 0;
      if (process.env.RELIABILITY_DEBUG && Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        console.log(`[debug] ${workers}w t=${(Date.now() - drainStarted) / 1000}s processed=${processed} q=${JSON.stringify(await queueCounts(d.queue))} ingest=${ingestSeconds}`);
      }
      const due = Math.min(Math.max(thresholds[0]!, processedAtLastKill + 150), EVENTS * 0.8);
      if (processed >= due && (await killOne(processed))) {
        thresholds.shift();
        processedAtLastKill = processed;
        continue;
      }
      // a killed worker's jobs come back only when their locks expire and a stalled check sees them twice
      // (30–90 s), and kills close together can chain that: 120 s was passed once (3,842 of a last kill
      // point near 4,000) on a slow hour with everything working; a stuck drain still fails here
      if (Date.now() - drainStarted > 200_000) throw new Error(`only ${processed} processed after 200 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(restarts);
    // once more while a job a crash left behind is being run again: that job stalls a second time. A
    // recovered job can finish between the look and the kill (a rerun of a committed job is quick); then
    // none of them is left active, the kill caught nothing, and it is tried again.
    const stalls = (ids: string[]) => d!.stallCounts(ids);
    let recoveryKills = 0;
    let caughtRecovered = false;
    const recoveryDeadline = Date.now() + 100_000;
    while (!caughtRecovered && recoveryKills < 4 && Date.now() < recoveryDeadline) {
      const active = await d.activeJobIds();
      const counts = active.length ? await stalls(active) : [];
      const recovered = active.filter((_, i) => counts[i]! >= 1);
      // a recovered job that is active again holds a live worker's lock
      if (stalled > 0 && recovered.length > 0 && (await killOne((await inboxCounts(d.db.db)).processed ?? 0))) {
        recoveryKills++;
        await Promise.all(restarts);
        // a job the killed worker held stays active until its lock expires (30 s from its last renewal,
        // renewed every 15 s: at least 15 s after the kill); a live worker's finish within the pause.
        // 3 s was short for a loaded machine, where a live worker's rerun (a batch waiting its turn)
        // could still be active and pass for a caught job: then no job stalled twice, and the test
        // failed at the end instead of killing again. (A dead worker's job that came back within the
        // pause and is active again has stalled twice: caught all the same.)
        await new Promise((r) => setTimeout(r, 10_000));
        const stillActive = new Set(await d.activeJobIds());
        caughtRecovered = recovered.some((id) => stillActive.has(id));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const recoveryKill = recoveryKills > 0;

    const drain = await drained(d, EVENTS, 150_000, async () => {
      if (process.env.RELIABILITY_DEBUG && Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        console.log(`[debug] ${workers}w t=${(Date.now() - drainStarted) / 1000}s stalled=${stalled} inbox=${JSON.stringify(await inboxCounts(d!.db.db))} q=${JSON.stringify(await queueCounts(d!.queue))}`);
      }
    });
    const q = await queueCounts(d.queue);
    const ledger = await ledgerFigures(d.db.db);
    const rerun = (
      await d.db.pool.query<{ n: number }>(`select count(*)::int as n from webhook_events where outcome->0->>'result' = 'merged'`)
    ).rows[0]!.n;
    const completedIds = await d.queue.getRanges(['completed'], 0, -1);
    const stalledTwice = (await stalls(completedIds)).filter((n) => n >= 2).length;
    const expected = expectedRewards(sales);
    const figures = {
      seed,
      workers,
      events: EVENTS,
      ingestSeconds,
      kills: kills.length,
      killedAt: kills.map((k) => `${(k.at / 1000).toFixed(1)}s/${k.processed}/${k.worker}`),
      activeWhenKilled: kills.map((k) => k.whileActive),
      recoveryKills,
      caughtRecovered,
      stalledJobsRecovered: stalled,
      jobsStalledTwice: stalledTwice,
      firstRecoveryAfterSeconds: firstStalledAt ? (firstStalledAt - drainStarted) / 1000 : null,
      committedThenKilledRerunAsMerged: rerun,
      drainSeconds: (Date.now() - drainStarted) / 1000,
      inbox: drain.inbox,
      jobs: { completed: q.completed, failed: q.failed, active: q.active, waiting: q.waiting, delayed: q.delayed },
      transactions: ledger.transactions,
      rewards: ledger.rewards,
    };
    report(`worker-crash-${workers}-worker${workers > 1 ? 's' : ''}${d.backend === 'postgres' ? '-queue-postgres' : ''}`, figures);

    expect(kills.length).toBe(KILLS + recoveryKills);
    expect(stalled).toBeGreaterThan(0);
    expect(recoveryKill).toBe(true);
    expect(caughtRecovered).toBe(true);
    expect(stalledTwice).toBeGreaterThan(0);
    expect(drain.inbox).toEqual({ processed: EVENTS });
    expect(q).toMatchObject({ active: 0, waiting: 0, delayed: 0, failed: 0 });
    expect(ledger.transactions).toBe(EVENTS);
    expect(ledger.distinctKeys).toBe(EVENTS);
    expect(ledger.rewards).toBe(EVENTS);
    expect(ledger.deletedTransactions).toBe(0);
    expect(ledger.transactionsWithSeveralRewards).toBe(0);
    expect(ledger.rewardTotals).toEqual(expected);
  } finally {
    await events?.close().catch(() => {});
    await d?.stop();
  }
}

// the two run side by side: most of each is waiting for locks of killed workers to expire. With the
// queues in PostgreSQL one after the other: each process holds a second pool there, and two deployments
// at once (five processes and their restarts) came near PostgreSQL's 100 connections on a shared server.
(TEST_QUEUE_BACKEND === 'postgres' ? describe : describe.concurrent)('worker crash', () => {
  it(`SIGKILL the worker ${KILLS + 1} times while it drains ${EVENTS} events: every event persisted exactly once, nothing stuck`, { timeout: 420_000 }, async () => {
    await crash(1);
  });

  it('the same with two worker processes, killing either', { timeout: 420_000 }, async () => {
    await crash(2);
  });
});
