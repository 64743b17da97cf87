// The inbox inserts of webhook requests arriving within a millisecond or two become one multi-row
// INSERT (one commit); each request still learns its own row (the queue adds are grouped likewise,
// in the producer). A request is answered only after both stores have its event.
import type pg from 'pg';
import type { webhookEvents } from '../db/schema.js';
import { Group } from '../write-group.js';

export type InboxRow = typeof webhookEvents.$inferInsert;

// One statement text for any number of rows (columns as arrays), prepared once per connection: the
// hot path of every webhook, so neither a query builder nor a parse per group.
const INSERT = {
  name: 'inbox_insert_group',
  text: `insert into webhook_events (program_id, gateway, event_id, event_type, livemode, raw_body, headers, status, outcome, last_error, processed_at)
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::jsonb[], $8::inbox_status[], $9::jsonb[], $10::text[], $11::timestamptz[])
    on conflict (program_id, gateway, event_id) do nothing
    returning id, program_id, gateway, event_id`,
};

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/** Inserts inbox rows together; each gets its new id, or null when the delivery was stored before. */
export function inboxGroup(pool: pg.Pool): Group<InboxRow, bigint | null> {
  return new Group(async (rows) => {
    const { rows: inserted } = await pool.query<{ id: string; program_id: string; gateway: string; event_id: string }>({
      ...INSERT,
      values: [
        rows.map((r) => r.programId),
        rows.map((r) => r.gateway),
        rows.map((r) => r.eventId),
        rows.map((r) => r.eventType ?? null),
        rows.map((r) => r.livemode ?? null),
        rows.map((r) => r.rawBody),
        rows.map((r) => json(r.headers ?? {})),
        rows.map((r) => r.status ?? 'received'),
        rows.map((r) => json(r.outcome)),
        rows.map((r) => r.lastError ?? null),
        rows.map((r) => r.processedAt ?? null),
      ],
    });
    const ids = new Map(inserted.map((r) => [`${r.program_id}|${r.gateway}|${r.event_id}`, BigInt(r.id)]));
    // two requests of one group with the same event: the first gets the id, the other is a duplicate
    const seen = new Set<string>();
    return rows.map((r) => {
      const k = `${r.programId}|${r.gateway}|${r.eventId}`;
      if (seen.has(k)) return null;
      seen.add(k);
      return ids.get(k) ?? null;
    });
  });
}
