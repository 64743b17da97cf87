// `npm run bench [-- --quick]`: ingest, worker, end-to-end, API-at-scale and memory figures, each
// beside a baseline measured in the same run on the same machine. Writes bench/results/latest.json
// and bench/results/latest.md. Load comes from separate processes on loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PaymentFact, RefundFact, type PaymentEventInput } from '../src/core/payment-event.js';
import { PAYMENT_EVENTS_QUEUE, paymentJobId, paymentJobOptions } from '../src/queue/queues.js';

const QUICK = process.argv.includes('--quick');
/**
 * `--only=ingest,e2e`: run some of the measures (nothing is written to bench/results then);
 * `one-process` among them adds the end-to-end measure with API and worker in one process.
 */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string) => !ONLY || ONLY.includes(name);
const ADMIN = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'whsec_bench_secret';
const API_KEY = 'pl_bench_api_key';
const run = randomBytes(3).toString('hex');
const dbName = `pl_bench_${run}`;
const dbUrl = ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
const prefix = `plbench${run}`;

const FULL = { ingestMs: 10_000, workerEvents: 50_000, warmEvents: 5000, e2eMs: 30_000, e2eWarmMs: 5000, e2eRate: 500, apiRows: 1_000_000, apiSamples: 1000, memoryEvents: 200_000 };
const S: typeof FULL = QUICK
  ? { ingestMs: 3000, workerEvents: 5000, warmEvents: 1000, e2eMs: 5000, e2eWarmMs: 2000, e2eRate: 300, apiRows: 100_000, apiSamples: 50, memoryEvents: 3000 }
  : FULL;
/** The sizes a run measured at, in a line: `ingest for 10 s, 50,000 worker events, ...`. */
const sizes = (z: typeof FULL) =>
  `ingest for ${z.ingestMs / 1000} s, ${z.workerEvents.toLocaleString('en')} worker events, end to end at ${z.e2eRate}/s for ${z.e2eMs / 1000} s, ${z.apiRows.toLocaleString('en')} rows, ${z.memoryEvents.toLocaleString('en')} memory events`;

const results: Record<string, unknown> = {
  when: new Date().toISOString(),
  quick: QUICK,
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
};
const children = new Set<ChildProcess>();
const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const signed = (n: number) => `${n >= 0 ? '+' : '−'}${Math.abs(n)}`;

// ---- processes ----

/** `--cpu-prof`: the service processes and the ingest floors write CPU profiles to bench/results/profiles (not committed). */
const PROFILE = process.argv.includes('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${new URL('./results/profiles', import.meta.url).pathname}`] : [];

/** `BENCH_SERVICE_WORKER_CONCURRENCY=100 npm run bench`: settings of the service processes to try. */
const serviceOverrides = Object.fromEntries(
  Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_SERVICE_'))
    .map(([k, v]) => [k.slice('BENCH_SERVICE_'.length), v ?? '']),
);

/**
 * The service and the load generator run as plain JavaScript, compiled once a run into .bench-build/
 * (esbuild, file by file, as tsx would; 0.2 s): as the Docker image runs the service (node on
 * compiled files), and each process started about 0.9 s sooner than through tsx's loader (a --quick
 * run starts the service seven times).
 */
const ROOT = new URL('..', import.meta.url).pathname;
const BUILD = path.join(ROOT, '.bench-build');
async function compile() {
  const { build } = await import('esbuild');
  rmSync(BUILD, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/**/*.ts', 'bench/load.ts', 'bench/bare-server.ts', 'bench/ingest-floor.ts', 'bench/stripe-bodies.ts'],
    outdir: BUILD,
    outbase: '.',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
}

/** One of the project's programs (`src/main.ts`, `bench/load.ts` …) and its arguments, from the run's compiled files. */
function start(args: string[], env: Record<string, string>, name: string): ChildProcess {
  const profile = args[0] === 'src/main.ts' || args[0] === 'bench/ingest-floor.ts' ? PROFILE : [];
  const [file, ...rest] = args;
  const compiled = path.join(BUILD, file!.replace(/\.ts$/, '.js'));
  const child = spawn(process.execPath, [...profile, compiled, ...rest], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, ...(args[0] === 'src/main.ts' ? serviceOverrides : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.on('exit', (code) => {
    children.delete(child);
    if (code && code !== 0 && code !== 143) log(`  (${name} exited ${code}: ${err.trim().split('\n').at(-1)})`);
  });
  return child;
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  // a timer, cleared once it exits: a pending sleep kept the bench alive 15 s after its last measure
  const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(kill);
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', () => reject(new Error('process exited before printing')));
  });
}

async function service(role: 'api' | 'worker' | 'all', port: number, extra: Record<string, string> = {}) {
  const child = start(['src/main.ts'], {
    PORT: String(port),
    DATABASE_URL: dbUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    PROCESS_ROLE: role,
    STRIPE_WEBHOOK_SECRET: SECRET,
    API_KEY,
    ...extra,
  }, `service ${role}`);
  if (role !== 'worker') {
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) return child;
      await sleep(100);
    }
    throw new Error(`service (${role}) did not become ready`);
  }
  // a worker has no HTTP port: the caller waits until the queue counts it (getWorkersCount)
  return child;
}

