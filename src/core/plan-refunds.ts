// The refunds planner: refunds (new ones, or stored ones that waited for their payment) decided in
// order against a snapshot of their payments, as one at a time would: matched to their payment by
// any of its ids, added up with the payment's earlier refunds (core/refund.ts), the payment deleted
// when refunded in full, its rewards reduced in proportion otherwise. Pure: storage loads, applies.
import { LedgerDataError, PlanFailure } from './plan.js';
import { reducedReward, refundedTotal, type KnownRefund } from './refund.js';

export type RefundOutcome = {
  kind: 'refund';
  result: 'applied' | 'pending_payment' | 'duplicate';
  transactionKey: string | null;
  deleted: boolean;
};

export type RefundTarget = {
  id: string;
  key: string;
  programId: string;
  amount: bigint;
  currency: string;
  refunded: bigint;
  deleted: boolean;
  /** The payment's refunds applied before (stored). */
  known: KnownRefund[];
  /** Its live rewards. */
  rewards: { id: string; original: string; units: string; isCurrency: boolean }[];
};

export type RefundSnapshot = {
  /** program|ref → transaction id. */
  refs: Map<string, string>;
  transactions: Map<string, RefundTarget>;
};

export type RefundInput<T> = {
  at: T;
  programId: string;
  /** The stored refund row; null: the gateway's refund id was stored before (a duplicate). */
  rowId: string | null;
  refundId: string;
  paymentRefs: string[];
  amount: { minor: bigint; currency: string } | null;
  cumulative: boolean;
  /**
   * A refund in another currency than its payment: `fail` (a new refund: bad data) or `wait` (a stored
   * one that waited for a payment: not this payment's to take back, it stays waiting).
   */
  onMismatch: 'fail' | 'wait';
};

export type RefundPlan<T> = {
  outcomes: [T, RefundOutcome][];
  /** Refund rows now applied to their transaction. */
  applied: { id: string; tid: string }[];
  transactions: { id: string; refunded: string; deleted: boolean }[];
  /** Rewards reduced or deleted, with the refund (its row id) that last changed them. */
  rewards: { id: string; amount: string | null; deleted: boolean; refundRowId: string }[];
  outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown>; ord: number }[];
};

export function planRefunds<T>(snapshot: RefundSnapshot, list: RefundInput<T>[]): RefundPlan<T> {
  type State = RefundTarget & { dirty: boolean; deletedNow: boolean; changed: Map<string, { amount: string | null; deleted: boolean; refundRowId: string }> };
  const state = new Map<string, State>();
  const target = (tid: string) => {
    let s = state.get(tid);
    const t = snapshot.transactions.get(tid);
    if (!s && t) state.set(tid, (s = { ...t, known: [...t.known], dirty: false, deletedNow: false, changed: new Map() }));
    return s;
  };
  const plan: RefundPlan<T> = { outcomes: [], applied: [], transactions: [], rewards: [], outbox: [] };
  for (const r of list) {
    if (r.rowId === null) {
      plan.outcomes.push([r.at, { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false }]);
      continue;
    }
    const tid = r.paymentRefs.map((ref) => snapshot.refs.get(`${r.programId}|${ref}`)).find((x) => x);
    const t = tid ? target(tid) : undefined;
    if (!t) {
      plan.outcomes.push([r.at, { kind: 'refund', result: 'pending_payment', transactionKey: null, deleted: false }]);
      continue;
    }
    if (r.amount && r.amount.currency !== t.currency) {
      if (r.onMismatch === 'fail') {
        throw new PlanFailure(r.at, new LedgerDataError(`refund ${r.refundId} is in ${r.amount.currency}, its payment ${t.key} in ${t.currency}`));
      }
      plan.outcomes.push([r.at, { kind: 'refund', result: 'pending_payment', transactionKey: null, deleted: false }]);
      continue;
    }
    plan.applied.push({ id: r.rowId, tid: t.id });
    t.known.push({ amountMinor: r.amount ? r.amount.minor : null, cumulative: r.cumulative });
    if (!t.deleted) {
      const effect = refundedTotal(t.amount, t.known);
      if (effect.full) {
        t.refunded = effect.refundedMinor;
        t.deleted = t.deletedNow = t.dirty = true;
        for (const w of t.rewards) t.changed.set(w.id, { amount: t.changed.get(w.id)?.amount ?? null, deleted: true, refundRowId: r.rowId });
        plan.outbox.push({ p: t.programId, event: 'transaction.deleted', entity_key: t.key, detail: { reason: 'refunded' }, ord: plan.outbox.length });
      } else if (effect.refundedMinor !== t.refunded) {
        t.refunded = effect.refundedMinor;
        t.dirty = true;
        for (const w of t.rewards) {
          t.changed.set(w.id, { amount: reducedReward({ amount: w.original, units: w.units, isCurrency: w.isCurrency }, t.amount, effect.refundedMinor), deleted: false, refundRowId: r.rowId });
        }
      }
    }
    plan.outcomes.push([r.at, { kind: 'refund', result: 'applied', transactionKey: t.key, deleted: t.deleted }]);
  }
  for (const t of state.values()) {
    if (t.dirty) plan.transactions.push({ id: t.id, refunded: t.refunded.toString(), deleted: t.deletedNow });
    for (const [id, c] of t.changed) plan.rewards.push({ id, ...c });
  }
  return plan;
}
