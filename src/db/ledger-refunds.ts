// Refunds, set-based, for one refund or a batch's run of them, and for the stored refunds a new
// payment was waiting for: one statement stores the new ones (once per gateway refund id) and reads
// their payments (amount, refunds applied before, live rewards); the planner (core/plan-refunds.ts)
// decides in order; one statement writes the plan.
import { sql } from 'drizzle-orm';
import { planRefunds, type RefundInput, type RefundOutcome, type RefundPlan, type RefundSnapshot } from '../core/plan-refunds.js';
import type { RefundFact } from '../core/payment-event.js';
import { recordClawbacks } from './clawbacks.js';
import { executePrepared, OUTBOX_INSERT, type Tx } from './ledger-base.js';

type TargetsLoad = {
  refs: [string, string, string][]; // program, ref, transaction id
  transactions: [string, string, string, string, string, string, boolean][]; // id, key, program, amount, currency, refunded, deleted
  applied: [string, string | null, boolean][]; // transaction id, amount, cumulative
  rewards: [string, string, string, string, boolean][]; // id, transaction id, original amount, units, is currency
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
        t.refunded_minor::text, t.deleted_at is not null)), '[]') from tids join transactions t on t.id = tids.id) as transactions,
      (select coalesce(json_agg(json_build_array(f.transaction_id::text, f.amount_minor::text, f.cumulative)), '[]')
        from tids join refunds f on f.transaction_id = tids.id) as applied,
      (select coalesce(json_agg(json_build_array(w.id::text, w.transaction_id::text, w.original_amount::text, w.units, w.is_currency)), '[]')
        from tids join rewards w on w.transaction_id = tids.id and w.deleted_at is null) as rewards`;

function snapshotOf(loaded: TargetsLoad): RefundSnapshot {
  const refs = new Map<string, string>();
  for (const [p, ref, tid] of loaded.refs) refs.set(`${p}|${ref}`, tid);
  const transactions: RefundSnapshot['transactions'] = new Map();
  for (const [id, key, programId, amount, currency, refunded, deleted] of loaded.transactions) {
    transactions.set(id, { id, key, programId, amount: BigInt(amount), currency, refunded: BigInt(refunded), deleted, known: [], rewards: [] });
  }
  for (const [tid, amount, cumulative] of loaded.applied) transactions.get(tid)?.known.push({ amountMinor: amount === null ? null : BigInt(amount), cumulative });
  for (const [id, tid, original, units, isCurrency] of loaded.rewards) transactions.get(tid)?.rewards.push({ id, original, units, isCurrency });
  return { refs, transactions };
}

/**
 * New refunds, in order: each stored once by its gateway's id (a repeat is a duplicate) and applied to
 * its payment when that is stored; one in another currency than its payment throws PlanFailure.
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
    occurred_at: new Date(e.occurredAt).toISOString(),
  }));
  const refCount = Math.max(1, rows.reduce((n, r) => n + r.payment_refs.length, 0));
  const res = await tx.execute(sql`
    with d as (select ${JSON.stringify(rows)}::jsonb as j),
    x as (
      select * from d, jsonb_to_recordset(d.j) as x(ord int, p uuid, gateway text, refund_id text, payment_refs text[],
        amount_minor bigint, currency text, cumulative boolean, occurred_at timestamptz)
    ),
    ins as (
      insert into refunds (program_id, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at)
      select p, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at from x order by ord
      on conflict (program_id, gateway, refund_id) do nothing
      returning id, program_id, gateway, refund_id
    ),
    wanted as (select x.p, u.ref from x cross join lateral unnest(x.payment_refs) as u(ref)),
    ${TARGETS(refCount)}
    select
      (select coalesce(json_agg(json_build_array(x.ord, ins.id::text)), '[]') from ins
        join x on x.p = ins.program_id and x.gateway = ins.gateway and x.refund_id = ins.refund_id) as inserted,
      ${TARGET_COLUMNS}`);
  const loaded = res.rows[0] as unknown as TargetsLoad & { inserted: [number, string][] };
  // a refund repeated within the run: the first one is inserted (in order), the others are duplicates
  const firstOrd = new Map<string, number>();
  for (const [ord, id] of loaded.inserted) firstOrd.set(id, Math.min(ord, firstOrd.get(id) ?? ord));
  const rowIdAt = new Map<number, string>();
  for (const [id, ord] of firstOrd) rowIdAt.set(ord, id);
  const plan = planRefunds(
    snapshotOf(loaded),
    list.map(({ at, programId, e }, ord): RefundInput<T> => ({
      at,
      programId,
      rowId: rowIdAt.get(ord) ?? null,
      refundId: e.refundId,
      paymentRefs: e.paymentRefs,
      amount: e.amount ? { minor: BigInt(e.amount.minor), currency: e.amount.currency } : null,
      cumulative: e.cumulative,
      onMismatch: 'fail',
    })),
  );
  await write(tx, plan, now);
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
      select f.id, f.program_id, f.refund_id, f.payment_refs, f.amount_minor, f.currency, f.cumulative, f.occurred_at
      from refunds f
      where f.applied_at is null and f.payment_refs && (select array_agg(ref) from wanted)
        and exists (select 1 from wanted w where w.p = f.program_id and w.ref = any(f.payment_refs))
      order by f.occurred_at, f.id
    ),
    ${TARGETS(wanted.length)}
    select
      (select coalesce(json_agg(json_build_array(id::text, program_id, refund_id, payment_refs, amount_minor::text, currency, cumulative)
        order by occurred_at, id), '[]') from waiting) as waiting,
      ${TARGET_COLUMNS}`);
  const loaded = res.rows[0] as unknown as TargetsLoad & { waiting: [string, string, string, string[], string | null, string | null, boolean][] };
  if (!loaded.waiting.length) return;
  const plan = planRefunds(
    snapshotOf(loaded),
    loaded.waiting.map(([id, programId, refundId, paymentRefs, amount, currency, cumulative]): RefundInput<string> => ({
      at: id,
      programId,
      rowId: id,
      refundId,
      paymentRefs,
      amount: amount !== null && currency !== null ? { minor: BigInt(amount), currency } : null,
      cumulative,
      onMismatch: 'wait',
    })),
  );
  await write(tx, plan, now);
}

