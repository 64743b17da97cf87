// What every part of the ledger shares: the transaction type, prepared statements, advisory locks, the
// events and outcomes. The ledger itself: ledger.ts (one job at a time), ledger-batch.ts (many jobs in
// one transaction), ledger-payments.ts (payments, through the planner), ledger-reversals.ts.
import { createHash } from 'node:crypto';
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { PgDialect, type PreparedQueryConfig } from 'drizzle-orm/pg-core';
import { identityOf, type EnrichedPayment, type PaymentOutcome } from '../core/plan.js';
import type { DisputeFact, RefundFact, RefundsStandingFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import type { Queryable } from './client.js';
import { transactionRefs, transactions } from './schema.js';

export { LedgerDataError, type EnrichedPayment, type LookupTrace } from '../core/plan.js';

export type Tx = Parameters<Parameters<Queryable['transaction']>[0]>[0];

const dialect = new PgDialect();

/**
 * A statement run as a named prepared statement, its name derived from its text: parsed once per
 * connection, and planned once too when PostgreSQL finds its generic plan no worse than the custom
 * ones (a batch's large statements took 1.5–3 ms to plan, at every batch). For statements whose text
 * does not change from call to call: values go in parameters.
 */
export function executePrepared(tx: Tx, query: SQL): Promise<{ rows: Record<string, unknown>[] }> {
  const q = dialect.sqlToQuery(query);
  const name = `ledger_${createHash('sha1').update(q.sql).digest('hex').slice(0, 16)}`;
  // drizzle names statements only for its query builders; its session prepares any SQL under a name
  return tx._.session.prepareQuery<PreparedQueryConfig & { execute: { rows: Record<string, unknown>[] } }>(q, undefined, name, false).execute();
}


/**
 * The outbox rows of a write statement's `d.j->'outbox'`, for programs with an active subscription to
 * each event (as src/db/outbox.ts emit() decides, here inside the set-based statement).
 */
export const OUTBOX_INSERT = sql.raw(`
      insert into outbox (program_id, event, entity_key, detail)
      select x.p, x.event, x.entity_key, x.detail
      from d, jsonb_to_recordset(d.j->'outbox') as x(p uuid, event text, entity_key text, detail jsonb, ord bigint)
      where exists (
        select 1 from webhook_subscriptions s
        where s.program_id = x.p and s.is_active and s.deleted_at is null and x.event = any(s.events)
      )
      order by x.ord
      returning 1
    `);

export type LedgerEvent = EnrichedPayment | RefundFact | DisputeFact | RefundsStandingFact;

export type EventOutcome =
  | PaymentOutcome
  | { kind: 'refund'; result: 'applied' | 'pending_payment' | 'duplicate'; transactionKey: string | null; deleted: boolean; reversed?: boolean }
  | { kind: 'dispute'; result: 'applied' | 'pending_payment' | 'unchanged'; transactionKey: string | null; status: string };


export type JobEvents = { program: ProgramRules; events: LedgerEvent[]; inboxId?: string };
export type BatchResult = { ok: true; outcomes: EventOutcome[] } | { ok: false; error: unknown };

// ---- locks ----

/**
 * Transaction-scoped advisory locks, in one round trip, taken in one global order (by hash) so two
 * transactions never deadlock. Re-entrant: a lock this transaction holds is taken again at once.
 */
export async function lock(tx: Tx, names: string[]): Promise<void> {
  if (!names.length) return;
  // one array parameter (a batch names over a thousand locks): one statement text whatever the count
  await executePrepared(
    tx,
    sql`select pg_advisory_xact_lock(h) from (select distinct hashtextextended(n, 0) as h from unnest(${sql.param([...new Set(names)])}::text[]) as n order by h) as ordered`,
  );
}
/**
 * Every lock tried at once, none waited for: the names whose lock another transaction holds now.
 * Locks taken here are held until the transaction ends, like lock()'s; a transaction that took them
 * must not wait for other locks afterwards (they were not taken in the global order).
 */
export async function tryLock(tx: Tx, names: string[]): Promise<Set<string>> {
  const unique = [...new Set(names)];
  if (!unique.length) return new Set();
  const res = await executePrepared(tx, sql`
    with named as (select n, hashtextextended(n, 0) as h from unnest(${sql.param(unique)}::text[]) as n),
    tried as (select h, pg_try_advisory_xact_lock(h) as ok from (select distinct h from named) as d)
    select named.n from named join tried using (h) where not tried.ok`);
  return new Set((res.rows as { n: string }[]).map((r) => r.n));
}

const refLocks = (programId: string, refs: string[]) => refs.map((r) => `${programId}|ref|${r}`);

export async function transactionByRefs(tx: Tx, programId: string, refs: string[]) {
  const [hit] = await tx
    .select({ t: transactions })
    .from(transactionRefs)
    .innerJoin(transactions, eq(transactions.id, transactionRefs.transactionId))
    .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.ref, refs)))
    .limit(1);
  return hit?.t ?? null;
}

/** Whether a payment is stored under any of these ids (read outside any transaction: a hint only). */
export async function isStoredPayment(db: Queryable, programId: string, refs: string[]): Promise<boolean> {
  const [hit] = await db
    .select({ id: transactionRefs.transactionId })
    .from(transactionRefs)
    .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.ref, refs)))
    .limit(1);
  return !!hit;
}

/** The locks an event takes: the ids of its payment, and (for a payment) its customer's identities. */
export function lockNames(programId: string, e: LedgerEvent): string[] {
  if (e.kind !== 'payment') return refLocks(programId, e.paymentRefs);
  const { who, baseCustomerKey } = identityOf(e);
  return [
    ...refLocks(programId, [e.transactionKey, ...e.aliases]),
    ...[who.key, who.gatewayId && `${e.gateway}:${who.gatewayId}`, who.email?.toLowerCase(), baseCustomerKey]
      .filter((x): x is string => !!x)
      .map((x) => `${programId}|customer|${x}`),
  ];
}

