// Start-up's first question: do PostgreSQL and Redis answer? Asked with pg and ioredis alone, before
// the rest of the service (gateway SDKs, BullMQ, express, drizzle) is loaded, so that `npm start`
// names what is missing in the time it takes to start Node, not to load everything first.
import { redactUrl, type Config } from './config.js';
import { ensureDatabase } from './db/ensure-database.js';
import type { Logger } from './logger.js';
import { pingRedis } from './queue/redis.js';

const HOW_TO_START = 'start it, for example with: docker compose up -d postgres redis';

/** A start-up failure that is the environment's, told in one line. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** What went wrong, in a few words: the first of an AggregateError's, the message, or the code. */
export function reason(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { message: string }[] };
  return e.errors?.[0]?.message ?? e.message ?? e.code ?? String(err);
}

/** The database exists (created when missing) and Redis answers; a StartupError naming the one that does not. */
export async function checkStores(config: Config, logger: Logger): Promise<void> {
  try {
    const created = await ensureDatabase(config.DATABASE_URL);
    if (created) logger.info({ database: redactUrl(config.DATABASE_URL) }, 'database created');
  } catch (err) {
    throw new StartupError(`cannot reach PostgreSQL at ${redactUrl(config.DATABASE_URL)} (${reason(err)}); ${HOW_TO_START}`);
  }
  try {
    await pingRedis(config.REDIS_URL);
  } catch (err) {
    throw new StartupError(`cannot reach Redis at ${redactUrl(config.REDIS_URL)} (${reason(err)}); ${HOW_TO_START}`);
  }
}
