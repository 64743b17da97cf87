// What the reliability scenarios share: a deployment (one API process, N worker processes) on its own
// database and queue prefix, the ledger's figures read straight from PostgreSQL and Redis, and the
// figures each scenario prints (and keeps in test/artifacts/reliability/ for RELIABILITY.md). The queues
// live on TEST_QUEUE_BACKEND: Redis, or the deployment's own database (QUEUE_BACKEND=postgres).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresBackend, Queue, QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { connect, type Db } from '../../src/db/client.js';
import { openQueue, PostgresQueues } from '../../src/queue/backend.js';
import { PAYMENT_EVENTS_QUEUE } from '../../src/queue/queues.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { EXPONENT, gatewayEnv, type Sale } from '../support/deliveries.js';
import { TEST_QUEUE_BACKEND, TEST_REDIS_URL } from '../support/env.js';
import { createPartner } from '../support/ledger.js';
import { spawnService, type ServiceProcess } from '../support/processes.js';
import { removePrefix, testPrefix } from '../support/redis.js';

export const PARTNERS = ['ptn_rel_alpha', 'ptn_rel_bravo', 'ptn_rel_charlie', 'ptn_rel_delta', 'ptn_rel_echo'];

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts', 'reliability');

/** A database the service creates itself (on a test's own server): only the connection is ours. */
function external(url: string): TestDatabase {
  const database = connect(url, { max: 3 });
  return { ...database, url, name: new URL(url).pathname.slice(1), drop: () => database.close() };
}

