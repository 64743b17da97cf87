// 3. End to end: a steady rate of webhooks, from each 2xx to its transaction readable, against the
// service as deployed (an API and a worker process) or, when asked, in one process.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { programIds, settle, sql } from '../database.js';
import { API_KEY, QUICK, S, SECRET, dbUrl, run } from '../options.js';
import { log, round } from '../print.js';
import { load, service, stop } from '../processes.js';
import { cpuPerEvent, cpuSeconds } from '../proc-stats.js';
import { drained } from '../seed.js';

/**
 * When each payment of a stream becomes readable: a connection of its own asks every 10 ms which of
 * the keys sent so far (and not seen yet) are committed, and a key seen is dated to the moment it was
 * asked for (it was committed before that). recorded_at would say when the writing transaction
 * began, up to a batch's duration before anyone can read the row.
 */
function watchCommits(programs: string[], runId: string, rate: number) {
  const seen = new Map<string, number>();
  let on = true;
  const key = (n: number) => `pi_${runId}_${n}`;
  const done = (async () => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    const started = Date.now();
    let lo = 0; // the lowest key not seen yet
    try {
      for (let last = false; !last; ) {
        last = !on;
        // the keys sent by now (a 0.2 s margin: the load generator starts after this), at most 2,000
        const hi = Math.min(lo + 2000, Math.ceil(((Date.now() - started) / 1000 + 0.2) * rate));
        const keys: string[] = [];
        for (let n = lo; n < (last ? lo + 2000 : hi); n++) if (!seen.has(key(n))) keys.push(key(n));
        const asked = Date.now();
        const { rows } = await c.query({ name: 'watch', text: 'select key from transactions where program_id = any($1::uuid[]) and key = any($2::text[])', values: [programs, keys] });
        for (const r of rows as { key: string }[]) seen.set(r.key, asked);
        while (seen.has(key(lo))) lo++;
        await sleep(10);
      }
    } finally {
      await c.end();
    }
  })();
  return { seen, stop: async () => ((on = false), await done) };
}

/**
 * Two shapes of the same service: as `docker compose up` deploys it, an API process and a worker
 * process; and as `npm start` runs it by default, both in one process (PROCESS_ROLE=all), where a
 * batch's statements wait for an event loop that is answering webhooks too.
 */
const SHAPES = {
  deployed: { roles: ['api', 'worker'], port: 3902, tag: 'e', text: 'an API and a worker process, as docker compose runs them' },
  oneProcess: { roles: ['all'], port: 3904, tag: 'o', text: 'API and worker in one process (PROCESS_ROLE=all)' },
} as const;
export type Shape = keyof typeof SHAPES;

/** The stream against each of the given shapes, one after the other, under one heading. */
export async function endToEnd(queue: Queue, shapes: Shape[], env: Record<string, string> = {}) {
  log(`3. end to end${env.QUEUE_BACKEND === 'postgres' ? ' (queues on PostgreSQL)' : ''}: ${S.e2eRate} webhooks/s for ${S.e2eMs / 1000} s, 2xx → reward readable`);
  const out: Partial<Record<Shape, Awaited<ReturnType<typeof stream>>>> = {};
  for (const shape of shapes) out[shape] = await stream(queue, shape, env);
  return out;
}

