// The inbox (webhook_events): every verified delivery, and the one owner of its rows' states.
// received → queued → processed, or ignored / failed on arrival or after attempts; a queueing that
// fails goes back to received (the sweeper queues it); a replay queues a settled row again; past the
// retention a settled row keeps only its tombstone. Nothing else in src/ writes this table (lint).
import type pg from 'pg';
import { and, asc, eq, lt, sql } from 'drizzle-orm';
import type { Db, Queryable } from './client.js';
import { executePrepared, type Tx } from './ledger-base.js';
import { webhookEvents } from './schema.js';

export type InboxRow = typeof webhookEvents.$inferInsert;
/** A stored row, as read. */
export type InboxRecord = typeof webhookEvents.$inferSelect;
export type InboxStatus = NonNullable<InboxRow['status']>;

/** What a receiver (or a reconcile) made of a verified payload: shaped like ingest's Normalized. */
export type Verdict = { status: 'queued' } | { status: 'ignored' | 'failed'; reason: string };

// ---- arrival ----

/** The state columns a delivery is stored with: queued to be worked, or settled at once with its reason. */
export function arrivalState(v: Verdict, now = new Date()): Pick<InboxRow, 'status' | 'outcome' | 'lastError' | 'processedAt'> {
  return {
    status: v.status,
    outcome: v.status === 'ignored' ? { ignored: v.reason } : null,
    lastError: v.status === 'failed' ? v.reason : null,
    processedAt: v.status === 'queued' ? null : now,
  };
}

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

/**
 * Deliveries stored in one multi-row INSERT (the receivers' grouped writes, src/ingest): each gets
 * its new id, or null when it was stored before (or earlier in the same group).
 */
export async function insertDeliveries(pool: pg.Pool, rows: InboxRow[]): Promise<(bigint | null)[]> {
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

/** One delivery stored (a reconcile's): its new id, or null when the inbox had it already. */
export async function storeDelivery(db: Queryable, row: InboxRow): Promise<bigint | null> {
  const [stored] = await db
    .insert(webhookEvents)
    .values(row)
    .onConflictDoNothing({ target: [webhookEvents.programId, webhookEvents.gateway, webhookEvents.eventId] })
    .returning({ id: webhookEvents.id });
  return stored?.id ?? null;
}

/** A program's stored delivery of an event, if any: its id and where it stands. */
export async function findDelivery(
  db: Queryable,
  programId: string,
  gateway: string,
  eventId: string,
): Promise<{ id: bigint; status: InboxStatus } | undefined> {
  const [row] = await db
    .select({ id: webhookEvents.id, status: webhookEvents.status })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.programId, programId), eq(webhookEvents.gateway, gateway), eq(webhookEvents.eventId, eventId)))
    .limit(1);
  return row;
}

/**
 * A page of the rows in `status` received before `cutoff`, oldest first, after the keyset `after`
 * (an ordered walk of the (status, received_at) index). `at` is received_at in PostgreSQL's own text:
 * a JS Date would drop its microseconds, and a keyset walk on it would loop.
 */
export async function pendingPage(
  db: Queryable,
  status: 'received' | 'queued',
  cutoff: Date,
  after: { at: string; id: bigint } | null,
  limit: number,
): Promise<{ row: InboxRecord; at: string }[]> {
  return db
    .select({ row: webhookEvents, at: sql<string>`${webhookEvents.receivedAt}::text` })
    .from(webhookEvents)
    .where(
      and(
        eq(webhookEvents.status, status),
        lt(webhookEvents.receivedAt, cutoff),
        after ? sql`(${webhookEvents.receivedAt}, ${webhookEvents.id}) > (${after.at}::timestamptz, ${after.id})` : undefined,
      ),
    )
    .orderBy(asc(webhookEvents.receivedAt), asc(webhookEvents.id))
    .limit(limit);
}