/** Print a scenario's figures and keep them as JSON (RELIABILITY.md quotes the last run). */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  console.log(`[reliability] ${scenario}: ${line}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, `${scenario}.json`), `${JSON.stringify({ scenario, at: new Date().toISOString(), ...figures }, null, 2)}\n`);
}

export type Deployment = {
  api: ServiceProcess;
  workers: ServiceProcess[];
  db: TestDatabase;
  prefix: string;
  redisUrl: string;
  /** Where the queues live (TEST_QUEUE_BACKEND unless the scenario's env names QUEUE_BACKEND). */
  backend: 'redis' | 'postgres';
  /** The payment queue, opened from outside on that backend. */
  queue: Queue;
  /** Its events (stalled jobs ...), opened on that backend; closed with the deployment. */
  queueEvents(): Promise<QueueEvents>;
  /** The ids of the payment jobs active right now, read straight from the backend's store. */
  activeJobIds(): Promise<string[]>;
  /** How many times each of these payment jobs came back from a dead worker (BullMQ's stalled counter). */
  stallCounts(ids: string[]): Promise<number[]>;
  programId: string;
  env: Record<string, string>;
  /** Start one more worker process (after a crash). */
  startWorker(name?: string): Promise<ServiceProcess>;
  stop(): Promise<void>;
};

/**
 * One API process and `workers` worker processes of the real service, on a database of its own
 * (cloned from the migrated template) and a queue prefix of its own on the shared Redis.
 */
export async function deploy(opts: {
  workers: number;
  env?: Record<string, string>;
  startWorkers?: boolean;
  /** Another Redis than the shared one (a test's own, to stop and start). */
  redisUrl?: string;
  /** A database on another server (a test's own); the service creates and migrates it. */
  databaseUrl?: string;
}): Promise<Deployment> {
  const db: TestDatabase = opts.databaseUrl ? external(opts.databaseUrl) : await createTestDatabase();
  const prefix = testPrefix();
  const redisUrl = opts.redisUrl ?? TEST_REDIS_URL;
  const env: Record<string, string> = { DATABASE_URL: db.url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, QUEUE_BACKEND: TEST_QUEUE_BACKEND, ...gatewayEnv(), ...opts.env };
  const backend = env.QUEUE_BACKEND === 'postgres' ? 'postgres' : 'redis';
  // on PostgreSQL: the bullmq schema made ready before the API process starts, as the service would
  const pgQueues = backend === 'postgres' ? new PostgresQueues(db.url, { max: 4 }) : undefined;
  await pgQueues?.migrate();
  const queue = pgQueues ? openQueue(PAYMENT_EVENTS_QUEUE, pgQueues, prefix) : new Queue(PAYMENT_EVENTS_QUEUE, { connection: { url: redisUrl }, prefix });
  queue.on('error', () => {});
  const opened: QueueEvents[] = [];
  let redis: Redis | undefined;
  const redisClient = () => (redis ??= new Redis(redisUrl));
  const jobKey = (id: string) => `${prefix}:${PAYMENT_EVENTS_QUEUE}:${id}`;
  const workers: ServiceProcess[] = [];
  let api: ServiceProcess | undefined;
  const d: Deployment = {
    get api() {
      return api!;
    },
    workers,
    db,
    prefix,
    redisUrl,
    backend,
    queue,
    async queueEvents() {
      const events = pgQueues
        ? new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: pgQueues.pool }, createPostgresBackend as never)
        : new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: { url: redisUrl }, prefix });
      opened.push(events);
      await events.waitUntilReady();
      return events;
    },
    async activeJobIds() {
      if (pgQueues) {
        const { rows } = await pgQueues.pool.query<{ id: string }>(`select id from job where queue = $1 and state = 'active'`, [PAYMENT_EVENTS_QUEUE]);
        return rows.map((r) => r.id);
      }
      return redisClient().lrange(`${prefix}:${PAYMENT_EVENTS_QUEUE}:active`, 0, -1);
    },
    async stallCounts(ids) {
      if (pgQueues) {
        const { rows } = await pgQueues.pool.query<{ id: string; n: number }>(
          `select id, stalled_count as n from job where queue = $1 and id = any($2)`,
          [PAYMENT_EVENTS_QUEUE, ids],
        );
        const byId = new Map(rows.map((r) => [r.id, Number(r.n)]));
        return ids.map((id) => byId.get(id) ?? 0);
      }
      const pipeline = redisClient().pipeline();
      for (const id of ids) pipeline.hget(jobKey(id), 'stc');
      return ((await pipeline.exec()) ?? []).map(([, v]) => Number(v ?? 0));
    },
    programId: '',
    env,
    async startWorker(name) {
      const w = await spawnService(env, { role: 'worker', name: name ?? `worker-${workers.length + 1}` });
      workers.push(w);
      return w;
    },
    async stop() {
      await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
      for (const events of opened) await events.close().catch(() => {});
      redis?.disconnect();
      await queue.close().catch(() => {});
      await pgQueues?.close().catch(() => {});
      if (backend === 'redis' && redisUrl === TEST_REDIS_URL) await removePrefix(prefix).catch(() => {});
      await db.drop().catch(() => {});
    },
  };
  try {
    api = await spawnService(env, { role: 'api', name: 'api' });
    const [row] = (await db.db.execute(sql`select id from programs where slug = 'default'`)).rows as { id: string }[];
    d.programId = row!.id;
    for (const key of PARTNERS) await createPartner(db.db, d.programId, key);
    if (opts.startWorkers !== false) {
      for (let i = 0; i < opts.workers; i++) await d.startWorker();
    }
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

export async function inboxCounts(db: Db): Promise<Record<string, number>> {
  const rows = (await db.execute(sql`select status, count(*)::int as n from webhook_events group by status`)).rows as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export async function queueCounts(queue: Queue) {
  return queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed');
}

/**
 * Wait until the inbox has `events` rows, all final (processed, ignored or failed), and the queue has
 * nothing waiting, active or delayed. Bounded: throws with what is still open after `timeoutMs`.
 */
export async function drained(d: Pick<Deployment, 'db' | 'queue'>, events: number, timeoutMs: number, onTick?: () => Promise<void>) {
  const started = Date.now();
  for (;;) {
    const inbox = await inboxCounts(d.db.db);
    const q = await queueCounts(d.queue);
    const final = (inbox.processed ?? 0) + (inbox.ignored ?? 0) + (inbox.failed ?? 0);
    const open = q.waiting! + q.active! + q.delayed! + q.prioritized! + q['waiting-children']!;
    if (final >= events && open === 0) return { inbox, queue: q, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) {
      throw new Error(`not drained after ${timeoutMs} ms: inbox ${JSON.stringify(inbox)}, queue ${JSON.stringify(q)}`);
    }
    await onTick?.();
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A decimal string ("12.345") as an integer count of 10^-6 units. */
export function micro(value: string): bigint {
  const neg = value.startsWith('-');
  const [whole, frac = ''] = (neg ? value.slice(1) : value).split('.');
  const n = BigInt(whole || '0') * 1_000_000n + BigInt((frac + '000000').slice(0, 6));
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) throw new Error(`more than 6 decimals: ${value}`);
  return neg ? -n : n;
}

/** The default program pays 20% of each sale, exactly: per currency, in 10^-6 units. */
export function expectedRewards(sales: Sale[]): Record<string, bigint> {
  const sums: Record<string, bigint> = {};
  for (const s of sales) {
    const e = EXPONENT[s.currency]!;
    // minor × 20 / 100 / 10^e, in 10^-6 units: minor × 2 × 10^(5 - e)
    sums[s.currency] = (sums[s.currency] ?? 0n) + s.amountMinor * 2n * 10n ** BigInt(5 - e);
  }
  return sums;
}

/** What the ledger holds: transactions (and deleted ones), rewards, and live reward totals per unit. */
export async function ledgerFigures(db: Db) {
  const [t] = (
    await db.execute(sql`select count(*)::int as total, count(deleted_at)::int as deleted, count(distinct key)::int as keys from transactions`)
  ).rows as { total: number; deleted: number; keys: number }[];
  const [r] = (await db.execute(sql`select count(*)::int as total, count(deleted_at)::int as deleted from rewards`)).rows as {
    total: number;
    deleted: number;
  }[];
  const sums = (
    await db.execute(sql`select units, sum(amount)::text as total from rewards where deleted_at is null group by units order by units`)
  ).rows as { units: string; total: string }[];
  // a transaction with more than one reward would be a payment counted twice
  const [multi] = (
    await db.execute(sql`select count(*)::int as n from (select transaction_id from rewards group by transaction_id having count(*) > 1) x`)
  ).rows as { n: number }[];
  return {
    transactions: t!.total,
    deletedTransactions: t!.deleted,
    distinctKeys: t!.keys,
    rewards: r!.total,
    deletedRewards: r!.deleted,
    transactionsWithSeveralRewards: multi!.n,
    rewardTotals: Object.fromEntries(sums.map((s) => [s.units, micro(s.total)])),
  };
}

/** 10^-6 units as a decimal string, for figures a person reads. */
export function fromMicro(v: bigint): string {
  const s = (v < 0n ? -v : v).toString().padStart(7, '0');
  const text = `${s.slice(0, -6)}.${s.slice(-6)}`.replace(/\.?0+$/, '');
  return v < 0n ? `-${text}` : text;
}
