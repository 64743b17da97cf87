// The worker's batch path: many jobs in one database transaction. Each run of payments goes through
// the planner in one read and one write (ledger-payments.ts), so events of one batch see each other
// exactly as they would one by one. Refunds (set-based here) and disputes run after the payments of
// their segment, and a payment that names one of them starts a new segment so it sees it waiting, as
// it would one event at a time.
import { sql } from 'drizzle-orm';
import { PlanFailure } from '../core/plan.js';
import type { RefundFact } from '../core/payment-event.js';
import { reducedReward, refundedTotal } from '../core/refund.js';
import type { ProgramRules } from '../core/program.js';
import type { Db } from './client.js';
import {
  executePrepared,
  LedgerDataError,
  lock,
  lockNames,
  tryLock,
  type BatchResult,
  type EnrichedPayment,
  type EventOutcome,
  type JobEvents,
  type LedgerEvent,
  type Tx,
} from './ledger-base.js';
import { applyPayments, OUTBOX_INSERT } from './ledger-payments.js';
import { recordDispute, recordRefund } from './ledger-reversals.js';

/** A job of the batch failed on its own (bad data): take it out and apply the others again. */
class JobFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super('job failed');
  }
}

/**
 * Apply jobs in one database transaction, each all-or-nothing (see applyBatch). `fallback` applies
 * jobs one statement at a time: it takes over when the batch fails for a reason no single job can
 * be blamed for (a write refused by a concurrent change the batch did not lock out), so the
 * isolation contract holds whatever happens.
 */
export async function applyBatchSetBased(
  db: Db,
  jobs: JobEvents[],
  now: Date,
  fallback: (db: Db, jobs: JobEvents[], now: Date) => Promise<BatchResult[]>,
): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(jobs.length);
  const namesOf = (i: number) => jobs[i]!.events.flatMap((e) => lockNames(jobs[i]!.program.id, e));
  let pending = jobs.map((_, i) => i);
  // whether the next transaction waits for its locks instead of trying them
  let wait = false;
  while (pending.length) {
    try {
      const { outcomes, deferred } = await db.transaction(async (tx) => {
        let run = pending;
        let deferred: number[] = [];
        if (wait || pending.length === 1) {
          await lock(tx, pending.flatMap(namesOf));
        } else {
          // Another batch (another worker process) holding some of these locks would make this whole
          // batch wait for its commit. Instead the jobs it blocks are deferred to a transaction of
          // their own, after this one, and the rest go now.
          const busy = await tryLock(tx, pending.flatMap(namesOf));
          if (busy.size) {
            ;({ run, deferred } = splitBusy(pending, namesOf, busy));
            // none free: start again waiting, in the global order (this transaction's locks go with it)
            if (!run.length) throw new AllBusy();
          }
        }
        const outcomes = await applyJobs(tx, run.map((i) => ({ index: i, job: jobs[i]! })), now);
        return { outcomes, deferred };
      });
      for (const [i, o] of outcomes) results[i] = { ok: true, outcomes: o };
      pending = deferred;
      wait = false;
    } catch (error) {
      if (error instanceof AllBusy) {
        wait = true;
        continue;
      }
      if (error instanceof JobFailure) {
        results[error.index] = { ok: false, error: error.error };
        pending = pending.filter((i) => i !== error.index);
        continue;
      }
      if (serverRefuses(sqlState(error))) {
        // the server takes no writes now (read-only after a failover, disk full, shutting down): no job
        // is to blame, and trying them one by one would fail each in turn, a transaction apiece. All of
        // them fail at once, and are retried with backoff.
        for (const i of pending) results[i] = { ok: false, error };
        pending = [];
        continue;
      }
      if (sqlState(error) === STATEMENT_CANCELED) {
        // cut by statement_timeout: most likely one job's statement sleeps or waits (a poisoned job).
        // One transaction per job, in order: it then hangs again holding only its own locks, and every
        // other job commits, instead of all of them waiting on it once more in one transaction.
        for (const i of pending) results[i] = (await fallback(db, [jobs[i]!], now))[0]!;
        pending = [];
        continue;
      }
      // nobody to blame: apply the remaining jobs the one-at-a-time way, which isolates them itself
      const rest = await fallback(db, pending.map((i) => jobs[i]!), now);
      pending.forEach((i, k) => (results[i] = rest[k]!));
      pending = [];
    }
  }
  return results;
}

