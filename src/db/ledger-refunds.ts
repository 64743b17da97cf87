// Refunds, set-based, for one refund or a batch's run of them, and for the stored refunds a new
// payment was waiting for: one statement stores the new ones (once per gateway refund id) and reads
// their payments (amount, refunds applied before, live rewards); the planner (core/plan-refunds.ts)
// decides in order; one statement writes the plan.
import { sql } from 'drizzle-orm';
import { planRefunds, type RefundInput, type RefundOutcome, type RefundPlan, type RefundSnapshot } from '../core/plan-refunds.js';
import type { RefundFact, RefundsStandingFact } from '../core/payment-event.js';
import { cancelRefundClawbacks, recordClawbacks } from './clawbacks.js';
import { executePrepared, OUTBOX_INSERT, type Tx } from './ledger-base.js';

type TargetsLoad = {
  refs: [string, string, string][]; // program, ref, transaction id
  transactions: [string, string, string, string, string, string, boolean, string | null][]; // id, key, program, amount, currency, refunded, deleted, deleted reason
  applied: [string, string | null, boolean, string, string, boolean][]; // transaction id, amount, cumulative, row id, refund id, reversed
  rewards: [string, string, string, string, boolean, boolean][]; // id, transaction id, original amount, units, is currency, deleted by a refund
};

/**
 * The part of a statement that reads the payments a `wanted(p, ref)` CTE names, with what the planner
 * needs of them. `refCount` bounds the refs (PostgreSQL would guess 1,000 rows and read whole tables).
 */
const TARGETS = (refCount: number) => sql`
    refs as (
      select distinct u.p, r.ref, r.transaction_id
      from (select * from wanted limit ${sql.raw(String(refCount))}) as u
      join transaction_refs r on r.program_id = u.p and r.ref = u.ref
    ),
    tids as (select distinct transaction_id as id from refs limit ${sql.raw(String(refCount))})`;

const TARGET_COLUMNS = sql`
      (select coalesce(json_agg(json_build_array(p, ref, transaction_id::text)), '[]') from refs) as refs,
      (select coalesce(json_agg(json_build_array(t.id::text, t.key, t.program_id, t.amount_minor::text, t.currency,
        t.refunded_minor::text, t.deleted_at is not null, t.deleted_reason)), '[]') from tids join transactions t on t.id = tids.id) as transactions,
      (select coalesce(json_agg(json_build_array(f.transaction_id::text, f.amount_minor::text, f.cumulative, f.id::text, f.refund_id,
        f.reversed_at is not null) order by f.applied_at, f.id), '[]')
        from tids join refunds f on f.transaction_id = tids.id) as applied,
      (select coalesce(json_agg(json_build_array(w.id::text, w.transaction_id::text, w.original_amount::text, w.units, w.is_currency,
        w.deleted_at is not null)), '[]')
        from tids join rewards w on w.transaction_id = tids.id
        where w.deleted_at is null or w.deleted_reason = 'refunded') as rewards`;

function snapshotOf(loaded: TargetsLoad): RefundSnapshot {
  const refs = new Map<string, string>();
  for (const [p, ref, tid] of loaded.refs) refs.set(`${p}|${ref}`, tid);
  const transactions: RefundSnapshot['transactions'] = new Map();
  for (const [id, key, programId, amount, currency, refunded, deleted, deletedReason] of loaded.transactions) {
    transactions.set(id, { id, key, programId, amount: BigInt(amount), currency, refunded: BigInt(refunded), deleted, deletedReason, known: [], rewards: [] });
  }
  for (const [tid, amount, cumulative, rowId, refundId, reversed] of loaded.applied) {
    transactions.get(tid)?.known.push({ rowId, refundId, amountMinor: amount === null ? null : BigInt(amount), cumulative, reversed });
  }
  for (const [id, tid, original, units, isCurrency, deleted] of loaded.rewards) transactions.get(tid)?.rewards.push({ id, original, units, isCurrency, deleted });
  return { refs, transactions };
}

