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
    ['t1', { id: 't1', key: 'pi_1', programId: 'p', amount: 10_000n, currency: 'USD', refunded: 0n, deleted: false, known: [], rewards: [{ id: 'w1', original: '30', units: 'USD', isCurrency: true }] }],
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
    expect(plan.transactions).toEqual([{ id: 't1', refunded: '10000', deleted: true }]);
    expect(plan.rewards).toMatchObject([{ id: 'w1', amount: '15', deleted: true }]);
    // the last refund that changed it: a clawback names it
    expect(plan.rewards[0]!.refundRowId).toBe(plan.applied.at(-1)!.id);
    expect(plan.outbox).toMatchObject([{ event: 'transaction.deleted', entity_key: 'pi_1' }]);
  });

  it('a running total never adds to refunds known by id: the larger counts', () => {
    const plan = planRefunds(snapshot(), [refund(), refund({ cumulative: true, amount: { minor: 2_500n, currency: 'USD' } })]);
    expect(plan.transactions).toEqual([{ id: 't1', refunded: '2500', deleted: false }]);
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
});