class AllBusy extends Error {}

/** SQLSTATE 57014, query_canceled: statement_timeout (or a cancel request) cut a statement. */
const STATEMENT_CANCELED = '57014';

/**
 * SQLSTATEs that say the server, not a statement, is the problem: 25006 (read-only transaction: a
 * standby, or default_transaction_read_only), class 08 (connection exception), 53 (insufficient
 * resources: disk full, out of memory, too many connections), 57P (shutting down, starting up) and 58
 * (system error: I/O).
 */
function serverRefuses(state: string | undefined): boolean {
  return !!state && (state === '25006' || /^(08|53|57P|58)/.test(state));
}

/** The SQLSTATE of a pg error, or of the one drizzle wrapped. */
function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The jobs that can go now, and the deferred ones: those needing a lock held elsewhere, and every
 * later job sharing a lock with a deferred one (so events of one payment or customer keep their order).
 */
export function splitBusy(pending: number[], namesOf: (i: number) => string[], busy: Set<string>): { run: number[]; deferred: number[] } {
  const blocked = new Set(busy);
  const run: number[] = [];
  const deferred: number[] = [];
  for (const i of pending) {
    const names = namesOf(i);
    if (names.some((n) => blocked.has(n))) {
      deferred.push(i);
      for (const n of names) blocked.add(n);
    } else run.push(i);
  }
  return { run, deferred };
}

type Item = { job: number; seq: number; e: LedgerEvent };
type Segment = { payments: (Item & { e: EnrichedPayment })[]; others: Item[] };

/** Runs of payments, each followed by the refunds and disputes that came among them. */
export function segmentsOf(items: Item[], programOf: (job: number) => string): Segment[] {
  const segments: Segment[] = [];
  let current: Segment = { payments: [], others: [] };
  let deferredRefs = new Set<string>();
  for (const it of items) {
    const p = programOf(it.job);
    if (it.e.kind === 'payment') {
      const refs = [it.e.transactionKey, ...it.e.aliases].map((r) => `${p}|${r}`);
      // it must see a refund or dispute that came before it: that one runs first
      if (refs.some((r) => deferredRefs.has(r))) {
        segments.push(current);
        current = { payments: [], others: [] };
        deferredRefs = new Set();
      }
      current.payments.push(it as Item & { e: EnrichedPayment });
    } else {
      current.others.push(it);
      for (const r of it.e.paymentRefs) deferredRefs.add(`${p}|${r}`);
    }
  }
  segments.push(current);
  return segments.filter((s) => s.payments.length || s.others.length);
}

