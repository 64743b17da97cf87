// Bearer API keys: a key belongs to one program and sees only that program's data.
import type { RequestHandler } from 'express';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { ProgramRules } from '../../core/program.js';
import { hashApiKey } from '../../db/api-keys.js';
import type { Db } from '../../db/client.js';
import { apiKeys } from '../../db/schema.js';
import { ApiError } from '../errors.js';

export function apiKeyAuth(db: Db, programs: (id: string) => Promise<ProgramRules | null>): RequestHandler {
  // every API request runs it: built and prepared once, then only executed (never cached: a revoked
  // key stops working at once)
  const byHash = db
    .select({ programId: apiKeys.programId })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sql.placeholder('hash')), isNull(apiKeys.revokedAt)))
    .prepare('api_key_by_hash');
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'unauthorized', 'send your API key as "Authorization: Bearer <key>"');
    const [row] = await byHash.execute({ hash: hashApiKey(match[1]!) });
    const program = row ? await programs(row.programId) : null;
    if (!program) throw new ApiError(401, 'invalid_api_key', 'the API key is not valid');
    res.locals.program = program;
    next();
  };
}