async function load(opts: Record<string, unknown>) {
  const child = start(['bench/load.ts', JSON.stringify(opts)], {}, 'load');
  const line = await firstLine(child);
  await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  return JSON.parse(line) as { requests: number; measured: number; rps: number; p50: number; p99: number; non2xx: number; errors: number; acks?: [string, number][]; latencies?: number[] };
}

function rssMb(child: ChildProcess): number {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used so far (user + system, from /proc; zeros where there is none): by the given
 * processes, by PostgreSQL's processes and by Redis. The worker's throughput swings with whatever
 * else the shared machine runs; the CPU each event costs is steadier, and says where it goes.
 */
function cpuSeconds(pids: (number | undefined)[]): { own: number; postgres: number; redis: number } {
  const out = { own: 0, postgres: 0, redis: 0 };
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ)
    if (pids.includes(Number(pid))) out.own += seconds;
    else if (comm === 'postgres') out.postgres += seconds;
    else if (comm.startsWith('redis-server')) out.redis += seconds;
  }
  return out;
}

/** Microseconds of CPU per event between two cpuSeconds() readings. */
function cpuPerEvent(before: ReturnType<typeof cpuSeconds>, after: ReturnType<typeof cpuSeconds>, events: number) {
  const us = (k: keyof typeof before) => round(((after[k] - before[k]) * 1e6) / events, 0);
  const r = { process: us('own'), postgres: us('postgres'), redis: us('redis') };
  return { ...r, total: r.process + r.postgres + r.redis };
}

// ---- data ----

let sql: pg.Client;
async function setupDatabase() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  // the service creates the schema and the default program on its first start
}

async function programIds() {
  const { rows } = await sql.query(`select id, slug from programs`);
  return rows as { id: string; slug: string }[];
}

async function seedPartners(programId: string, n = 20) {
  await sql.query(
    `insert into partners (program_id, key) select $1, 'bench_partner_' || g from generate_series(0, $2 - 1) g on conflict do nothing`,
    [programId, n],
  );
}

/** n payment events of a mix: 90% payments (new and returning customers), 10% refunds of earlier ones. */
function mixedEvents(tag: string, n: number): PaymentEventInput[] {
  const out: PaymentEventInput[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 10 === 9) {
      out.push(RefundFact.parse({ kind: 'refund', gateway: 'stripe', eventId: `evt_rf_${tag}_${i}`, eventType: 'refund.created', occurredAt: new Date().toISOString(), refundId: `re_${tag}_${i}`, paymentRefs: [`pi_${tag}_${i - 1}`], amount: { minor: '1000', currency: 'USD' } }));
      continue;
    }
    out.push(
      PaymentFact.parse({
        kind: 'payment',
        gateway: 'stripe',
        eventId: `evt_${tag}_${i}`,
        eventType: 'payment_intent.succeeded',
        occurredAt: new Date().toISOString(),
        transactionKey: `pi_${tag}_${i}`,
        aliases: [`ch_${tag}_${i}`],
        amount: { minor: String(1000 + (i % 9000)), currency: 'USD' },
        // a returning customer every other time
        customer: { id: `cus_${tag}_${i % 2 ? i : Math.floor(i / 7)}`, email: `buyer${i}@bench.example.com` },
        partnerKey: { value: `bench_partner_${i % 20}`, place: 'stripe_payment_intent_metadata' },
      }),
    );
  }
  return out;
}

