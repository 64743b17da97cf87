// The inbox inserts of webhook requests arriving within a millisecond or two become one multi-row
// INSERT (one commit); each request still learns its own row (the queue adds are grouped likewise,
// in the producer). A request is answered only after both stores have its event.
import type pg from 'pg';
import type { webhookEvents } from '../db/schema.js';
import { storeUnavailable } from '../db/store-errors.js';
import { Group, ItemFailure } from '../write-group.js';

export type InboxRow = typeof webhookEvents.$inferInsert;

// The hot path of every webhook: neither a query builder nor a parse per group. One statement per
// group size, prepared once per connection; rows as plain parameters (an array parameter would
// have every body escaped into an array literal here and parsed back there).
const COLUMNS = 11;
const TYPES = ['uuid', 'text', 'text', 'text', 'boolean', 'text', 'jsonb', 'inbox_status', 'jsonb', 'text', 'timestamptz'];
const statements = new Map<number, { name: string; text: string }>();

function insertStatement(rows: number) {
  let s = statements.get(rows);
  if (!s) {
    const tuples = Array.from({ length: rows }, (_, r) => `(${TYPES.map((t, c) => `$${r * COLUMNS + c + 1}::${t}`).join(', ')})`);
    s = {
      name: `inbox_insert_${rows}`,
      text: `insert into webhook_events (program_id, gateway, event_id, event_type, livemode, raw_body, headers, status, outcome, last_error, processed_at)
    values ${tuples.join(', ')}
    on conflict (program_id, gateway, event_id) do nothing
    returning id, program_id, gateway, event_id`,
    };
    statements.set(rows, s);
  }
  return s;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/** Most rows a group inserts (and so most statements a connection prepares). */
const MAX_GROUP = 64;

/** Inserts inbox rows together; each gets its new id, or null when the delivery was stored before. */
export function inboxGroup(pool: pg.Pool): Group<InboxRow, bigint | null> {
  return new Group(
    async (rows) => {
      try {
        return await insertRows(pool, rows);
      } catch (err) {
        // the store is down (disk full, shutting down ...): every row of the group fails alike
        if (rows.length === 1 || storeUnavailable(err)) throw err;
        // one row PostgreSQL refuses must not fail the deliveries grouped with it: each alone, in order
        const results: (bigint | null | ItemFailure)[] = [];
        for (const row of rows) results.push(await insertRows(pool, [row]).then((r) => r[0]!, (e: unknown) => new ItemFailure(e)));
        return results;
      }
    },
    { maxSize: MAX_GROUP },
  );
}

async function insertRows(pool: pg.Pool, rows: InboxRow[]): Promise<(bigint | null)[]> {
  const values: unknown[] = [];
  for (const r of rows) {
    values.push(
      r.programId,
      r.gateway,
      r.eventId,
      r.eventType ?? null,
      r.livemode ?? null,
      r.rawBody,
      json(r.headers ?? {}),
      r.status ?? 'received',
      json(r.outcome),
      r.lastError ?? null,
      r.processedAt ?? null,
    );
  }
  const { rows: inserted } = await pool.query<{ id: string; program_id: string; gateway: string; event_id: string }>({
    ...insertStatement(rows.length),
    values,
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
}
