// Whether an outbound webhook subscription is failing, and disabling it after 5 days of failures:
// read by the API (a subscription's status) and the worker (after each failed delivery).
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { webhookSubscriptions } from './schema.js';

/** A subscription is disabled when every delivery has failed for this long. */
export const DISABLE_AFTER_MS = 5 * 24 * 3600_000;

/** True when deliveries have failed since `failingSince`, with no success since, for 5 days or more. */
export function shouldDisable(failingSince: Date | null, now: Date): boolean {
  return failingSince !== null && now.getTime() - failingSince.getTime() >= DISABLE_AFTER_MS;
}

/** Since when a subscription's deliveries have all failed (the oldest failure after its last success), or null. */
export async function failingSince(db: Db, subscriptionId: string): Promise<{ lastSuccessAt: Date | null; failingSince: Date | null }> {
  const { rows } = await db.execute<{ last_success: number | null; failing_since: number | null }>(sql`
    with last as (
      select max(delivered_at) as at from webhook_deliveries where subscription_id = ${subscriptionId}::uuid and delivered_at is not null
    ), failing as (
      select min(d.created_at) as at from webhook_deliveries d
      where d.subscription_id = ${subscriptionId}::uuid and d.status in ('retrying', 'failed')
        and d.created_at > coalesce((select at from last), '-infinity'::timestamptz)
    )
    select (extract(epoch from (select at from last)) * 1000)::float8 as last_success,
      (extract(epoch from (select at from failing)) * 1000)::float8 as failing_since`);
  const row = rows[0];
  const date = (v: number | string | null | undefined) => (v === null || v === undefined ? null : new Date(Number(v)));
  return { lastSuccessAt: date(row?.last_success), failingSince: date(row?.failing_since) };
}

/** Disable (and flag) a subscription whose deliveries have all failed for 5 days; true if it was. */
export async function disableIfFailing(db: Db, subscriptionId: string, now: Date, lastError?: string | null): Promise<boolean> {
  const health = await failingSince(db, subscriptionId);
  if (!shouldDisable(health.failingSince, now)) return false;
  const reason = `every delivery since ${health.failingSince!.toISOString()} failed${lastError ? ` (last: ${lastError})` : ''}; disabled after 5 days`;
  const updated = await db
    .update(webhookSubscriptions)
    .set({ isActive: false, disabledAt: now, disabledReason: reason.slice(0, 500), updatedAt: now })
    .where(and(eq(webhookSubscriptions.id, subscriptionId), isNull(webhookSubscriptions.disabledAt), isNull(webhookSubscriptions.deletedAt)))
    .returning({ id: webhookSubscriptions.id });
  return updated.length > 0;
}
