// 2. Worker: a mix of queued payment events drained by one worker process (and two, in a full run),
// beside BullMQ draining no-op jobs just before and just after.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { openQueue, openWorker, type PostgresQueues } from '../../src/queue/backend.js';
import { programIds, settle } from '../database.js';
import { QUICK, REDIS_URL, S, prefix, run } from '../options.js';
import { log, round } from '../print.js';
import { service, stop } from '../processes.js';
import { cpuLine, cpuPerEvent, cpuSeconds, type CpuPerEvent } from '../proc-stats.js';
import { drained, enqueue, mixedEvents } from '../seed.js';

/** BullMQ draining no-op jobs on Redis, or on the PostgreSQL backend when `pg` is given. */
async function noopRate(events: number, concurrency: number, pg?: PostgresQueues) {
  const redis = pg ? undefined : new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const connection = pg ?? redis!;
  const q = openQueue(`noop-${run}`, connection, prefix);
  for (let i = 0; i < events; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, events - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { removeOnComplete: true } })));
  }
  const started = Date.now();
  const cpuBefore = cpuSeconds([process.pid]);
  let done = 0;
  const w = openWorker(`noop-${run}`, async () => void done++, connection, prefix, { concurrency });
  while (done < events) await sleep(20);
  const ms = Date.now() - started;
  const cpu = cpuPerEvent(cpuBefore, cpuSeconds([process.pid]), events);
  await w.close();
  await q.obliterate({ force: true });
  await q.close();
  redis?.disconnect();
  return { rate: events / (ms / 1000), cpu };
}

/** `pg`: the queues on BullMQ's PostgreSQL backend (the service started with QUEUE_BACKEND=postgres), one worker process. */
export async function worker(queue: Queue, pg?: PostgresQueues) {
  log(`2. worker${pg ? ' (queues on PostgreSQL)' : ''}: ${S.workerEvents} queued payment events (payments, returning customers, transaction-based, refunds)`);
  const env: Record<string, string> = pg ? { QUEUE_BACKEND: 'postgres' } : {};
  // events of their own: the same ids would find the Redis measure's transactions already booked
  const t = pg ? 'p' : '';
  const programs = (await programIds()).map((p) => p.id);
  // the no-op drain runs just before and just after the one-worker measure, and the baseline is the
  // mean of the two: what else the shared machine runs changes the no-op rate within a minute, and
  // one reading taken before would tilt the ratio whichever way it moved
  const noop = [await noopRate(S.workerEvents, 20, pg)];
  const figures: Record<string, number> = {};
  const cpu: Record<string, CpuPerEvent> = {};
  // two worker processes in a full run only: a printed figure, not a target, whose start, warm-up
  // and drain would take too much of --quick's minute
  const shapes = QUICK || pg ? [1] : [1, 2];
  for (const processes of shapes) {
    const workers = await Promise.all(Array.from({ length: processes }, () => service('worker', 0, env)));
    while ((await queue.getWorkersCount()) < processes) await sleep(100);
    // warmed first (a fresh process compiles as it goes), unmeasured
    await enqueue(queue, programs, mixedEvents(`${t}ww${processes}${run}`, S.warmEvents));
    await drained(queue, 120_000);
    await settle();
    // timed from the moment the warm workers find the queue full
    await queue.pause();
    await enqueue(queue, programs, mixedEvents(`${t}w${processes}${run}`, S.workerEvents));
    const started = Date.now();
    const cpuBefore = cpuSeconds(workers.map((w) => w.pid));
    await queue.resume();
    await drained(queue, 600_000);
    figures[`${processes}`] = S.workerEvents / ((Date.now() - started) / 1000);
    cpu[`${processes}`] = cpuPerEvent(cpuBefore, cpuSeconds(workers.map((w) => w.pid)), S.workerEvents);
    await Promise.all(workers.map(stop));
    if (processes === 1) noop.push(await noopRate(S.workerEvents, 20, pg));
  }
  const baseline = (noop[0]!.rate + noop[1]!.rate) / 2;
  const mean = (k: keyof CpuPerEvent) => Math.round((noop[0]!.cpu[k] + noop[1]!.cpu[k]) / 2);
  const baselineCpu = { process: mean('process'), postgres: mean('postgres'), redis: mean('redis'), total: mean('total') };
  const failed = await queue.getJobCounts('failed');
  const r = {
    baselineNoopPerSecond: round(baseline),
    baselineNoopReadings: noop.map((n) => round(n.rate)),
    eventsPerSecond: { oneWorker: round(figures['1']!), twoWorkers: figures['2'] === undefined ? null : round(figures['2']) },
    ratio: round(figures['1']! / baseline, 3),
    failedJobs: failed.failed,
    // µs of CPU per event: the measured process(es), PostgreSQL, Redis
    cpuPerEventUs: { noop: baselineCpu, oneWorker: cpu['1']!, twoWorkers: cpu['2'] ?? null },
  };
  log(`   no-op BullMQ ${r.baselineNoopPerSecond}/s (${r.baselineNoopReadings.join(' before, ')} after) · worker ${r.eventsPerSecond.oneWorker}/s (× ${r.ratio}), ${r.eventsPerSecond.twoWorkers === null ? 'two workers: full run only' : `two workers ${r.eventsPerSecond.twoWorkers}/s`}, failed ${r.failedJobs}`);
  log(`   CPU per event: no-op ${cpuLine(baselineCpu)} · worker ${cpuLine(cpu['1']!)}${cpu['2'] ? ` · two workers ${cpuLine(cpu['2'])}` : ''}`);
  return r;
}
