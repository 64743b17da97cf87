// Every stored secret sealed under the key that seals now: at each start (values written before
// SECRETS_KEY was set, or under an older key) and by `npm run cli -- secrets:rotate`.
import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import type { Keyring } from './secret-box.js';
import { programs, webhookSubscriptions } from './schema.js';

/** The strings of a stored gateway settings object that are sealed, or would be. */
function secretStrings(gateways: unknown): string[] {
  const out: string[] = [];
  for (const fields of Object.values((gateways ?? {}) as Record<string, unknown>)) {
    if (!fields || typeof fields !== 'object') continue;
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      if (field === 'url' || field === 'site') continue;
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') out.push(v);
    }
  }
  return out;
}

export type SealReport = { programs: number; subscriptions: number; keyId: string };

/**
 * Rewrite the rows holding any secret that is plain or sealed under another key. Reading opens them
 * (under any key the ring holds) and writing seals them under the current one; rows already current
 * are not touched, so this is cheap at every start and safe when several processes start at once.
 */
export async function sealStoredSecrets(db: Db, keyring: Keyring): Promise<SealReport> {
  const stale = (v: string) => !keyring.isCurrent(v);
  // raw text, not through the column types: what matters here is how each value is stored
  const rawPrograms = await db.execute<{ id: string; signing_secret: string; gateways: unknown }>(
    sql`select id, signing_secret, gateways from programs`,
  );
  let sealedPrograms = 0;
  for (const r of rawPrograms.rows) {
    if (!stale(r.signing_secret) && !secretStrings(r.gateways).some(stale)) continue;
    await db.transaction(async (tx) => {
      const [row] = await tx.select({ signingSecret: programs.signingSecret, gateways: programs.gateways }).from(programs).where(eq(programs.id, r.id)).for('update');
      if (row) await tx.update(programs).set({ signingSecret: row.signingSecret, gateways: row.gateways }).where(eq(programs.id, r.id));
    });
    sealedPrograms++;
  }
  const rawSubscriptions = await db.execute<{ id: string; secret: string }>(sql`select id, secret from webhook_subscriptions`);
  let sealedSubscriptions = 0;
  for (const r of rawSubscriptions.rows) {
    if (!stale(r.secret)) continue;
    await db.transaction(async (tx) => {
      const [row] = await tx.select({ secret: webhookSubscriptions.secret }).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, r.id)).for('update');
      if (row) await tx.update(webhookSubscriptions).set({ secret: row.secret }).where(eq(webhookSubscriptions.id, r.id));
    });
    sealedSubscriptions++;
  }
  return { programs: sealedPrograms, subscriptions: sealedSubscriptions, keyId: keyring.currentId };
}
