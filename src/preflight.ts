// Start-up's first question: do PostgreSQL and Redis (when the queues live there) answer? Asked with pg and ioredis alone, before
// the rest of the service (gateway SDKs, BullMQ, express, drizzle) is loaded, so that `npm start`
// names what is missing in the time it takes to start Node, not to load everything first.
import { Redis } from 'ioredis';
import { redactUrl, type Config } from './config.js';
import { ensureDatabase } from './db/ensure-database.js';
import type { Logger } from './logger.js';
import { chooseQueueBackend, type QueueBackendChoice } from './queue/backend-choice.js';
import { pingRedis } from './queue/redis.js';
import { readEvictionPolicy, REQUIRED_POLICY, type EvictionPolicy } from './redis-policy.js';

const HOW_TO_START = 'start it, for example with: docker compose -f docker-compose.yml -f docker-compose.stores.yml up -d postgres redis';

/** A start-up failure that is the environment's, told in one line. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** What went wrong, in a few words: the first of an AggregateError's, the message, or the code. */
export function reason(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { message: string }[] };
  return e.errors?.[0]?.message ?? e.message ?? e.code ?? String(err);
}

/**
 * The database exists (created when missing), the queue backend is chosen (QUEUE_BACKEND), and on
 * Redis, Redis answers with maxmemory-policy noeviction (or a loud warning outside production); a
 * StartupError naming what is wrong. On the PostgreSQL backend Redis is not asked at all.
 */
export async function checkStores(config: Config, logger: Logger): Promise<QueueBackendChoice> {
  try {
    const created = await ensureDatabase(config.DATABASE_URL);
    if (created) logger.info({ database: redactUrl(config.DATABASE_URL) }, 'database created');
  } catch (err) {
    throw new StartupError(`cannot reach PostgreSQL at ${redactUrl(config.DATABASE_URL)} (${reason(err)}); ${HOW_TO_START}`);
  }
  const choice = await chooseQueueBackend(config);
  if (choice.backend === 'postgres') {
    logger.info({ queueBackend: 'postgres', why: choice.why }, 'queues on PostgreSQL (BullMQ PostgreSQL backend, schema bullmq): Redis is not used');
    return choice;
  }
  try {
    await pingRedis(config.REDIS_URL);
  } catch (err) {
    throw new StartupError(
      `cannot reach Redis at ${redactUrl(config.REDIS_URL)} (${reason(err)}); ${HOW_TO_START}, or keep the queues in PostgreSQL with QUEUE_BACKEND=postgres`,
    );
  }
  await checkRedisPolicy(config, logger);
  return choice;
}

/**
 * An evicting Redis loses acknowledged jobs silently when it fills up: refused when NODE_ENV=production,
 * a warning otherwise. A policy nobody may read (neither CONFIG GET nor INFO allowed) is a warning.
 */
export async function checkRedisPolicy(config: Pick<Config, 'REDIS_URL' | 'NODE_ENV'>, logger: Logger): Promise<EvictionPolicy> {
  const client = new Redis(config.REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  let found: EvictionPolicy;
  try {
    await client.connect();
    found = await readEvictionPolicy(client);
  } catch (err) {
    found = { policy: null, error: reason(err) };
  } finally {
    client.disconnect();
  }
  const where = redactUrl(config.REDIS_URL);
  if (found.policy === null) {
    logger.warn(
      { redis: where, reason: found.error },
      `could not read the maxmemory-policy of Redis (neither CONFIG GET nor INFO memory answered): make sure it is ${REQUIRED_POLICY}, or queued jobs can be evicted`,
    );
  } else if (found.policy !== REQUIRED_POLICY) {
    const problem =
      `Redis at ${where} has maxmemory-policy ${found.policy}: when it fills up it evicts keys, queued jobs among them, ` +
      `without a word; set maxmemory-policy ${REQUIRED_POLICY} (redis.conf, or CONFIG SET maxmemory-policy ${REQUIRED_POLICY})`;
    if (config.NODE_ENV === 'production') throw new StartupError(problem);
    logger.warn({ redis: where, policy: found.policy, source: found.source }, `${problem}; NODE_ENV=production refuses to start so`);
  }
  return found;
}