async function stream(queue: Queue, shape: Shape, env: Record<string, string>) {
  const { roles, port, tag, text } = SHAPES[shape];
  const url = `http://127.0.0.1:${port}/webhooks/stripe`;
  // the PostgreSQL queue's stream sends events of its own (the same ids would be duplicates, booked already)
  const t = env.QUEUE_BACKEND === 'postgres' ? `${tag}p` : tag;
  const runId = `${t}${run}`;
  log(`   ${text}:`);
  // started together (each loads the whole service on its start)
  const processes = await Promise.all(roles.map((role) => service(role, role === 'worker' ? 0 : port, env)));
  while ((await queue.getWorkersCount()) < 1) await sleep(100);
  // a freshly started process compiles as it goes (its first seconds run several times slower):
  // warmed at the same rate first, unmeasured, as a deployed service is
  await load({ url, connections: 50, durationMs: S.e2eWarmMs, rate: S.e2eRate, body: 'stripe', secret: SECRET, runId: `${t}w${run}` });
  await drained(queue, 120_000);
  // vacuumed and analyzed after the warm-up, not before it: with the tables analyzed while empty, the
  // foreign-key checks of a batch's write cost milliseconds each until an ANALYZE, which autovacuum
  // would have run while they grew (bench/HISTORY.md, the evening of 2026-12-01)
  await settle();
  // Then the measured stream, whose first seconds are not measured: they are the load generator's own
  // start and a service that was idle, far slower than the steady rate the measure is about.
  // (--quick, a smoke run, skips 1 s of its 5.)
  const leadInMs = QUICK ? 1000 : 3000;
  const waiting: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    await sleep(leadInMs);
    while (sampling) {
      waiting.push((await queue.getJobCounts('waiting')).waiting ?? 0);
      await sleep(1000);
    }
  })();
  const watch = watchCommits((await programIds()).map((p) => p.id), runId, S.e2eRate);
  // CPU over the stream and its drain (the lead-in too): the service's processes, PostgreSQL, Redis
  const cpuBefore = cpuSeconds(processes.map((p) => p.pid));
  const ownBefore = processes.map((p) => cpuSeconds([p.pid]).own);
  const r1 = await load({ url, connections: 50, durationMs: leadInMs + S.e2eMs, leadInMs, rate: S.e2eRate, body: 'stripe', secret: SECRET, runId, recordAcks: true });
  await drained(queue, 120_000);
  const cpu = cpuPerEvent(cpuBefore, cpuSeconds(processes.map((p) => p.pid)), r1.requests);
  const each = Object.fromEntries(processes.map((p, i) => [roles[i]!, round(((cpuSeconds([p.pid]).own - ownBefore[i]!) * 1e6) / r1.requests, 0)]));
  await watch.stop();
  sampling = false;
  await sampler;
  const acks = new Map(r1.acks ?? []);
  const percentiles = (ms: number[]) => {
    ms.sort((a, b) => a - b);
    const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? NaN;
    return { p50: round(q(0.5), 1), p99: round(q(0.99), 1) };
  };
  const readableAfter = [...acks].filter(([k]) => watch.seen.has(k)).map(([k, at]) => Math.max(0, watch.seen.get(k)! - at));
  // and when the transaction writing it began (recorded_at), for where the time goes
  const { rows } = await sql.query(`select key, (extract(epoch from t.recorded_at) * 1000)::float8 as at from transactions t where key = any($1)`, [[...acks.keys()]]);
  const writeBeganAfter = (rows as { key: string; at: number }[]).map((row) => Math.max(0, row.at - acks.get(row.key)!));
  // and where the time went, from the jobs the queue keeps (its last 10,000 completed): waiting in
  // the queue until a worker took the job, then in the worker until it was done
  const jobs = (await queue.getJobs(['completed'], 0, 9999)).filter((j) => j && acks.has((j.data as { events: { transactionKey?: string }[] }).events[0]?.transactionKey ?? ''));
  const inQueue = percentiles(jobs.map((j) => j.processedOn! - j.timestamp));
  const inWorker = percentiles(jobs.map((j) => j.finishedOn! - j.processedOn!));
  const readable = percentiles(readableAfter);
  const began = percentiles(writeBeganAfter);
  // and one of them read back through the REST API
  const sample = [...acks.keys()][0];
  const readBack = sample ? (await fetch(`http://127.0.0.1:${port}/v1/transactions/${sample}`, { headers: { authorization: `Bearer ${API_KEY}` } })).status : 0;
  await Promise.all(processes.map(stop));
  const r = {
    sent: r1.measured,
    acked: acks.size,
    persisted: readableAfter.length,
    p50: readable.p50,
    p99: readable.p99,
    writeBegan: began,
    jobs: { count: jobs.length, inQueue, inWorker },
    // µs of CPU a webhook, from its request to its transaction (the lead-in's too, whose events are in the count)
    cpuPerWebhookUs: { ...cpu, byProcess: each },
    queueWaitingMax: Math.max(0, ...waiting),
    queueWaitingLast: waiting.at(-1) ?? 0,
    restReadBack: readBack,
  };
  log(`     acked ${r.acked}, readable ${r.persisted}; 2xx → readable p50 ${r.p50} ms, p99 ${r.p99} ms (its write began at p50 ${began.p50}, p99 ${began.p99} ms); queue waiting max ${r.queueWaitingMax}`);
  log(`     of the last ${jobs.length} jobs: in the queue p50 ${inQueue.p50}, p99 ${inQueue.p99} ms; in the worker p50 ${inWorker.p50}, p99 ${inWorker.p99} ms`);
  log(`     CPU a webhook: ${cpu.total} µs (the service's processes ${cpu.process}: ${Object.entries(each).map(([k, v]) => `${k} ${v}`).join(', ')}; PostgreSQL ${cpu.postgres}, Redis ${cpu.redis})`);
  return r;
}
