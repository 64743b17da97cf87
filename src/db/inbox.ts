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