/**
 * New refunds and reversals, in order: each refund stored once by its gateway's id (a repeat is a
 * duplicate) and applied to its payment when that is stored; one in another currency than its payment
 * throws PlanFailure. A reversal marks its refund's row reversed (storing it reversed when the refund
 * has not come yet, so the refund is never applied) and the planner restores what the refund took.
 */
export async function applyRefundEvents<T>(tx: Tx, list: { at: T; programId: string; e: RefundFact }[], now: Date): Promise<[T, RefundOutcome][]> {
  const rows = list.map(({ programId, e }, ord) => ({
    ord,
    p: programId,
    gateway: e.gateway,
    refund_id: e.refundId,
    payment_refs: e.paymentRefs,
    amount_minor: e.amount ? BigInt(e.amount.minor).toString() : null,
    currency: e.amount?.currency ?? null,
    cumulative: e.cumulative,
    reversed: e.reversed,
    occurred_at: new Date(e.occurredAt).toISOString(),
  }));
  // a reversal also reads the payment its refund was stored with (up to 10 refs each)
  const refCount = Math.max(1, rows.reduce((n, r) => n + r.payment_refs.length + (r.reversed ? 10 : 0), 0));
  const res = await tx.execute(sql`
    with d as (select ${JSON.stringify(rows)}::jsonb as j),
    x as (
      select * from d, jsonb_to_recordset(d.j) as x(ord int, p uuid, gateway text, refund_id text, payment_refs text[],
        amount_minor bigint, currency text, cumulative boolean, reversed boolean, occurred_at timestamptz)
    ),
    ins as (
      insert into refunds (program_id, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at, reversed_at)
      select p, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at,
        case when reversed then ${now.toISOString()}::timestamptz end
      from x order by ord
      on conflict (program_id, gateway, refund_id) do nothing
      returning id, program_id, gateway, refund_id
    ),
    wanted as (
      select x.p, u.ref from x cross join lateral unnest(x.payment_refs) as u(ref)
      union all
      select x.p, u.ref from x join refunds f on f.program_id = x.p and f.gateway = x.gateway and f.refund_id = x.refund_id
        cross join lateral unnest(f.payment_refs) as u(ref) where x.reversed
    ),
    ${TARGETS(refCount)}
    select
      (select coalesce(json_agg(json_build_array(x.ord, ins.id::text)), '[]') from ins
        join x on x.p = ins.program_id and x.gateway = ins.gateway and x.refund_id = ins.refund_id) as inserted,
      -- the refunds reversals name that were stored before this statement
      (select coalesce(json_agg(json_build_array(x.ord, f.id::text, f.reversed_at is not null, f.payment_refs)), '[]') from x
        join refunds f on f.program_id = x.p and f.gateway = x.gateway and f.refund_id = x.refund_id where x.reversed) as earlier,
      ${TARGET_COLUMNS}`);
  const loaded = res.rows[0] as unknown as TargetsLoad & { inserted: [number, string][]; earlier: [number, string, boolean, string[]][] };
  // a refund repeated within the run: the first one is inserted (in order), the others are duplicates
  const firstOrd = new Map<string, number>();
  const idAt = new Map<number, string>();
  for (const [ord, id] of loaded.inserted) {
    firstOrd.set(id, Math.min(ord, firstOrd.get(id) ?? ord));
    idAt.set(ord, id);
  }
  const insertedAt = new Map<number, string>();
  for (const [id, ord] of firstOrd) insertedAt.set(ord, id);
  const earlier = new Map(loaded.earlier.map(([ord, id, reversed, refs]) => [ord, { id, reversed, refs }]));
  // rows reversed before this run, or by a reversal earlier in it: a repeat changes nothing
  const reversedRows = new Set(loaded.earlier.filter(([, , reversed]) => reversed).map(([, id]) => id));
  const toReverse: string[] = [];
  const inputs = list.map(({ at, programId, e }, ord): RefundInput<T> => {
    let rowId = insertedAt.get(ord) ?? null;
    let paymentRefs = e.paymentRefs;
    if (e.reversed) {
      if (rowId !== null) reversedRows.add(rowId);
      else {
        // the refund's row: stored before, or by a refund earlier in this run
        const id = earlier.get(ord)?.id ?? idAt.get(ord) ?? null;
        rowId = id !== null && !reversedRows.has(id) ? id : null;
        if (rowId !== null) {
          reversedRows.add(rowId);
          toReverse.push(rowId);
          // the refund's payment is the one it was stored with, whatever the reversal names
          const first = firstOrd.get(rowId);
          paymentRefs = earlier.get(ord)?.refs ?? (first !== undefined ? rows[first]!.payment_refs : paymentRefs);
        }
      }
    }
    return {
      at,
      programId,
      rowId,
      refundId: e.refundId,
      paymentRefs,
      amount: e.amount ? { minor: BigInt(e.amount.minor), currency: e.amount.currency } : null,
      cumulative: e.cumulative,
      reversed: e.reversed,
      onMismatch: 'fail',
    };
  });
  const plan = planRefunds(snapshotOf(loaded), inputs);
  await write(tx, plan, now, toReverse);
  return plan.outcomes;
}