async function enqueue(queue: Queue, programs: string[], events: PaymentEventInput[]) {
  for (let i = 0; i < events.length; i += 1000) {
    await queue.addBulk(
      events.slice(i, i + 1000).map((e, j) => {
        // a refund goes to the program of the payment just before it
        const programId = programs[(e.kind === 'refund' ? i + j - 1 : i + j) % programs.length]!;
        return { name: 'stripe', data: { programId, source: 'webhook', events: [e] }, opts: { ...paymentJobOptions, jobId: paymentJobId(programId, 'stripe', e.eventId) } };
      }),
    );
  }
}

/** Waits until no job is left; `onPoll` hears how many are left at each look (every 100 ms). */
async function drained(queue: Queue, timeoutMs: number, onPoll?: (left: number) => void) {
  const started = Date.now();
  for (;;) {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const left = Object.values(c).reduce((a, b) => a + b, 0);
    onPoll?.(left);
    if (left === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`queue not drained: ${JSON.stringify(c)}`);
    await sleep(100);
  }
}

/**
 * What autovacuum does on a deployed database between bursts (it is off on some CI machines, this one
 * included): tables vacuumed and their statistics current before a measure starts; then a checkpoint.
 */
async function settle() {
  await sql.query('vacuum analyze');
  // and the pages written so far flushed now, not by a checkpoint in the middle of the measure (as pgbench does)
  await sql.query('checkpoint');
}

// ---- the measures ----

/** Requests/s over all bursts, latency percentiles over all requests. */
function combined(bursts: Awaited<ReturnType<typeof load>>[]) {
  const latencies = bursts.flatMap((b) => b.latencies ?? []).sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const requests = bursts.reduce((n, b) => n + b.requests, 0);
  const seconds = bursts.reduce((t, b) => t + (b.rps ? b.requests / b.rps : 0), 0);
  return { requests, rps: seconds ? requests / seconds : 0, p50: q(0.5), p99: q(0.99), non2xx: bursts.reduce((n, b) => n + b.non2xx, 0), errors: bursts.reduce((n, b) => n + b.errors, 0) };
}

