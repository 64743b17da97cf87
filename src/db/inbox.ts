// The inbox (webhook_events) beyond receiving: what happens to a delivery's row over time.
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';

/**
 * Drop the raw bodies (emails, addresses) of settled deliveries received before `before`. The row
 * stays as a tombstone (gateway, event id, status, outcome), so a redelivery is still a duplicate.
 * Rows still waiting (received, queued) keep their bodies. In batches, so no statement holds many
 * row locks for long; how many were dropped.
 */
export async function dropExpiredBodies(db: Db, before: Date, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await db.execute(sql`
      update webhook_events set raw_body = null
      where id in (
        select id from webhook_events
        where status in ('processed', 'ignored', 'failed') and received_at < ${before.toISOString()}::timestamptz
          and raw_body is not null
        limit ${batch}
        for update skip locked
      )`);
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < batch) return total;
  }
}

/**
 * A delivery waiting for its next attempt: still pending (received, queued) after an attempt failed.
 * The worker writes the failure's reason and the attempt count on the row each time a job fails and
 * will be retried (src/worker/process-payment.ts); a success clears the reason.
 */
const RETRYING = sql`status in ('received', 'queued') and last_error is not null`;

export type RetryingExample = { eventId: string; eventType: string | null; attempts: number; lastError: string; receivedAt: Date };
export type RetryingGateway = { count: number; oldestAt: Date | null; lastError: string | null; examples: RetryingExample[] };

const asDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

/** A program's retrying deliveries, per gateway: how many, the oldest, and the latest few with their reasons. */
export async function retryingByGateway(db: Db, programId: string, gateways: readonly string[], examples = 5): Promise<Map<string, RetryingGateway>> {
  const list = gateways.join(',');
  // the (status, received_at) index finds the few pending rows, however large the inbox
  const [counts, latest] = await Promise.all([
    db.execute<{ gateway: string; n: string; oldest: unknown }>(sql`
      select gateway, count(*)::text as n, min(received_at) as oldest from webhook_events
      where program_id = ${programId} and ${RETRYING}
      group by gateway`),
    db.execute<{ gateway: string; event_id: string; event_type: string | null; attempts: number; last_error: string; received_at: unknown }>(sql`
      select g.gateway, w.event_id, w.event_type, w.attempts, w.last_error, w.received_at
      from unnest(string_to_array(${list}, ',')) as g(gateway)
      join lateral (
        select event_id, event_type, attempts, last_error, received_at from webhook_events
        where program_id = ${programId} and gateway = g.gateway and ${RETRYING}
        order by received_at desc limit ${examples}
      ) w on true
      order by w.received_at desc`),
  ]);
  const out = new Map<string, RetryingGateway>();
  for (const gateway of gateways) {
    const c = counts.rows.find((r) => r.gateway === gateway);
    const rows = latest.rows.filter((r) => r.gateway === gateway);
    out.set(gateway, {
      count: Number(c?.n ?? 0),
      oldestAt: c?.oldest ? asDate(c.oldest) : null,
      lastError: rows[0]?.last_error ?? null,
      examples: rows.map((r) => ({
        eventId: r.event_id,
        eventType: r.event_type,
        attempts: Number(r.attempts),
        lastError: r.last_error,
        receivedAt: asDate(r.received_at),
      })),
    });
  }
  return out;
}

/** Retrying deliveries of every program, by gateway (the metrics' gauge). */
export async function countRetrying(db: Db): Promise<{ gateway: string; count: number }[]> {
  const { rows } = await db.execute<{ gateway: string; n: string }>(sql`
    select gateway, count(*)::text as n from webhook_events where ${RETRYING} group by gateway`);
  return rows.map((r) => ({ gateway: r.gateway, count: Number(r.n) }));
}

/** The inbox rows `replay --status retrying` selects (see RETRYING). */
export const retryingRows = RETRYING;