/**
 * The stored refunds that named one of these payments before it was stored, applied now in the order
 * they happened (one in another currency stays waiting: it is not this payment's to take back).
 */
export async function applyWaitingRefunds(tx: Tx, payments: { programId: string; refs: string[] }[], now: Date): Promise<void> {
  const wanted = payments.flatMap(({ programId, refs }) => refs.map((ref) => ({ p: programId, ref })));
  if (!wanted.length) return;
  const res = await tx.execute(sql`
    with wanted as (select x.p, x.ref from jsonb_to_recordset(${JSON.stringify(wanted)}::jsonb) as x(p uuid, ref text)),
    waiting as (
      select f.id, f.program_id, f.refund_id, f.payment_refs, f.amount_minor, f.currency, f.cumulative, f.occurred_at,
        f.reversed_at is not null as reversed
      from refunds f
      where f.applied_at is null and f.payment_refs && (select array_agg(ref) from wanted)
        and exists (select 1 from wanted w where w.p = f.program_id and w.ref = any(f.payment_refs))
      order by f.occurred_at, f.id
    ),
    ${TARGETS(wanted.length)}
    select
      (select coalesce(json_agg(json_build_array(id::text, program_id, refund_id, payment_refs, amount_minor::text, currency, cumulative, reversed)
        order by occurred_at, id), '[]') from waiting) as waiting,
      ${TARGET_COLUMNS}`);
  const loaded = res.rows[0] as unknown as TargetsLoad & { waiting: [string, string, string, string[], string | null, string | null, boolean, boolean][] };
  if (!loaded.waiting.length) return;
  const plan = planRefunds(
    snapshotOf(loaded),
    // a refund reversed before its payment came is applied as reversed: it takes nothing
    loaded.waiting.map(([id, programId, refundId, paymentRefs, amount, currency, cumulative, reversed]): RefundInput<string> => ({
      at: id,
      programId,
      rowId: id,
      refundId,
      paymentRefs,
      amount: amount !== null && currency !== null ? { minor: BigInt(amount), currency } : null,
      cumulative,
      reversed,
      onMismatch: 'wait',
    })),
  );
  await write(tx, plan, now, []);
}

