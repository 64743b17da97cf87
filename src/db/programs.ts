// Reading a program's rules for the core.
import { eq } from 'drizzle-orm';
import { CommissionSettings, type ProgramRules } from '../core/program.js';
import type { Db } from './client.js';
import { programs } from './schema.js';

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
    commission: CommissionSettings.parse(row.commission),
  };
}

/** Program rules change rarely and every job needs them: keep each for a few seconds. */
export function cachedProgramRules(db: Db, ttlMs = 5000) {
  const cache = new Map<string, { at: number; rules: ProgramRules | null }>();
  return async (programId: string): Promise<ProgramRules | null> => {
    const hit = cache.get(programId);
    if (hit && Date.now() - hit.at < ttlMs) return hit.rules;
    const rules = await loadProgramRules(db, programId);
    cache.set(programId, { at: Date.now(), rules });
    return rules;
  };
}
