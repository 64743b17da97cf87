// The refunds planner: refunds (new ones, or stored ones that waited for their payment) and their
// reversals decided in order against a snapshot of their payments, as one at a time would: matched to
// their payment by any of its ids, added up with the payment's other refunds still standing
// (core/refund.ts), the payment deleted when refunded in full, its rewards reduced in proportion
// otherwise. A reversal (the gateway took a refund back) takes its refund out of the total and the
// payment is computed again from the ones still standing: a payment a full refund deleted comes back
// with its rewards. Pure: storage loads, applies.
import { LedgerDataError, PlanFailure } from './plan.js';
import { reducedReward, refundedTotal, type KnownRefund } from './refund.js';

export type RefundOutcome = {
  kind: 'refund';
  result: 'applied' | 'pending_payment' | 'duplicate';
  transactionKey: string | null;
  deleted: boolean;
  /** A reversal: the refund no longer counts. */
  reversed?: boolean;
};

/** A stored refund of the payment: its row, the gateway's id, whether the gateway took it back. */
export type StoredRefund = KnownRefund & { rowId: string; refundId: string };

export type RefundTarget = {
  id: string;
  key: string;
  programId: string;
  amount: bigint;
  currency: string;
  refunded: bigint;
  deleted: boolean;
  /** refunded | dispute_lost | deleted_via_api: only a refund's delete is undone by a reversal. */
  deletedReason: string | null;
  /** The payment's refunds applied before (stored). */
  known: StoredRefund[];
  /** Its live rewards, and those a full refund deleted (`deleted`: a reversal restores them). */
  rewards: { id: string; original: string; units: string; isCurrency: boolean; deleted?: boolean }[];
};

export type RefundSnapshot = {
  /** program|ref → transaction id. */
  refs: Map<string, string>;
  transactions: Map<string, RefundTarget>;
};

export type RefundInput<T> = {
  at: T;
  programId: string;
  /**
   * The stored refund row; null: nothing new (the refund was stored before, or its reversal was).
   * A reversal names the row of the refund it takes back (stored with `reversed_at` when it came first).
   */
  rowId: string | null;
  refundId: string;
  paymentRefs: string[];
  amount: { minor: bigint; currency: string } | null;
  cumulative: boolean;
  /** The gateway took this refund back (the fact is a reversal, or a stored refund reversed before it applied). */
  reversed?: boolean;
  /**
   * A refund in another currency than its payment: `fail` (a new refund: bad data) or `wait` (a stored
   * one that waited for a payment: not this payment's to take back, it stays waiting).
   */
  onMismatch: 'fail' | 'wait';
};

export type RewardChange = {
  id: string;
  amount: string | null;
  deleted: boolean;
  /** A reward a full refund deleted that a reversal brings back. */
  restored: boolean;
  /** Worth more than before (a reversal): the clawbacks its refunds caused are settled again. */
  raised: boolean;
  /** The refund row that last changed it, or (a reversal) the one still standing last; null: none. */
  refundRowId: string | null;
};

export type RefundPlan<T> = {
  outcomes: [T, RefundOutcome][];
  /** Refund rows now applied to their transaction. */
  applied: { id: string; tid: string }[];
  transactions: { id: string; refunded: string; deleted: boolean; restored: boolean; deletedBy: string | null; reducedBy: string[] }[];
  /** Rewards reduced, deleted or restored. */
  rewards: RewardChange[];
  outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown>; ord: number }[];
};