async function ingest(programId: string) {
  log('1. ingest: signed Stripe webhooks, 50 connections');
  const bare = start(['bench/bare-server.ts'], {}, 'bare express');
  // the floors (bench/ingest-floor.ts): the service's own verification and stores and nothing else,
  // behind node's http server, and behind an express route reading the body as bare express does (the
  // least a receiver on the chosen stack can do); not in --quick, whose minute they would outgrow
  const floorEnv = (http: 'node' | 'express') => ({ DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, PROGRAM_ID: programId, STRIPE_WEBHOOK_SECRET: SECRET, FLOOR_HTTP: http });
  const floor = QUICK ? undefined : start(['bench/ingest-floor.ts'], floorEnv('node'), 'ingest floor');
  const expressFloor = QUICK ? undefined : start(['bench/ingest-floor.ts'], floorEnv('express'), 'ingest floor on express');
  const [barePort, floorPort, expressFloorPort, api] = await Promise.all([
    firstLine(bare).then(Number),
    floor ? firstLine(floor).then(Number) : 0,
    expressFloor ? firstLine(expressFloor).then(Number) : 0,
    service('api', 3901),
  ]);
  const rssBefore = rssMb(api);
  const urls = {
    bare: `http://127.0.0.1:${barePort}/webhooks/stripe`,
    service: 'http://127.0.0.1:3901/webhooks/stripe',
    floor: `http://127.0.0.1:${floorPort}/webhooks/stripe`,
    expressFloor: `http://127.0.0.1:${expressFloorPort}/webhooks/stripe`,
  };
  type Server = keyof typeof urls;
  // each server's own event ids (`evt_<tag><run>_…`), apart from each other and from the later measures'
  const tags: Record<Server, string> = { bare: 'b', service: 's', floor: 'f', expressFloor: 'x' };
  const servers: Server[] = floor ? ['bare', 'service', 'floor', 'expressFloor'] : ['bare', 'service'];
  const pids = { bare: bare.pid, service: api.pid, floor: floor?.pid, expressFloor: expressFloor?.pid };
  const burst = (to: Server, ms: number, runId: string) =>
    load({ url: urls[to], connections: 50, durationMs: ms, body: 'stripe', secret: SECRET, runId, latencies: true });
  // each server warmed first for a second, unmeasured (a fresh process compiles as it goes)
  for (const to of servers) await burst(to, 1000, `${tags[to]}w${run}`);
  // then measured in turns, a short burst each, so that a slower minute of this shared machine
  // weighs on all figures alike (the ratio is what is tracked)
  const rounds = QUICK ? 3 : 5;
  const each = S.ingestMs / rounds;
  const got: Record<Server, Awaited<ReturnType<typeof load>>[]> = { bare: [], service: [], floor: [], expressFloor: [] };
  // CPU used while each server was measured: the server process, PostgreSQL and Redis (the load
  // generator's own is left out). With every core busy, the ratio is about these sums' ratio.
  const zero = () => ({ own: 0, postgres: 0, redis: 0 });
  const used = { bare: zero(), service: zero(), floor: zero(), expressFloor: zero() };
  for (let i = 0; i < rounds; i++) {
    for (const to of i % 2 ? [...servers].reverse() : servers) {
      const before = cpuSeconds([pids[to]]);
      got[to].push(await burst(to, each, `${tags[to]}${run}_${i}`));
      const after = cpuSeconds([pids[to]]);
      for (const k of ['own', 'postgres', 'redis'] as const) used[to][k] += after[k] - before[k];
    }
  }
  await stop(bare);
  if (floor) await stop(floor);
  if (expressFloor) await stop(expressFloor);
  const baseline = combined(got.bare);
  const measured = combined(got.service);
  const rssAfter = rssMb(api);
  await stop(api);
  const lowest = floor ? combined(got.floor) : undefined;
  const lowestOnExpress = expressFloor ? combined(got.expressFloor) : undefined;
  const floorFigures = (f: ReturnType<typeof combined>) => ({
    rps: round(f.rps),
    p50: round(f.p50, 2),
    p99: round(f.p99, 2),
    non2xx: f.non2xx + f.errors,
    ratio: round(f.rps / baseline.rps, 2),
    // the service's rate against the floor's: what its own layers leave of what the stores allow
    serviceRatio: round(measured.rps / f.rps, 2),
  });
  const r = {
    baseline: { rps: round(baseline.rps), p50: round(baseline.p50, 2), p99: round(baseline.p99, 2) },
    service: { rps: round(measured.rps), p50: round(measured.p50, 2), p99: round(measured.p99, 2), non2xx: measured.non2xx + measured.errors, requests: measured.requests },
    ratio: round(measured.rps / baseline.rps, 2),
    floor: lowest && floorFigures(lowest),
    expressFloor: lowestOnExpress && floorFigures(lowestOnExpress),
    apiRssMb: { before: round(rssBefore), after: round(rssAfter), requests: measured.requests },
    // µs of CPU per request: the server process, PostgreSQL, Redis
    cpuPerRequestUs: {
      bare: cpuPerEvent(zero(), used.bare, baseline.requests),
      service: cpuPerEvent(zero(), used.service, measured.requests),
      floor: lowest && cpuPerEvent(zero(), used.floor, lowest.requests),
      expressFloor: lowestOnExpress && cpuPerEvent(zero(), used.expressFloor, lowestOnExpress.requests),
    },
  };
  log(`   bare express ${r.baseline.rps} req/s · service ${r.service.rps} req/s (× ${r.ratio}), p99 ${r.service.p99} ms, non-2xx ${r.service.non2xx}`);
  if (r.floor) log(`   floor (node http, verification, inbox, queue) ${r.floor.rps} req/s (× ${r.floor.ratio}), p99 ${r.floor.p99} ms, non-2xx ${r.floor.non2xx}; the service × ${r.floor.serviceRatio} of it`);
  if (r.expressFloor) log(`   floor on express (the same behind an express route) ${r.expressFloor.rps} req/s (× ${r.expressFloor.ratio}), p99 ${r.expressFloor.p99} ms, non-2xx ${r.expressFloor.non2xx}; the service × ${r.expressFloor.serviceRatio} of it`);
  const c = (x: ReturnType<typeof cpuPerEvent>) => `${x.total} µs (process ${x.process}, PostgreSQL ${x.postgres}, Redis ${x.redis})`;
  const cpu = r.cpuPerRequestUs;
  log(`   CPU per request: bare ${c(cpu.bare)} · service ${c(cpu.service)}${cpu.floor ? ` · floor ${c(cpu.floor)}` : ''}${cpu.expressFloor ? ` · floor on express ${c(cpu.expressFloor)}` : ''}`);
  results.ingest = r;
}

