// API keys: only a sha256 hash is stored; the key itself is shown once.
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, count, eq, isNull, ne, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { apiKeys, programs } from './schema.js';

export type ApiKeyRow = typeof apiKeys.$inferSelect;
/** Where a key came from: start-up (API_KEY), an operator command, or the REST API. */
export type ApiKeySource = 'env' | 'cli' | 'api';

/** Unrevoked keys a program may hold at once: a leaked key cannot mint keys without end. */
export const MAX_ACTIVE_API_KEYS = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newApiKey(): string {
  return `pl_${randomBytes(24).toString('base64url')}`;
}

/** Enough of the key to tell keys apart in a list, never enough to matter: at most a quarter. */
export function keyPrefix(key: string): string {
  return key.slice(0, Math.min(6, Math.floor(key.length / 4)));
}

/** How a stored key is shown anywhere but the answer that created it. */
export const maskedKey = (prefix: string): string => `${prefix}…`;

export type CreatedApiKey = { row: ApiKeyRow; key: string };

/**
 * A new key for a program: the key is returned once, only its hash is kept. `no_program` when the
 * program does not exist, `too_many` when it holds MAX_ACTIVE_API_KEYS unrevoked keys already.
 */
export async function createApiKey(db: Db, p: { programId: string; name?: string; source: Exclude<ApiKeySource, 'env'> }): Promise<CreatedApiKey | 'no_program' | 'too_many'> {
  if (!isUuid(p.programId)) return 'no_program';
  const key = newApiKey();
  return db.transaction(async (tx) => {
    // the program row's lock makes concurrent creations count one after another
    const [program] = await tx.select({ id: programs.id }).from(programs).where(eq(programs.id, p.programId)).for('update');
    if (!program) return 'no_program';
    const [active] = await tx
      .select({ n: count() })
      .from(apiKeys)
      .where(and(eq(apiKeys.programId, p.programId), isNull(apiKeys.revokedAt)));
    if ((active?.n ?? 0) >= MAX_ACTIVE_API_KEYS) return 'too_many';
    const [row] = await tx
      .insert(apiKeys)
      .values({ programId: p.programId, keyHash: hashApiKey(key), prefix: keyPrefix(key), name: p.name ?? '', source: p.source })
      .returning();
    return { row: row!, key };
  });
}

/** A program's keys, revoked ones too, oldest first; `total` counts them all. */
export async function listApiKeys(db: Db, programId: string, page: { limit: number; offset: number } = { limit: 1000, offset: 0 }) {
  const mine = eq(apiKeys.programId, programId);
  const [rows, [counted]] = await Promise.all([
    db.select().from(apiKeys).where(mine).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).limit(page.limit).offset(page.offset),
    db.select({ n: count() }).from(apiKeys).where(mine),
  ]);
  return { rows, total: counted?.n ?? 0 };
}

export type RevokeOutcome = { revoked: ApiKeyRow } | { env: ApiKeyRow } | 'not_found';

/**
 * Revoke a key at once: authentication reads the key's row on every request, so its next request is
 * refused, in every process. With `programId`, a key of another program is not found. The key start-up
 * takes from API_KEY is refused unless `allowEnv` (the operator's command): a program's own key may
 * not revoke the operator's. Revoking a revoked key answers it as it is.
 */
export async function revokeApiKey(db: Db, id: string, programId?: string, options: { allowEnv?: boolean } = {}): Promise<RevokeOutcome> {
  if (!isUuid(id) || (programId !== undefined && !isUuid(programId))) return 'not_found';
  const which = and(eq(apiKeys.id, id), programId === undefined ? undefined : eq(apiKeys.programId, programId));
  const [revoked] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(which, options.allowEnv ? undefined : ne(apiKeys.source, 'env'), isNull(apiKeys.revokedAt)))
    .returning();
  if (revoked) return { revoked };
  // not changed: unknown, the environment's key, or revoked already
  const [row] = await db.select().from(apiKeys).where(which);
  if (!row) return 'not_found';
  return row.source === 'env' && !row.revokedAt ? { env: row } : { revoked: row };
}

export const ENV_KEY_MESSAGE =
  'this key is API_KEY from the service environment: it stays valid until the operator sets another API_KEY and restarts the service, or revokes it with `npm run cli -- keys:revoke <id>`';
