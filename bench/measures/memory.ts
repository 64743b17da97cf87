// 5. Memory: the API's and the worker's RSS across many signed webhooks, from warmed processes, and
// Redis's memory per queued event.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { settle, sql } from '../database.js';
import { S, SECRET, run } from '../options.js';
import { log, round, signed } from '../print.js';
import { load, service, stop } from '../processes.js';
import { rssMb } from '../proc-stats.js';
import { drained } from '../seed.js';

export async function memory(queue: Queue, redis: Redis) {
  log(`5. memory: API and worker RSS across ${S.memoryEvents.toLocaleString('en')} webhooks; Redis memory per queued event`);
  const [api, w] = await Promise.all([service('api', 3905), service('worker', 0)]);
  while ((await queue.getWorkersCount()) < 1) await sleep(100);
  const fresh = { api: rssMb(api), worker: rssMb(w) };
  // signed Stripe webhooks (payments of 5,000 returning customers) through the API as fast as it
  // answers, at 50 connections; the worker drains what it queues meanwhile
  const send = (n: number, runId: string) =>
    load({ url: 'http://127.0.0.1:3905/webhooks/stripe', connections: 50, durationMs: 3_600_000, maxRequests: n, body: 'stripe', secret: SECRET, runId });
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  // both warmed first: a fresh process's RSS grows as it loads and compiles what a request or a job
  // needs, and as its heap grows to a busy process's working set (requests and jobs in flight,
  // groups, batches); the worker's had not after a warm-up of the worker measure's size (its growth
  // then came in the measured drain's first tenth: bench/HISTORY.md). Growth with the number of
  // events is what is measured, so warmed with a tenth of them. The warm-up's jobs wait in the paused
  // queue first: Redis's memory per queued event, from the jobs as the API makes them.
  const warmEvents = Math.max(S.warmEvents, S.memoryEvents / 10);
  await queue.pause();
  const before = await usedMemory();
  const warm = await send(warmEvents, `mw${run}`);
  const perEvent = ((await usedMemory()) - before) / warm.requests;
  await queue.resume();
  await drained(queue, 120_000);
  await settle();
  const rssStart = { api: rssMb(api), worker: rssMb(w) };
  // RSS sampled every 100 ms as the webhooks arrive and the queue drains. Growth is the issue's
  // measure, end minus start; the figure after the first tenth of the events is printed beside it,
  // because the heap first grows to the working set of a busy process and a leak is what keeps
  // growing after that.
  const rssWarm = { api: 0, worker: 0 };
  const rssPeak = { ...rssStart };
  // how far each process is: webhooks stored in the inbox (its ids are a sequence), and of those the
  // ones no longer in the queue
  const stored = async () => Number((await sql.query(`select coalesce(max(id), 0) as id from webhook_events`)).rows[0].id);
  const initial = await stored();
  const done = { api: 0, worker: 0 };
  const sample = () => {
    for (const [k, child] of [['api', api], ['worker', w]] as const) {
      const rss = rssMb(child);
      rssPeak[k] = Math.max(rssPeak[k], rss);
      if (!rssWarm[k] && done[k] >= S.memoryEvents / 10) rssWarm[k] = rss;
    }
  };
  const sampler = setInterval(sample, 100);
  let progress = true;
  const tracking = (async () => {
    while (progress) {
      const [id, counts] = await Promise.all([stored(), queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')]);
      done.api = id - initial;
      done.worker = done.api - Object.values(counts).reduce((a, b) => a + b, 0);
      await sleep(250);
    }
  })();
  const sent = await send(S.memoryEvents, `m${run}`);
  await drained(queue, 900_000);
  progress = false;
  await tracking;
  clearInterval(sampler);
  sample();
  const rssEnd = { api: rssMb(api), worker: rssMb(w) };
  await Promise.all([stop(api), stop(w)]);
  const figures = (k: 'api' | 'worker') => ({
    fresh: round(fresh[k]),
    start: round(rssStart[k]),
    warm: round(rssWarm[k]),
    peak: round(rssPeak[k]),
    end: round(rssEnd[k]),
    growth: round(rssEnd[k] - rssStart[k]),
    growthAfterFirstTenth: round(rssEnd[k] - rssWarm[k]),
  });
  const r = {
    events: S.memoryEvents,
    warmEvents,
    webhooks: { acked: sent.requests - sent.non2xx - sent.errors, non2xx: sent.non2xx + sent.errors, rps: round(sent.rps) },
    apiRssMb: figures('api'),
    workerRssMb: figures('worker'),
    redisBytesPerQueuedEvent: Math.round(perEvent),
  };
  const line = (name: string, x: ReturnType<typeof figures>) =>
    `${name} RSS ${x.start} → ${x.end} MB (${signed(x.growth)}; ${x.fresh} MB when fresh; ${x.warm} MB after a tenth of the events, so ${signed(x.growthAfterFirstTenth)} over the other nine tenths; peak ${x.peak})`;
  log(`   ${r.webhooks.acked.toLocaleString('en')} webhooks acked at ${r.webhooks.rps}/s (non-2xx ${r.webhooks.non2xx}), after ${warmEvents.toLocaleString('en')} to warm both processes`);
  log(`   ${line('API', r.apiRssMb)}`);
  log(`   ${line('worker', r.workerRssMb)}`);
  log(`   Redis ${r.redisBytesPerQueuedEvent} bytes per queued event`);
  return r;
}