async function noopRate(events: number, concurrency: number) {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(`noop-${run}`, { connection, prefix });
  for (let i = 0; i < events; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, events - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { removeOnComplete: true } })));
  }
  const started = Date.now();
  const cpuBefore = cpuSeconds([process.pid]);
  let done = 0;
  const w = new Worker(`noop-${run}`, async () => void done++, { connection, prefix, concurrency });
  while (done < events) await sleep(20);
  const ms = Date.now() - started;
  const cpu = cpuPerEvent(cpuBefore, cpuSeconds([process.pid]), events);
  await w.close();
  await q.obliterate({ force: true });
  await q.close();
  connection.disconnect();
  return { rate: events / (ms / 1000), cpu };
}

async function worker(queue: Queue) {
  log(`2. worker: ${S.workerEvents} queued payment events (payments, returning customers, transaction-based, refunds)`);
  const programs = (await programIds()).map((p) => p.id);
  // the no-op drain runs just before and just after the one-worker measure, and the baseline is the
  // mean of the two: what else the shared machine runs changes within a minute (seen: 13,600 to
  // 19,700 no-op jobs/s), and one reading taken before would tilt the ratio whichever way it moved
  const noop = [await noopRate(S.workerEvents, 20)];
  const figures: Record<string, number> = {};
  const cpu: Record<string, ReturnType<typeof cpuPerEvent>> = {};
  // two worker processes in a full run only: a printed figure, not a target, and at --quick's size
  // their start, warm-up and drain took 7–8 s of its minute
  const shapes = QUICK ? [1] : [1, 2];
  for (const processes of shapes) {
    const workers = await Promise.all(Array.from({ length: processes }, () => service('worker', 0)));
    while ((await queue.getWorkersCount()) < processes) await sleep(100);
    // warmed first (a fresh process compiles as it goes), unmeasured
    await enqueue(queue, programs, mixedEvents(`ww${processes}${run}`, S.warmEvents));
    await drained(queue, 120_000);
    await settle();
    // timed from the moment the warm workers find the queue full
    await queue.pause();
    await enqueue(queue, programs, mixedEvents(`w${processes}${run}`, S.workerEvents));
    const started = Date.now();
    const cpuBefore = cpuSeconds(workers.map((w) => w.pid));
    await queue.resume();
    await drained(queue, 600_000);
    figures[`${processes}`] = S.workerEvents / ((Date.now() - started) / 1000);
    cpu[`${processes}`] = cpuPerEvent(cpuBefore, cpuSeconds(workers.map((w) => w.pid)), S.workerEvents);
    await Promise.all(workers.map(stop));
    if (processes === 1) noop.push(await noopRate(S.workerEvents, 20));
  }
  const baseline = (noop[0]!.rate + noop[1]!.rate) / 2;
  const mean = (k: keyof ReturnType<typeof cpuPerEvent>) => Math.round((noop[0]!.cpu[k] + noop[1]!.cpu[k]) / 2);
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
  const c = (x: ReturnType<typeof cpuPerEvent>) => `${x.total} µs (process ${x.process}, PostgreSQL ${x.postgres}, Redis ${x.redis})`;
  log(`   CPU per event: no-op ${c(baselineCpu)} · worker ${c(cpu['1']!)}${cpu['2'] ? ` · two workers ${c(cpu['2'])}` : ''}`);
  results.worker = r;
}

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

