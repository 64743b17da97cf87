// The default program, created or updated idempotently from the environment at every start.
import { randomBytes } from 'node:crypto';
import { and, eq, ne } from 'drizzle-orm';
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

  await db.transaction(async (tx) => {
    if (c.apiKey) {
      const keyHash = hashApiKey(c.apiKey);
      await tx
        .insert(apiKeys)
        .values({ programId, keyHash, prefix: keyPrefix(c.apiKey), name: 'API_KEY', source: 'env' })
        .onConflictDoNothing({ target: apiKeys.keyHash });
      await tx
        .delete(apiKeys)
        .where(and(eq(apiKeys.programId, programId), eq(apiKeys.source, 'env'), ne(apiKeys.keyHash, keyHash)));
    } else {
      await tx.delete(apiKeys).where(and(eq(apiKeys.programId, programId), eq(apiKeys.source, 'env')));
    }
  });
  return programId;
}