async function write(tx: Tx, plan: RefundPlan<unknown>, now: Date, reversed: string[]): Promise<void> {
  if (!plan.applied.length && !plan.outbox.length && !plan.transactions.length && !reversed.length) return;
  const at = now.toISOString();
  const data = JSON.stringify({ applied: plan.applied, transactions: plan.transactions, rewards: plan.rewards, outbox: plan.outbox, reversed });
  await executePrepared(tx, sql`
    with d as (select ${data}::jsonb as j),
    -- one update per row (two CTEs updating one row would keep only one of the changes)
    refund_rows as (
      update refunds r set
        applied_at = case when x.tid is not null then ${at}::timestamptz else r.applied_at end,
        transaction_id = coalesce(x.tid, r.transaction_id),
        reversed_at = case when x.reversed and r.reversed_at is null then ${at}::timestamptz else r.reversed_at end
      from (
        select coalesce(a.id, v.id) as id, a.tid, v.id is not null as reversed
        from (select x.id, x.tid from d, jsonb_to_recordset(d.j->'applied') as x(id bigint, tid bigint)) as a
        full join (select x.id::bigint as id from d, jsonb_array_elements_text(d.j->'reversed') as x(id)) as v on v.id = a.id
      ) as x
      where r.id = x.id
      returning 1
    ),
    changed_transactions as (
      update transactions t set refunded_minor = x.refunded, updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz when x.restored then null else t.deleted_at end,
        deleted_reason = case when x.deleted then 'refunded' when x.restored then null else t.deleted_reason end,
        deleted_by = case when x.deleted then x."deletedBy" when x.restored then null else t.deleted_by end,
        reduced_by = array(select jsonb_array_elements_text(x."reducedBy"))
      from d, jsonb_to_recordset(d.j->'transactions') as x(id bigint, refunded bigint, deleted boolean, restored boolean, "deletedBy" text, "reducedBy" jsonb)
      where t.id = x.id
      returning 1
    ),
    changed_rewards as (
      update rewards w set amount = coalesce(x.amount, w.amount), updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz when x.restored then null else w.deleted_at end,
        deleted_reason = case when x.deleted then 'refunded' when x.restored then null else w.deleted_reason end
      from d, jsonb_to_recordset(d.j->'rewards') as x(id bigint, amount numeric, deleted boolean, restored boolean) where w.id = x.id
      returning 1
    ),
    new_outbox as (${OUTBOX_INSERT})
    select 1`);
  // a reward worth more again (a refund taken back): the clawbacks refunds caused are not owed as
  // they were; cancelled, and what is still owed is recorded again below. Those a later payout
  // already netted stay: the partner was paid less for them.
  const raised = plan.rewards.filter((w) => w.raised).map((w) => w.id);
  if (raised.length) await cancelRefundClawbacks(tx, raised, now);
  // a reward already in an approved or paid payout: the partner owes the difference back
  const cause = new Map(plan.rewards.map((w) => [w.id, w.refundRowId]));
  await recordClawbacks(tx, [...cause.keys()], {}, (id) => ({ refundId: cause.get(id) ?? null }));
}

/**
 * A store's list of the refunds a payment has now: the stored ones of that gateway (by the list's
 * prefix) seen before the list and missing from it were deleted in the store; each is reversed, in
 * the order they came. One seen after the list (a newer delivery came first) stays.
 */
export async function applyRefundsStanding(tx: Tx, programId: string, e: RefundsStandingFact, now: Date): Promise<RefundOutcome> {
  const res = await executePrepared(tx, sql`
    select f.refund_id, f.payment_refs, f.amount_minor::text as amount_minor, f.currency, f.occurred_at
    from refunds f
    where f.program_id = ${sql.param(programId)}::uuid and f.gateway = ${sql.param(e.gateway)}
      and f.payment_refs && ${sql.param(e.paymentRefs)}::text[]
      and starts_with(f.refund_id, ${sql.param(e.prefix)}) and not f.cumulative and f.reversed_at is null
      and f.occurred_at < ${sql.param(new Date(e.occurredAt).toISOString())}::timestamptz
      and not (f.refund_id = any(${sql.param(e.refundIds)}::text[]))
    order by f.occurred_at, f.id`);
  const gone = res.rows as { refund_id: string; payment_refs: string[]; amount_minor: string | null; currency: string | null }[];
  if (!gone.length) return { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false, reversed: true };
  const done = await applyRefundEvents(
    tx,
    gone.map((f, i) => ({
      at: i,
      programId,
      e: {
        gateway: e.gateway,
        eventId: e.eventId,
        eventType: e.eventType,
        occurredAt: e.occurredAt,
        kind: 'refund' as const,
        refundId: f.refund_id,
        paymentRefs: f.payment_refs,
        amount: f.amount_minor !== null && f.currency !== null ? { minor: f.amount_minor, currency: f.currency, isCurrency: true } : undefined,
        cumulative: false,
        reversed: true,
      },
    })),
    now,
  );
  return done[done.length - 1]![1];
}