async function endToEnd(queue: Queue, shape: keyof typeof SHAPES) {
  const { roles, port, tag, text } = SHAPES[shape];
  const url = `http://127.0.0.1:${port}/webhooks/stripe`;
  const runId = `${tag}${run}`;
  log(`   ${text}:`);
  // started together (each loads the whole service on its start: about a second each)
  const processes = await Promise.all(roles.map((role) => service(role, role === 'worker' ? 0 : port)));
  while ((await queue.getWorkersCount()) < 1) await sleep(100);
  // a freshly started process compiles as it goes (its first seconds run several times slower):
  // warmed at the same rate first, unmeasured, as a deployed service is
  await load({ url, connections: 50, durationMs: S.e2eWarmMs, rate: S.e2eRate, body: 'stripe', secret: SECRET, runId: `${tag}w${run}` });
  await drained(queue, 120_000);
  // vacuumed and analyzed after the warm-up, not before it: with the tables analyzed while empty, the
  // foreign-key checks of a batch's write cost 2.6 ms each (auto_explain) until an ANALYZE, which
  // autovacuum would have run while they grew
  await settle();
  // Then the measured stream, whose first seconds are not measured: they are the load generator's own
  // start and a service that was idle (p50 200–1,200 ms in them on the slower machine, 40–90 ms after),
  // not the steady rate the measure is about. (--quick, a smoke run, skips 1 s of its 5.)
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

const DEEP_PAGE_SAMPLES = 20;

async function apiAtScale() {
  log(`4. API at scale: ${S.apiRows.toLocaleString('en')} transactions in one program`);
  const programId = (await sql.query(`insert into programs (slug, name, commission, public_key, signing_secret) values ($1, 'bench scale', '{"type":"percent","value":"20","rules":[],"lifetime":{"kind":"all"}}', $2, 's') returning id`, [`scale_${run}`, `pk_scale_${run}`])).rows[0].id as string;
  const key = `pl_scale_${run}`;
  const { createHash } = await import('node:crypto');
  await sql.query(`insert into api_keys (program_id, key_hash, prefix) values ($1, $2, 'pl_s')`, [programId, createHash('sha256').update(key).digest('hex')]);
  const t0 = Date.now();
  await sql.query(
    `insert into transactions (program_id, key, amount_minor, currency, gateway, created_at)
     select $1, 'scale_' || g, 1000 + g % 5000, 'USD', 'api', timestamptz '2026-01-01' + g * interval '1 second'
     from generate_series(1, $2) g`,
    [programId, S.apiRows],
  );
  // as after any bulk load: vacuumed and analyzed now, not by autovacuum in the middle of the measure
  await settle();
  const fillSeconds = (Date.now() - t0) / 1000;
  const svc = await service('api', 3903);
  // n requests one after another on one keep-alive connection, from the load generator's process (in
  // this one, fetch and this process's own work added about 7 ms to the cursor's p99: 15.5–17.9 ms
  // against 8.5–10.4 in turns against the same server); an answer other than 2xx is counted, not timed away
  const time = async (path: string, n: number) => {
    const r = await load({ url: `http://127.0.0.1:3903${path}`, connections: 1, maxRequests: n, durationMs: 180_000, body: 'none', headers: { authorization: `Bearer ${key}` } });
    if (r.requests < n) throw new Error(`API at scale: ${r.requests} of ${n} requests to ${path} answered within 3 minutes`);
    return { p50: round(r.p50, 2), p99: round(r.p99, 2), non2xx: r.non2xx + r.errors };
  };
  const limit = 100;
  const depth = Math.floor(S.apiRows / 2);
  const page = Math.floor(depth / limit);
  // the cursor a client following links.next would hold at that depth
  const at = (await sql.query(`select (extract(epoch from created_at) * 1000000)::bigint::text as micros, id from transactions where program_id = $1 order by created_at desc, id desc offset $2 limit 1`, [programId, depth - 1])).rows[0];
  const r = {
    rows: S.apiRows,
    fillSeconds: round(fillSeconds),
    firstPage: await time(`/v1/transactions?limit=${limit}`, S.apiSamples),
    // a contrast, not a target: 20 requests of 0.8–2 s each at 1,000,000 rows (60 took up to 120 s
    // of the bench's 10 minutes); their p99 is the slowest of them
    deepPageByPage: { page, samples: DEEP_PAGE_SAMPLES, ...(await time(`/v1/transactions?limit=${limit}&page=${page}`, DEEP_PAGE_SAMPLES)) },
    sameDepthByCursor: await time(`/v1/transactions?limit=${limit}&page=${page}&cursor=${at.micros}.${at.id}`, S.apiSamples),
  };
  await stop(svc);
  log(`   first page p50 ${r.firstPage.p50} / p99 ${r.firstPage.p99} ms · page ${page} by page p50 ${r.deepPageByPage.p50} / slowest of ${DEEP_PAGE_SAMPLES} ${r.deepPageByPage.p99} ms · by cursor p50 ${r.sameDepthByCursor.p50} / p99 ${r.sameDepthByCursor.p99} ms, non-2xx ${r.firstPage.non2xx + r.deepPageByPage.non2xx + r.sameDepthByCursor.non2xx}`);
  results.api = r;
}

async function memory(queue: Queue, redis: Redis) {
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
  // groups, batches); the worker's had not after 5,000 events (the measured drain's first tenth
  // still grew 25–95 MB). Growth with the number of events is what is measured, so warmed with a tenth
  // of them. The warm-up's jobs wait in the paused queue first: Redis's memory per queued event, from
  // the jobs as the API makes them.
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
  results.memory = r;
}

/** The end-to-end stream's CPU a webhook, for the table (absent from results written before it was measured). */
function cpuOfStream(c: { total: number; postgres: number; redis: number; byProcess: Record<string, number> } | undefined): string {
  if (!c) return '';
  return `; CPU ${c.total} µs a webhook (${Object.entries(c.byProcess).map(([k, v]) => `${k} ${v}`).join(', ')}, PostgreSQL ${c.postgres}, Redis ${c.redis})`;
}

function markdown(): string {
  const r = results as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows = [
    ['Ingest (signed Stripe webhooks, 50 conns)', `${r.ingest.service.rps} req/s, p99 ${r.ingest.service.p99} ms, non-2xx ${r.ingest.service.non2xx}`, `bare express ${r.ingest.baseline.rps} req/s; CPU ${r.ingest.cpuPerRequestUs.bare.total} µs a request against the service's ${r.ingest.cpuPerRequestUs.service.total} µs${r.ingest.floor ? `; the floor (node http, verification, inbox, queue) ${r.ingest.floor.rps} req/s, × ${r.ingest.floor.ratio}, ${r.ingest.cpuPerRequestUs.floor.total} µs, the service × ${r.ingest.floor.serviceRatio} of it` : ''}${r.ingest.expressFloor ? `; the same floor on express × ${r.ingest.expressFloor.ratio}, ${r.ingest.cpuPerRequestUs.expressFloor.total} µs, the service × ${r.ingest.expressFloor.serviceRatio} of it` : ''}`, `× ${r.ingest.ratio} (target ≥ 0.6, p99 ≤ 30 ms)`],
    ['Worker (mixed events)', `${r.worker.eventsPerSecond.oneWorker}/s; ${r.worker.eventsPerSecond.twoWorkers === null ? 'two workers in a full run only' : `two workers ${r.worker.eventsPerSecond.twoWorkers}/s`}`, `BullMQ no-op ${r.worker.baselineNoopPerSecond}/s (mean of ${r.worker.baselineNoopReadings.join(' and ')}); CPU ${r.worker.cpuPerEventUs.noop.total} µs a job against the worker's ${r.worker.cpuPerEventUs.oneWorker.total} µs an event`, `× ${r.worker.ratio} (target ≥ 3,000/s and ≥ 0.2)`],
    ['End to end (2xx → readable), API and worker processes', `p50 ${r.endToEnd.p50} ms, p99 ${r.endToEnd.p99} ms (write began p99 ${r.endToEnd.writeBegan.p99} ms), queue max ${r.endToEnd.queueWaitingMax}`, `${r.endToEnd.sent} webhooks at ${S.e2eRate}/s${cpuOfStream(r.endToEnd.cpuPerWebhookUs)}`, 'target p99 ≤ 250 ms'],
    ...(r.endToEndOneProcess ? [['End to end, one process (PROCESS_ROLE=all)', `p50 ${r.endToEndOneProcess.p50} ms, p99 ${r.endToEndOneProcess.p99} ms (write began p99 ${r.endToEndOneProcess.writeBegan.p99} ms), queue max ${r.endToEndOneProcess.queueWaitingMax}`, `${r.endToEndOneProcess.sent} webhooks at ${S.e2eRate}/s${cpuOfStream(r.endToEndOneProcess.cpuPerWebhookUs)}`, 'printed']] : []),
    [`API, ${r.api.rows.toLocaleString('en')} transactions`, `first page p99 ${r.api.firstPage.p99} ms; page ${r.api.deepPageByPage.page} p99 ${r.api.deepPageByPage.p99} ms (of ${r.api.deepPageByPage.samples}); cursor p99 ${r.api.sameDepthByCursor.p99} ms; non-2xx ${(r.api.firstPage.non2xx ?? 0) + (r.api.deepPageByPage.non2xx ?? 0) + (r.api.sameDepthByCursor.non2xx ?? 0)}`, 'by page (offset) vs by cursor', 'target cursor p99 ≤ 20 ms'],
    ['Memory', `over ${r.memory.events.toLocaleString('en')} webhooks, both warmed with ${r.memory.warmEvents.toLocaleString('en')}: API ${signed(r.memory.apiRssMb.growth)} MB (${r.memory.apiRssMb.fresh} MB fresh → ${r.memory.apiRssMb.start} → ${r.memory.apiRssMb.end}, peak ${r.memory.apiRssMb.peak}); worker ${signed(r.memory.workerRssMb.growth)} MB (${r.memory.workerRssMb.fresh} MB fresh → ${r.memory.workerRssMb.start} → ${r.memory.workerRssMb.end}, peak ${r.memory.workerRssMb.peak})`, `Redis ${r.memory.redisBytesPerQueuedEvent} B per queued event`, 'target growth ≤ 50 MB'],
  ];
  return [
    `Run ${r.when}${r.quick ? ' (--quick)' : ''} on ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load from separate processes on the same cores.`,
    // the targets are set for the full sizes: a --quick table is a smoke run, not a verdict
    ...(r.quick
      ? ['', `--quick: ${sizes(S)}; the targets are for the full run's: ${sizes(FULL)}.`]
      : []),
    '',
    '| measure | Partner Ledger | baseline, same run | ratio / target |',
    '|---|---|---|---|',
    ...rows.map((c) => `| ${c.join(' | ')} |`),
    '',
  ].join('\n');
}

async function main() {
  const started = Date.now();
  await Promise.all([compile(), setupDatabase()]);
  // the first start migrates the database and creates the default program
  await stop(await service('api', 3900));
  sql = new pg.Client({ connectionString: dbUrl });
  await sql.connect();
  const [def] = await programIds();
  await seedPartners(def!.id);
  // a transaction-based program, for the worker mix
  const second = (await sql.query(`insert into programs (slug, name, attribution_model, commission, public_key, signing_secret) values ($1, 'bench transaction-based', 'transaction', '{"type":"percent","value":"10","rules":[],"lifetime":{"kind":"all"}}', $2, 's') returning id`, [`tb_${run}`, `pk_tb_${run}`])).rows[0].id;
  await seedPartners(second);
  const redis = new Redis(REDIS_URL);
  const queue = new Queue(PAYMENT_EVENTS_QUEUE, { connection: redis, prefix });
  // how long each measure took, printed and kept: what to look at when --quick outgrows its minute
  const phases: Record<string, number> = { setup: round((Date.now() - started) / 1000) };
  results.phaseSeconds = phases;
  const timed = async (name: string, measure: () => Promise<void>) => {
    const t = Date.now();
    await measure();
    phases[name] = round((Date.now() - t) / 1000);
    log(`   (${phases[name]} s)`);
  };
  try {
    if (wanted('ingest')) await timed('ingest', () => ingest(def!.id));
    // ingest left its jobs unprocessed (no worker ran): they go, and so do their inbox rows, which the
    // inbox sweeper would otherwise find without a job and queue again, 500 a minute, in the middle of
    // the later measures (it did: the first minute's in the end-to-end warm-up)
    await queue.obliterate({ force: true });
    await sql.query('delete from webhook_events');
    if (wanted('worker')) await timed('worker', () => worker(queue));
    // the one-process shape only when asked (`--only=e2e,one-process`): the memory measure's 200,000
    // webhooks take 230–280 s, and with this shape's 46 s too a slower hour's run would near 10 minutes
    const oneProcess = ONLY?.includes('one-process') ?? false;
    if (wanted('e2e') || oneProcess) {
      await timed('e2e', async () => {
        log(`3. end to end: ${S.e2eRate} webhooks/s for ${S.e2eMs / 1000} s, 2xx → reward readable`);
        if (wanted('e2e')) results.endToEnd = await endToEnd(queue, 'deployed');
        if (oneProcess) results.endToEndOneProcess = await endToEnd(queue, 'oneProcess');
      });
    }
    if (wanted('api')) await timed('api', apiAtScale);
    if (wanted('memory')) await timed('memory', () => memory(queue, redis));
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await sql.end();
    const admin = new pg.Client({ connectionString: ADMIN });
    await admin.connect();
    // `--keep-database`: left for a look at its rows and query plans
    if (process.argv.includes('--keep-database')) log(`(database ${dbName} kept)`);
    else await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
  results.seconds = round((Date.now() - started) / 1000);
  if (ONLY) {
    log(`\n(${results.seconds} s; --only=${ONLY.join(',')}: bench/results not written)`);
    return;
  }
  writeFileSync(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown();
  writeFileSync(new URL('./results/latest.md', import.meta.url), md);
  log(`\n${md}\n(${results.seconds} s; bench/results/latest.json and latest.md written)`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}
main().catch((err: unknown) => {
  for (const c of children) c.kill('SIGKILL');
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
