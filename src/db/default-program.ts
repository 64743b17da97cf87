// The default program, created or updated idempotently from the environment at every start.
import { randomBytes } from 'node:crypto';
import { and, eq, isNull, ne } from 'drizzle-orm';
import { DEFAULT_COMMISSION } from '../core/program.js';
import type { Db } from './client.js';
import { hashApiKey, keyPrefix } from './api-keys.js';
import type { GatewaySettings } from '../gateways/settings.js';
import { apiKeys, programs } from './schema.js';

export const DEFAULT_PROGRAM_SLUG = 'default';

/** What start-up brings the default program in line with (from the environment, read by the caller). */
export type DefaultProgramSettings = {
  name: string;
  /** Used when the program is first created only. */
  currency: string;
  /** The program's one environment key (API_KEY); unset: none. */
  apiKey?: string;
  gateways: GatewaySettings;
};

/**
 * Create the default program, or bring its name and gateway settings in line with the environment.
 * Settings changed through the API (commission, review period) are left as they are.
 * API_KEY, when set, becomes the program's one environment key; a changed API_KEY retires the old one.
 * A start without API_KEY keeps the key the environment set before: it stays valid until API_KEY is
 * changed or the key is revoked (`npm run cli -- keys:revoke`), so a restart never locks clients out.
 */
export async function ensureDefaultProgram(db: Db, c: DefaultProgramSettings): Promise<string> {
  const { gateways } = c;
  const [row] = await db
    .insert(programs)
    .values({
      slug: DEFAULT_PROGRAM_SLUG,
      name: c.name,
      currency: c.currency,
      commission: DEFAULT_COMMISSION,
      publicKey: `pk_${randomBytes(12).toString('base64url')}`,
      signingSecret: randomBytes(32).toString('hex'),
      gateways,
    })
    .onConflictDoUpdate({
      target: programs.slug,
      set: { name: c.name, gateways, updatedAt: new Date() },
    })
    .returning({ id: programs.id });
  const programId = row!.id;

  const apiKey = c.apiKey;
  if (apiKey) {
    await db.transaction(async (tx) => {
      const keyHash = hashApiKey(apiKey);
      // a key revoked by the operator stays revoked, even while the environment still names it
      await tx
        .insert(apiKeys)
        .values({ programId, keyHash, prefix: keyPrefix(apiKey), name: 'API_KEY', source: 'env' })
        .onConflictDoNothing({ target: apiKeys.keyHash });
      await tx
        .delete(apiKeys)
        .where(and(eq(apiKeys.programId, programId), eq(apiKeys.source, 'env'), ne(apiKeys.keyHash, keyHash)));
    });
  }
  return programId;
}

/** What start-up says about the default program's keys. */
export type DefaultKeyState = {
  /** The key the environment set (now or at an earlier start): active, revoked, or none was ever set. */
  env: 'active' | 'revoked' | 'none';
  /** Keys created with POST /v1/api-keys or `keys:create`, not revoked. */
  others: number;
};

export async function defaultKeyState(db: Db, programId: string): Promise<DefaultKeyState> {
  const rows = await db
    .select({ source: apiKeys.source, revokedAt: apiKeys.revokedAt })
    .from(apiKeys)
    .where(eq(apiKeys.programId, programId));
  const env = rows.find((r) => r.source === 'env');
  return {
    env: !env ? 'none' : env.revokedAt ? 'revoked' : 'active',
    others: rows.filter((r) => r.source !== 'env' && !r.revokedAt).length,
  };
}

/** Whether the default program has a key that is not revoked. */
export async function hasActiveKey(db: Db, programId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.programId, programId), isNull(apiKeys.revokedAt)))
    .limit(1);
  return !!row;
}
