// The refunds planner, pure: refunds decided in order against their payments as one at a time would.
import { describe, expect, it } from 'vitest';
import { LedgerDataError, PlanFailure } from '../../src/core/plan.js';
import { planRefunds, type RefundInput, type RefundSnapshot } from '../../src/core/plan-refunds.js';

const snapshot = (): RefundSnapshot => ({
  refs: new Map([
    ['p|pi_1', 't1'],
    ['p|ch_1', 't1'],
  ]),
  transactions: new Map([
    ['t1', { id: 't1', key: 'pi_1', programId: 'p', amount: 10_000n, currency: 'USD', refunded: 0n, deleted: false, deletedReason: null, known: [], rewards: [{ id: 'w1', original: '30', units: 'USD', isCurrency: true }] }],
  ]),
});
let n = 0;
const refund = (over: Partial<RefundInput<number>> = {}): RefundInput<number> => ({
  at: n++,
  programId: 'p',
  rowId: `r${n}`,
  refundId: `re_${n}`,
  paymentRefs: ['ch_1'],
  amount: { minor: 2_500n, currency: 'USD' },
  cumulative: false,
  onMismatch: 'fail',
  ...over,
});

describe('planRefunds', () => {
  it('partial refunds add up and reduce the reward from its original; the last one deletes', () => {
    const plan = planRefunds(snapshot(), [refund(), refund(), refund({ amount: { minor: 5_000n, currency: 'USD' } })]);
    expect(plan.outcomes.map(([, o]) => [o.result, o.deleted])).toEqual([
      ['applied', false],
      ['applied', false],
      ['applied', true],
    ]);
    expect(plan.transactions).toMatchObject([{ id: 't1', refunded: '10000', deleted: true, restored: false }]);
    expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '15', deleted: true }]);
    // the last refund that changed it: a clawback names it
    expect(plan.rewards[0]!.refundRowId).toBe(plan.applied.at(-1)!.id);
    expect(plan.outbox).toMatchObject([{ event: 'transaction.deleted', entity_key: 'pi_1' }]);
  });

  it('a running total never adds to refunds known by id: the larger counts', () => {
    const plan = planRefunds(snapshot(), [refund(), refund({ cumulative: true, amount: { minor: 2_500n, currency: 'USD' } })]);
    expect(plan.transactions).toMatchObject([{ id: 't1', refunded: '2500', deleted: false }]);
    expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '22.5', deleted: false }]);
  });

  it('a duplicate and a refund of an unknown payment change nothing', () => {
    const plan = planRefunds(snapshot(), [refund({ rowId: null }), refund({ paymentRefs: ['pi_other'] })]);
    expect(plan.outcomes.map(([, o]) => o.result)).toEqual(['duplicate', 'pending_payment']);
    expect(plan).toMatchObject({ applied: [], transactions: [], rewards: [], outbox: [] });
  });

  it('another currency: a new refund is bad data, a waiting one keeps waiting', () => {
    const eur = { amount: { minor: 100n, currency: 'EUR' } };
    expect(() => planRefunds(snapshot(), [refund(eur)])).toThrow(PlanFailure);
    try {
      planRefunds(snapshot(), [refund(eur)]);
    } catch (e) {
      expect((e as PlanFailure<number>).error).toBeInstanceOf(LedgerDataError);
    }
    const waiting = planRefunds(snapshot(), [refund({ ...eur, onMismatch: 'wait' })]);
    expect(waiting.outcomes[0]![1].result).toBe('pending_payment');
    expect(waiting.applied).toEqual([]);
  });

  describe('reversals', () => {
    it('a reversed partial refund raises the reward back to what the refunds still standing leave', () => {
      const a = refund();
      const b = refund();
      const plan = planRefunds(snapshot(), [a, b, refund({ rowId: a.rowId, refundId: a.refundId, reversed: true })]);
      expect(plan.outcomes.map(([, o]) => o.result)).toEqual(['applied', 'applied', 'applied']);
      expect(plan.outcomes[2]![1].reversed).toBe(true);
      expect(plan.transactions).toMatchObject([{ id: 't1', refunded: '2500', deleted: false, reducedBy: [b.refundId] }]);
      expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '22.5', deleted: false, raised: true, refundRowId: b.rowId }]);
    });

    it('a reversed full refund restores the payment and its rewards, reduced by the partial ones standing', () => {
      const partial = refund();
      const full = refund({ amount: null });
      const plan = planRefunds(snapshot(), [partial, full, refund({ rowId: full.rowId, refundId: full.refundId, amount: null, reversed: true })]);
      expect(plan.outcomes.map(([, o]) => o.deleted)).toEqual([false, true, false]);
      expect(plan.transactions).toMatchObject([{ id: 't1', refunded: '2500', deleted: false, restored: true, reducedBy: [partial.refundId] }]);
      expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '22.5', deleted: false, restored: true }]);
      expect(plan.outbox.map((o) => o.event)).toEqual(['transaction.deleted', 'transaction.restored']);
    });

    it('a payment a refund deleted before comes back when that refund is reversed', () => {
      const snap = snapshot();
      const t = snap.transactions.get('t1')!;
      Object.assign(t, { deleted: true, deletedReason: 'refunded', refunded: 10_000n, known: [{ rowId: 'old', refundId: 're_old', amountMinor: null, cumulative: false }] });
      t.rewards[0]!.deleted = true;
      const plan = planRefunds(snap, [refund({ rowId: 'old', refundId: 're_old', amount: null, reversed: true })]);
      expect(plan.transactions).toEqual([{ id: 't1', refunded: '0', deleted: false, restored: true, deletedBy: null, reducedBy: [] }]);
      expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '30', deleted: false, restored: true, raised: true, refundRowId: null }]);
      expect(plan.outbox).toMatchObject([{ event: 'transaction.restored', entity_key: 'pi_1' }]);
    });

    it('a payment deleted by a lost dispute stays deleted whatever its refunds do', () => {
      const snap = snapshot();
      Object.assign(snap.transactions.get('t1')!, { deleted: true, deletedReason: 'dispute_lost', known: [{ rowId: 'old', refundId: 're_old', amountMinor: 2_500n, cumulative: false }], rewards: [] });
      const plan = planRefunds(snap, [refund({ rowId: 'old', refundId: 're_old', reversed: true })]);
      expect(plan.transactions).toMatchObject([{ deleted: false, restored: false }]);
      expect(plan.rewards).toEqual([]);
      expect(plan.outbox).toEqual([]);
    });

    it('a refund that arrives already reversed, or a second reversal, changes nothing', () => {
      const a = refund({ reversed: true });
      const plan = planRefunds(snapshot(), [a, refund({ rowId: a.rowId, refundId: a.refundId, reversed: true })]);
      expect(plan.outcomes.map(([, o]) => o.result)).toEqual(['applied', 'duplicate']);
      expect(plan.applied).toEqual([{ id: a.rowId, tid: 't1' }]);
      expect(plan.rewards).toEqual([]);
    });

    it('a reversal lowers a running total reported while its refund stood', () => {
      const a = refund();
      const plan = planRefunds(snapshot(), [a, refund({ cumulative: true }), refund({ rowId: a.rowId, refundId: a.refundId, reversed: true })]);
      expect(plan.transactions).toMatchObject([{ refunded: '0' }]);
      expect(plan.rewards).toMatchObject([{ amount: '30', raised: true }]);
    });
  });
});