async function write(tx: Tx, plan: RefundPlan<unknown>, now: Date): Promise<void> {
  if (!plan.applied.length && !plan.outbox.length) return;
  const at = now.toISOString();
  const data = JSON.stringify({ applied: plan.applied, transactions: plan.transactions, rewards: plan.rewards, outbox: plan.outbox });
  await executePrepared(tx, sql`
    with d as (select ${data}::jsonb as j),
    applied as (
      update refunds r set applied_at = ${at}::timestamptz, transaction_id = x.tid
      from d, jsonb_to_recordset(d.j->'applied') as x(id bigint, tid bigint) where r.id = x.id
      returning 1
    ),
    changed_transactions as (
      update transactions t set refunded_minor = x.refunded, updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz else t.deleted_at end,
        deleted_reason = case when x.deleted then 'refunded' else t.deleted_reason end
      from d, jsonb_to_recordset(d.j->'transactions') as x(id bigint, refunded bigint, deleted boolean) where t.id = x.id
      returning 1
    ),
    changed_rewards as (
      update rewards w set amount = coalesce(x.amount, w.amount), updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz else w.deleted_at end
      from d, jsonb_to_recordset(d.j->'rewards') as x(id bigint, amount numeric, deleted boolean) where w.id = x.id
      returning 1
    ),
    new_outbox as (${OUTBOX_INSERT})
    select 1`);
  // a reward already in an approved or paid payout: the partner owes the difference back
  const cause = new Map(plan.rewards.map((w) => [w.id, w.refundRowId]));
  await recordClawbacks(tx, [...cause.keys()], {}, (id) => ({ refundId: cause.get(id) ?? null }));
}

