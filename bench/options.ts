// What a run measures and where: its flags, its sizes, and the names it gives its database and queues.
import { randomBytes } from 'node:crypto';

export const QUICK = process.argv.includes('--quick');
/**
 * `--only=ingest,e2e`: run some of the measures (nothing is written to bench/results then);
 * `one-process` among them adds the end-to-end measure with API and worker in one process.
 */
export const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
export const wanted = (name: string) => !ONLY || ONLY.includes(name);
/** `--cpu-prof`: the service processes and the ingest floors write CPU profiles to bench/results/profiles (not committed). */
export const CPU_PROFILE = process.argv.includes('--cpu-prof');
/**
 * `--queue-backend postgres`: the worker and end-to-end measures run a second time with the queues on
 * BullMQ's PostgreSQL backend (QUEUE_BACKEND=postgres, schema bullmq of the bench database), beside Redis.
 */
const queueBackendArg = process.argv.indexOf('--queue-backend');
export const QUEUE_BACKEND_POSTGRES =
  (queueBackendArg >= 0 && process.argv[queueBackendArg + 1] === 'postgres') || process.argv.includes('--queue-backend=postgres');
/** `--keep-database`: left for a look at its rows and query plans. */
export const KEEP_DATABASE = process.argv.includes('--keep-database');

export const ADMIN = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SECRET = 'whsec_bench_secret';
export const API_KEY = 'pl_bench_api_key';
/** This run's own names, apart from any other run's: event ids, database, queue prefix. */
export const run = randomBytes(3).toString('hex');
export const dbName = `pl_bench_${run}`;
export const dbUrl = ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
export const prefix = `plbench${run}`;

export const FULL = { ingestMs: 10_000, workerEvents: 50_000, warmEvents: 5000, e2eMs: 30_000, e2eWarmMs: 5000, e2eRate: 500, apiRows: 1_000_000, apiSamples: 1000, memoryEvents: 200_000 };
export type Sizes = typeof FULL;
export const S: Sizes = QUICK
  ? { ingestMs: 3000, workerEvents: 5000, warmEvents: 1000, e2eMs: 5000, e2eWarmMs: 2000, e2eRate: 300, apiRows: 100_000, apiSamples: 50, memoryEvents: 3000 }
  : FULL;
/** The sizes a run measured at, in a line: `ingest for 10 s, 50,000 worker events, ...`. */
export const sizes = (z: Sizes) =>
  `ingest for ${z.ingestMs / 1000} s, ${z.workerEvents.toLocaleString('en')} worker events, end to end at ${z.e2eRate}/s for ${z.e2eMs / 1000} s, ${z.apiRows.toLocaleString('en')} rows, ${z.memoryEvents.toLocaleString('en')} memory events`;
