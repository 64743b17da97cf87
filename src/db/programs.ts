// Reading a program's rules for the core.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { CapSettings, DEFAULT_COMMISSION, FraudSettings, StoredCommissionSettings, type ProgramRules } from '../core/program.js';
import { hashApiKey, keyPrefix, newApiKey } from './api-keys.js';
import type { Db } from './client.js';
import { apiKeys, programs } from './schema.js';

export type NewProgram = Partial<Omit<ProgramRules, 'id'>> & { name: string; slug?: string };

/** Create a program and its first API key; the key is returned once and only its hash is kept. */
export async function createProgram(db: Db, p: NewProgram): Promise<{ id: string; apiKey: string }> {
  const apiKey = newApiKey();
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(programs)
      .values({
        slug: p.slug ?? `prg_${randomBytes(8).toString('hex')}`,
        name: p.name,
        type: p.type ?? 'affiliate',
        attributionModel: p.attributionModel ?? 'customer',
        currency: p.currency ?? 'USD',
        isCurrency: p.isCurrency ?? true,
        reviewPeriodDays: p.reviewPeriodDays ?? 0,
        commission: p.commission ?? DEFAULT_COMMISSION,
        publicKey: `pk_${randomBytes(12).toString('base64url')}`,
        signingSecret: randomBytes(32).toString('hex'),
      })
      .returning({ id: programs.id });
    await tx.insert(apiKeys).values({ programId: row!.id, keyHash: hashApiKey(apiKey), prefix: keyPrefix(apiKey), name: 'created with the program' });
    return { id: row!.id, apiKey };
  });
}

export async function loadProgramRules(db: Db, programId: string): Promise<ProgramRules | null> {
  const [row] = await db.select().from(programs).where(eq(programs.id, programId));
  if (!row) return null;
  return {
    id: row.id,
    type: row.type,
    attributionModel: row.attributionModel,
    currency: row.currency,
    isCurrency: row.isCurrency,
    reviewPeriodDays: row.reviewPeriodDays,
    // stored settings were validated when written; parsing again fills defaults added since
    commission: StoredCommissionSettings.parse(row.commission),
    fraud: FraudSettings.parse(row.fraud ?? {}),
    caps: CapSettings.parse(row.caps ?? {}),
  };
}

export type ProgramRulesSource = ((programId: string) => Promise<ProgramRules | null>) & {
  /** Forget a program's rules after a change, so this process applies the new ones at once. */
  invalidate(programId: string): void;
};

/**
 * Program rules change rarely and every job needs them: keep each for a few seconds. A change made
 * through this process applies at once; other processes (workers) see it within `ttlMs`. The jobs
 * in flight when an entry expires (hundreds under load) share one read, not one read each; a read
 * that fails is not kept.
 */
export function cachedProgramRules(db: Db, ttlMs = 5000): ProgramRulesSource {
  const cache = new Map<string, { at: number; rules: Promise<ProgramRules | null> }>();
  const get = (programId: string): Promise<ProgramRules | null> => {
    const hit = cache.get(programId);
    if (hit && Date.now() - hit.at < ttlMs) return hit.rules;
    const entry = { at: Date.now(), rules: loadProgramRules(db, programId) };
    cache.set(programId, entry);
    entry.rules.catch(() => {
      if (cache.get(programId) === entry) cache.delete(programId);
    });
    return entry.rules;
  };
  return Object.assign(get, { invalidate: (programId: string) => void cache.delete(programId) });
}
