// Where BullMQ keeps the queues: Redis (the default), or the service's own PostgreSQL database
// (QUEUE_BACKEND=postgres: BullMQ's PostgreSQL backend, schema `bullmq`, LISTEN/NOTIFY wake-ups).
// Every Queue and Worker of the service is built here, so both backends get the same options.
import {
  createPostgresBackend,
  Queue,
  runMigrations,
  Worker,
  type JobsOptions,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
import type { Redis } from 'ioredis';
import pg from 'pg';

export type { QueueBackendName } from './backend-choice.js';

/** The schema BullMQ's tables live in, beside the service's own (its default: an existing pool always uses it). */
export const QUEUE_SCHEMA = 'bullmq';

/**
 * Connections the PostgreSQL backend keeps for good: each Worker holds one pooled client for LISTEN
 * (payment events, bulk runs, callbacks, maintenance, outbound webhooks).
 */
export const POSTGRES_LISTENERS_PER_WORKER_PROCESS = 5;

/**
 * The PostgreSQL backend's one pool. Each Queue or Worker handed a connection string opens a pool of
 * its own (up to 10 connections each); handed this pool, they all share it. Its search_path is the
 * bullmq schema, so BullMQ's SQL finds its tables and never touches the service's.
 */
export class PostgresQueues {
  readonly backend = 'postgres' as const;
  readonly pool: pg.Pool;

  constructor(databaseUrl: string, opts: { max: number }) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: opts.max,
      options: `-c search_path=${QUEUE_SCHEMA}`,
      // a receiver answers 503 rather than wait for good when the database is down or the pool is full
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    // an idle connection that drops is replaced at its next use; readiness reports an outage
    this.pool.on('error', () => {});
    // every Queue and Worker on it listens for the pool's errors (a dozen in one process)
    this.pool.setMaxListeners(100);
  }

  /** Creates or upgrades the bullmq schema (an advisory lock serializes processes starting together). */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await runMigrations(client, QUEUE_SCHEMA);
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** What the queue helpers are handed: a Redis connection (with the key prefix), or the PostgreSQL queues. */
export type QueueConnection = Redis | PostgresQueues;

type Keep = JobsOptions['removeOnComplete'];

/** Completed or failed jobs of count-only retention are kept a day on the PostgreSQL backend. */
export const POSTGRES_COUNT_RETENTION_AGE_SECONDS = 24 * 3600;

/**
 * Retention as the PostgreSQL backend can afford it. A count (`{count: N}`, or a number) makes every
 * completion scan the jobs it keeps, and concurrent completions deadlock on the same rows (a drain
 * measured here fell to ~7 jobs/s); age is an indexed range delete. So a count is dropped where an age
 * is given, and a count alone becomes a day.
 */
export function ageOnlyRetention(keep: Keep): Keep {
  if (keep === undefined || typeof keep === 'boolean') return keep;
  if (typeof keep === 'number') return { age: POSTGRES_COUNT_RETENTION_AGE_SECONDS };
  if ('age' in keep && keep.age !== undefined) return { age: keep.age };
  return { age: POSTGRES_COUNT_RETENTION_AGE_SECONDS };
}

function ageOnlyOptions<T extends { removeOnComplete?: Keep; removeOnFail?: Keep } | undefined>(opts: T): T {
  if (!opts) return opts;
  const out = { ...opts };
  if ('removeOnComplete' in opts) out.removeOnComplete = ageOnlyRetention(opts.removeOnComplete);
  if ('removeOnFail' in opts) out.removeOnFail = ageOnlyRetention(opts.removeOnFail);
  return out;
}

/** Custom job ids first, in code-point order (the same in every process); generated ones after. */
function byJobId(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : 1;
}

/** BullMQ's Queue on the PostgreSQL backend, retention made affordable there (see ageOnlyRetention). */
class PostgresQueue extends Queue {
  constructor(name: string, opts: QueueOptions<pg.Pool>) {
    // the typed overloads want the backend's type parameters; the class is the same at run time
    super(name, { ...opts, defaultJobOptions: ageOnlyOptions(opts.defaultJobOptions) } as never, createPostgresBackend as never);
  }
  override add(...[name, data, opts]: Parameters<Queue['add']>) {
    return super.add(name, data, ageOnlyOptions(opts));
  }
  /**
   * Two batches adding the same job ids (a delivery and its copy, sent at once) in different orders
   * deadlock on the job table's unique index, where Redis would simply dedupe: the batch goes in job id
   * order, so the second waits for the first and then skips the ids it already holds. The jobs come back
   * in the order given.
   */
  override async addBulk(...[jobs]: Parameters<Queue['addBulk']>) {
    const order = jobs.map((_, i) => i).sort((a, b) => byJobId(jobs[a]!.opts?.jobId, jobs[b]!.opts?.jobId) || a - b);
    const added = await super.addBulk(order.map((i) => ({ ...jobs[i]!, opts: ageOnlyOptions(jobs[i]!.opts) })));
    const out = new Array<(typeof added)[number]>(jobs.length);
    order.forEach((original, sorted) => (out[original] = added[sorted]!));
    return out;
  }
  override upsertJobScheduler(...[id, repeat, template]: Parameters<Queue['upsertJobScheduler']>) {
    return super.upsertJobScheduler(id, repeat, template && { ...template, opts: ageOnlyOptions(template.opts) });
  }
}

class PostgresWorker extends Worker {
  constructor(name: string, processor: Processor, opts: WorkerOptions<pg.Pool>) {
    super(name, processor, opts as never, createPostgresBackend as never);
  }
}

/** A Queue on the given backend. `prefix` keys Redis; the PostgreSQL schema is the namespace there. */
export function openQueue<D = unknown>(
  name: string,
  connection: QueueConnection,
  prefix: string,
  opts: Omit<QueueOptions, 'connection' | 'prefix'> = {},
): Queue<D> {
  if (connection instanceof PostgresQueues) {
    // one Queue class for both backends: the PostgreSQL one differs in its backend type parameter only
    return new PostgresQueue(name, { ...opts, connection: connection.pool }) as unknown as Queue<D>;
  }
  return new Queue<D>(name, { ...opts, connection, prefix });
}

/** A Worker on the given backend (its own LISTEN client out of the shared pool on PostgreSQL). */
export function openWorker<D = unknown, R = unknown>(
  name: string,
  processor: Processor<D, R>,
  connection: QueueConnection,
  prefix: string,
  opts: Omit<WorkerOptions, 'connection' | 'prefix'> = {},
): Worker<D, R> {
  if (connection instanceof PostgresQueues) {
    return new PostgresWorker(name, processor as Processor, { ...opts, connection: connection.pool }) as unknown as Worker<D, R>;
  }
  return new Worker<D, R>(name, processor, { ...opts, connection, prefix });
}
