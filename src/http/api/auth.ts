// Bearer API keys: a key belongs to one program and sees only that program's data.
import type { RequestHandler } from 'express';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { ProgramRules } from '../../core/program.js';
import { hashApiKey } from '../../db/api-keys.js';
import type { Db } from '../../db/client.js';
import { apiKeys } from '../../db/schema.js';
import { ApiError } from '../errors.js';

/** How often a key's `last_used_at` is written at most: a list needs the minute, not every request. */
const LAST_USED_EVERY = sql`interval '1 minute'`;

export function apiKeyAuth(db: Db, programs: (id: string) => Promise<ProgramRules | null>): RequestHandler {
  // every API request runs it: built and prepared once, then only executed (never cached: a revoked
  // key stops working at once, in every process)
  const byHash = db
    .select({
      id: apiKeys.id,
      programId: apiKeys.programId,
      // the database's clock on both sides, so the processes' clocks do not matter
      stale: sql<boolean>`(${apiKeys.lastUsedAt} is null or ${apiKeys.lastUsedAt} < now() - ${LAST_USED_EVERY})`,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sql.placeholder('hash')), isNull(apiKeys.revokedAt)))
    .prepare('api_key_by_hash');
  // conditional, so processes that saw the same stale value write it once between them
  const touch = db
    .update(apiKeys)
    .set({ lastUsedAt: sql`now()` })
    .where(and(eq(apiKeys.id, sql.placeholder('id')), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, sql`now() - ${LAST_USED_EVERY}`))))
    .prepare('api_key_touch');
  // a burst of requests with one key in this process queues one write on its row, not one each
  const touching = new Set<string>();

  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'unauthorized', 'send your API key as "Authorization: Bearer <key>"');
    const [row] = await byHash.execute({ hash: hashApiKey(match[1]!) });
    const program = row ? await programs(row.programId) : null;
    if (!row || !program) throw new ApiError(401, 'invalid_api_key', 'the API key is not valid');
    if (row.stale && !touching.has(row.id)) {
      touching.add(row.id);
      try {
        await touch.execute({ id: row.id });
      } catch (err) {
        // bookkeeping: a failed write must not refuse a request the key is entitled to
        req.log.warn({ err, apiKeyId: row.id }, 'could not record the API key use');
      } finally {
        touching.delete(row.id);
      }
    }
    res.locals.program = program;
    res.locals.apiKeyId = row.id;
    next();
  };
}