async function applyJobs(tx: Tx, jobs: { index: number; job: JobEvents }[], now: Date): Promise<Map<number, EventOutcome[]>> {
  const items: Item[] = [];
  const outcomes = new Map<number, EventOutcome[]>();
  for (const { index, job } of jobs) {
    outcomes.set(index, new Array(job.events.length));
    job.events.forEach((e, seq) => items.push({ job: index, seq, e }));
  }
  const programs = new Map(jobs.map(({ index, job }) => [index, job.program]));
  const programOf = (i: number) => programs.get(i)!;
  for (const seg of segmentsOf(items, (i) => programOf(i).id)) {
    if (seg.payments.length) {
      try {
        const done = await applyPayments(tx, seg.payments.map((it) => ({ at: it, e: it.e, program: programOf(it.job) })), now);
        for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
      } catch (error) {
        if (error instanceof PlanFailure) throw new JobFailure((error.at as Item).job, error.error);
        throw error;
      }
    }
    if (seg.others.length && seg.others.every((it) => it.e.kind === 'refund')) {
      const done = await applyRefunds(tx, seg.others as (Item & { e: RefundFact })[], programOf, now);
      for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
      continue;
    }
    for (const it of seg.others) {
      try {
        const program = programOf(it.job);
        outcomes.get(it.job)![it.seq] =
          it.e.kind === 'refund' ? await recordRefund(tx, program, it.e, now, true) : await recordDispute(tx, program, it.e as never, now, true);
      } catch (error) {
        throw new JobFailure(it.job, error);
      }
    }
  }
  const inbox = jobs.filter(({ job }) => job.inboxId).map(({ index, job }) => ({ id: job.inboxId, outcome: outcomes.get(index) }));
  if (inbox.length) {
    await executePrepared(tx, sql`
      update webhook_events w
      set status = 'processed', outcome = x.outcome, processed_at = ${now.toISOString()}::timestamptz,
          attempts = w.attempts + 1, last_error = null
      from (select * from jsonb_to_recordset(${JSON.stringify(inbox)}::jsonb) as x(id bigint, outcome jsonb) limit ${inbox.length}) as x
      where w.id = x.id`);
  }
  return outcomes;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V) {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

// ---- a run of refunds ----

type RefundLoad = {
  inserted: [number, string][]; // ord, refund row id
  refs: [string, string, string][]; // program, ref, transaction id
  transactions: [string, string, string, string, string, boolean][]; // id, key, amount, currency, refunded, deleted
  applied: [string, string | null, boolean][]; // transaction id, amount, cumulative
  rewards: [string, string, string, string, boolean][]; // id, transaction id, original amount, units, is currency
};

/**
 * Refunds as recordRefund applies them one after another: inserted once by gateway id (a repeat is
 * a duplicate), matched to their payment, added up with the payment's earlier refunds; read in one
 * statement, decided in order in memory, written in one.
 */
async function applyRefunds(
  tx: Tx,
  list: (Item & { e: RefundFact })[],
  programOf: (job: number) => ProgramRules,
  now: Date,
): Promise<[Item, EventOutcome][]> {
  const rows = list.map((it, ord) => ({
    ord,
    p: programOf(it.job).id,
    gateway: it.e.gateway,
    refund_id: it.e.refundId,
    payment_refs: it.e.paymentRefs,
    amount_minor: it.e.amount ? BigInt(it.e.amount.minor).toString() : null,
    currency: it.e.amount?.currency ?? null,
    cumulative: it.e.cumulative,
    occurred_at: new Date(it.e.occurredAt).toISOString(),
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
    refs as (
      select distinct u.p, r.ref, r.transaction_id
      -- how many refs there are, said as a LIMIT: PostgreSQL would guess 1,000 and read the whole table
      from (select x.p, u.ref from x cross join lateral unnest(x.payment_refs) as u(ref) limit ${sql.raw(String(refCount))}) as u
      join transaction_refs r on r.program_id = u.p and r.ref = u.ref
    ),
    tids as (select distinct transaction_id as id from refs limit ${sql.raw(String(refCount))})
    select
      (select coalesce(json_agg(json_build_array(x.ord, ins.id::text)), '[]') from ins
        join x on x.p = ins.program_id and x.gateway = ins.gateway and x.refund_id = ins.refund_id) as inserted,
      (select coalesce(json_agg(json_build_array(p, ref, transaction_id::text)), '[]') from refs) as refs,
      (select coalesce(json_agg(json_build_array(t.id::text, t.key, t.amount_minor::text, t.currency, t.refunded_minor::text,
        t.deleted_at is not null)), '[]') from tids join transactions t on t.id = tids.id) as transactions,
      (select coalesce(json_agg(json_build_array(f.transaction_id::text, f.amount_minor::text, f.cumulative)), '[]')
        from tids join refunds f on f.transaction_id = tids.id) as applied,
      (select coalesce(json_agg(json_build_array(w.id::text, w.transaction_id::text, w.original_amount::text, w.units, w.is_currency)), '[]')
        from tids join rewards w on w.transaction_id = tids.id and w.deleted_at is null) as rewards`);
  const loaded = res.rows[0] as unknown as RefundLoad;

  // a refund repeated within the run: the first one is inserted (in order), the others are duplicates
  const insertedId = new Map<number, string>();
  const firstOrd = new Map<string, number>();
  for (const [ord, id] of loaded.inserted) firstOrd.set(id, Math.min(ord, firstOrd.get(id) ?? ord));
  for (const [id, ord] of firstOrd) insertedId.set(ord, id);
  const refMap = new Map<string, string>();
  for (const [p, ref, tid] of loaded.refs) refMap.set(`${p}|${ref}`, tid);
  type T = { id: string; key: string; amount: bigint; currency: string; refunded: bigint; deleted: boolean; dirty: boolean; deletedNow: boolean; known: { amountMinor: bigint | null; cumulative: boolean }[] };
  const txs = new Map<string, T>();
  for (const [id, key, amount, currency, refunded, deleted] of loaded.transactions) {
    txs.set(id, { id, key, amount: BigInt(amount), currency, refunded: BigInt(refunded), deleted, dirty: false, deletedNow: false, known: [] });
  }
  for (const [tid, amount, cumulative] of loaded.applied) txs.get(tid)?.known.push({ amountMinor: amount === null ? null : BigInt(amount), cumulative });
  type W = { id: string; original: string; units: string; isCurrency: boolean; amount: string | null; deleted: boolean };
  const rewardsOf = new Map<string, W[]>();
  for (const [id, tid, original, units, isCurrency] of loaded.rewards) push(rewardsOf, tid, { id, original, units, isCurrency, amount: null, deleted: false });

  const outcomes: [Item, EventOutcome][] = [];
  const appliedRows: { id: string; tid: string }[] = [];
  const outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown>; ord: number }[] = [];
  list.forEach((it, ord) => {
    const e = it.e;
    const p = programOf(it.job).id;
    const id = insertedId.get(ord);
    if (!id) {
      outcomes.push([it, { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false }]);
      return;
    }
    const tid = e.paymentRefs.map((r) => refMap.get(`${p}|${r}`)).find((x) => x);
    const t = tid ? txs.get(tid) : undefined;
    if (!t) {
      outcomes.push([it, { kind: 'refund', result: 'pending_payment', transactionKey: null, deleted: false }]);
      return;
    }
    if (e.amount && e.amount.currency !== t.currency) {
      throw new JobFailure(it.job, new LedgerDataError(`payload: refund ${e.refundId} is in ${e.amount.currency}, its payment ${t.key} in ${t.currency}`));
    }
    appliedRows.push({ id, tid: t.id });
    t.known.push({ amountMinor: e.amount ? BigInt(e.amount.minor) : null, cumulative: e.cumulative });
    if (!t.deleted) {
      const effect = refundedTotal(t.amount, t.known);
      const live = (rewardsOf.get(t.id) ?? []).filter((w) => !w.deleted);
      if (effect.full) {
        t.refunded = effect.refundedMinor;
        t.deleted = t.deletedNow = t.dirty = true;
        for (const w of live) w.deleted = true;
        outbox.push({ p, event: 'transaction.deleted', entity_key: t.key, detail: { reason: 'refunded' }, ord: outbox.length });
      } else if (effect.refundedMinor !== t.refunded) {
        t.refunded = effect.refundedMinor;
        t.dirty = true;
        for (const w of live) w.amount = reducedReward({ amount: w.original, units: w.units, isCurrency: w.isCurrency }, t.amount, effect.refundedMinor);
      }
    }
    outcomes.push([it, { kind: 'refund', result: 'applied', transactionKey: t.key, deleted: t.deleted }]);
  });

  const changedTxs = [...txs.values()].filter((t) => t.dirty).map((t) => ({ id: t.id, refunded: t.refunded.toString(), deleted: t.deletedNow }));
  const changedRewards = [...rewardsOf.values()].flat().filter((w) => w.deleted || w.amount !== null).map((w) => ({ id: w.id, amount: w.amount, deleted: w.deleted }));
  if (!appliedRows.length && !outbox.length) return outcomes;
  const at = now.toISOString();
  const data = JSON.stringify({ applied: appliedRows, transactions: changedTxs, rewards: changedRewards, outbox });
  await tx.execute(sql`
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
  return outcomes;
}