/** How many of these rows stand in each status (with a failed one's reason): following a replay. */
export async function statusCounts(db: Queryable, ids: readonly bigint[]): Promise<{ status: InboxStatus; last_error: string | null; n: string }[]> {
  if (!ids.length) return [];
  const { rows } = await db.execute<{ status: InboxStatus; last_error: string | null; n: string }>(sql`
    select status, case when status = 'failed' then last_error end as last_error, count(*)::text as n
    from webhook_events where id = any(${`{${ids.join(',')}}`}::bigint[]) group by 1, 2`);
  return rows;
}

// ---- the queue ----

/** received → queued, once its job is on the queue (a redelivery, the sweeper); any other state stays. */
export async function markQueued(db: Queryable, id: bigint): Promise<void> {
  await db
    .update(webhookEvents)
    .set({ status: 'queued' })
    .where(sql`${webhookEvents.id} = ${id} and ${webhookEvents.status} = 'received'`);
}

/**
 * Back to received: its job could not be queued, so the sweeper queues it once the queue answers.
 * With `from: 'queued'` only a row still queued moves (one whose worker already settled it stays).
 */
export async function markReceived(db: Queryable, id: bigint, opts: { from?: 'queued' } = {}): Promise<void> {
  await db
    .update(webhookEvents)
    .set({ status: 'received' })
    .where(opts.from ? and(eq(webhookEvents.id, id), eq(webhookEvents.status, opts.from)) : eq(webhookEvents.id, id));
}

/**
 * A replayed row queued again, unless it moved since it was read (`from`). The old reason goes: a
 * queued row with a reason is one waiting for its next attempt (see RETRYING).
 */
export async function requeueForReplay(db: Queryable, id: bigint, from: InboxStatus): Promise<void> {
  await db
    .update(webhookEvents)
    .set({ status: 'queued', lastError: null })
    .where(and(eq(webhookEvents.id, id), eq(webhookEvents.status, from)));
}

// ---- settling ----

/** Settled without a job: ignored, or failed (unreadable) with its reason, as of `at`. */
export async function markSettledUnworked(db: Queryable, id: bigint, v: Extract<Verdict, { status: 'ignored' | 'failed' }>, at: Date): Promise<void> {
  await db
    .update(webhookEvents)
    .set({
      status: v.status,
      lastError: v.status === 'failed' ? v.reason : null,
      outcome: v.status === 'ignored' ? { ignored: v.reason } : null,
      processedAt: at,
    })
    .where(eq(webhookEvents.id, id));
}

/**
 * A job's attempt failed: counted, with its reason; `final` (no attempt left, or a permanent
 * failure) settles the row as failed, otherwise it stays pending and so is "retrying".
 */
export async function recordAttemptFailed(db: Queryable, id: bigint, reason: string, final: boolean): Promise<void> {
  await db
    .update(webhookEvents)
    .set({
      attempts: sql`${webhookEvents.attempts} + 1`,
      lastError: reason,
      ...(final ? { status: 'failed' as const } : {}),
    })
    .where(eq(webhookEvents.id, id));
}

/** A job's events applied: processed with their outcomes, in the ledger's transaction. */
export async function markProcessed(tx: Queryable, id: bigint, outcome: unknown, now: Date): Promise<void> {
  await tx
    .update(webhookEvents)
    .set({ status: 'processed', outcome, processedAt: now, attempts: sql`${webhookEvents.attempts} + 1`, lastError: null })
    .where(eq(webhookEvents.id, id));
}

/** A batch's jobs applied: every row processed with its outcomes in one statement, in the batch's transaction. */
export async function markProcessedMany(tx: Tx, rows: { id: string; outcome: unknown }[], now: Date): Promise<void> {
  if (!rows.length) return;
  await executePrepared(tx, sql`
      update webhook_events w
      set status = 'processed', outcome = x.outcome, processed_at = ${now.toISOString()}::timestamptz,
          attempts = w.attempts + 1, last_error = null
      from (select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id bigint, outcome jsonb) limit ${rows.length}) as x
      where w.id = x.id`);
}

// ---- retention ----

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