export function planRefunds<T>(snapshot: RefundSnapshot, list: RefundInput<T>[]): RefundPlan<T> {
  type State = RefundTarget & { dirty: boolean; deletedNow: boolean; restoredNow: boolean; deletedBy: string | null; changed: Map<string, RewardChange> };
  const state = new Map<string, State>();
  const target = (tid: string) => {
    let s = state.get(tid);
    const t = snapshot.transactions.get(tid);
    if (!s && t) {
      s = { ...t, known: t.known.map((k) => ({ ...k })), rewards: t.rewards.map((w) => ({ ...w })), dirty: false, deletedNow: false, restoredNow: false, deletedBy: null, changed: new Map() };
      state.set(tid, s);
    }
    return s;
  };
  const plan: RefundPlan<T> = { outcomes: [], applied: [], transactions: [], rewards: [], outbox: [] };
  const outcome = (r: RefundInput<T>, result: RefundOutcome['result'], t?: State) =>
    plan.outcomes.push([r.at, { kind: 'refund', result, transactionKey: t?.key ?? null, deleted: t?.deleted ?? false, ...(r.reversed ? { reversed: true } : {}) }]);
  for (const r of list) {
    if (r.rowId === null) {
      outcome(r, 'duplicate');
      continue;
    }
    const tid = r.paymentRefs.map((ref) => snapshot.refs.get(`${r.programId}|${ref}`)).find((x) => x);
    const t = tid ? target(tid) : undefined;
    if (!t) {
      outcome(r, 'pending_payment');
      continue;
    }
    const stored = t.known.find((k) => k.rowId === r.rowId);
    if (stored) {
      // a reversal of a refund this payment counted already
      if (!r.reversed || stored.reversed) {
        outcome(r, 'duplicate', t);
        continue;
      }
      stored.reversed = true;
    } else {
      if (r.amount && r.amount.currency !== t.currency) {
        if (r.onMismatch === 'fail') {
          throw new PlanFailure(r.at, new LedgerDataError(`refund ${r.refundId} is in ${r.amount.currency}, its payment ${t.key} in ${t.currency}`));
        }
        outcome(r, 'pending_payment');
        continue;
      }
      plan.applied.push({ id: r.rowId, tid: t.id });
      t.known.push({ rowId: r.rowId, refundId: r.refundId, amountMinor: r.amount ? r.amount.minor : null, cumulative: r.cumulative, reversed: !!r.reversed });
      // a refund that arrives already reversed changes nothing
      if (r.reversed) {
        outcome(r, 'applied', t);
        continue;
      }
    }
    settle(t, r.rowId, plan);
    outcome(r, 'applied', t);
  }
  for (const t of state.values()) {
    if (t.dirty) {
      const reducedBy = t.known.filter((k) => !k.reversed).map((k) => k.refundId);
      plan.transactions.push({ id: t.id, refunded: t.refunded.toString(), deleted: t.deletedNow, restored: t.restoredNow, deletedBy: t.deletedBy, reducedBy });
    }
    for (const c of t.changed.values()) plan.rewards.push(c);
  }
  return plan;
}

/** The payment after its refunds changed: deleted, restored, reduced or raised in proportion. */
function settle(
  t: RefundTarget & { dirty: boolean; deletedNow: boolean; restoredNow: boolean; deletedBy: string | null; changed: Map<string, RewardChange> },
  rowId: string,
  plan: RefundPlan<unknown>,
): void {
  const effect = refundedTotal(t.amount, t.known);
  const standing = t.known.filter((k) => !k.reversed);
  const lastStanding = standing.length ? standing[standing.length - 1]!.rowId : null;
  const change = (w: RefundTarget['rewards'][number], c: Omit<RewardChange, 'id'>) => {
    const before = t.changed.get(w.id);
    t.changed.set(w.id, { id: w.id, ...c, restored: c.restored || (!!before?.restored && !c.deleted), raised: c.raised || !!before?.raised });
  };
  if (t.deleted) {
    // deleted by something else (a lost dispute, the API): the refunds only count for the total
    if (t.deletedReason !== 'refunded' || effect.full) {
      if (t.deletedReason !== 'refunded') t.refunded = effect.refundedMinor;
      t.dirty = true;
      return;
    }
    // the refund that deleted it was taken back: the payment and its rewards come back
    t.deleted = t.deletedNow = false;
    t.restoredNow = true;
    t.deletedReason = null;
    t.deletedBy = null;
    t.refunded = effect.refundedMinor;
    t.dirty = true;
    for (const w of t.rewards) {
      if (!w.deleted) continue;
      w.deleted = false;
      change(w, { amount: reducedReward({ amount: w.original, units: w.units, isCurrency: w.isCurrency }, t.amount, effect.refundedMinor), deleted: false, restored: true, raised: true, refundRowId: lastStanding });
    }
    plan.outbox.push({ p: t.programId, event: 'transaction.restored', entity_key: t.key, detail: { reason: 'refund_reversed' }, ord: plan.outbox.length });
    return;
  }
  if (effect.full) {
    t.refunded = effect.refundedMinor;
    t.deleted = t.deletedNow = t.dirty = true;
    t.deletedReason = 'refunded';
    t.deletedBy = t.known.find((k) => k.rowId === rowId)?.refundId ?? null;
    for (const w of t.rewards) {
      if (w.deleted) continue;
      w.deleted = true;
      change(w, { amount: t.changed.get(w.id)?.amount ?? null, deleted: true, restored: false, raised: false, refundRowId: rowId });
    }
    plan.outbox.push({ p: t.programId, event: 'transaction.deleted', entity_key: t.key, detail: { reason: 'refunded' }, ord: plan.outbox.length });
  } else if (effect.refundedMinor !== t.refunded) {
    const raised = effect.refundedMinor < t.refunded;
    t.refunded = effect.refundedMinor;
    t.dirty = true;
    for (const w of t.rewards) {
      if (w.deleted) continue;
      change(w, { amount: reducedReward({ amount: w.original, units: w.units, isCurrency: w.isCurrency }, t.amount, effect.refundedMinor), deleted: false, restored: false, raised, refundRowId: raised ? lastStanding : rowId });
    }
  } else {
    // the list of refunds standing changed even when the total did not (a running total covers it)
    t.dirty = true;
  }
}
