// Disputes decided on a payment's rewards, pure: hold, release, delete, and a lost one reversed.
import { describe, expect, it } from 'vitest';
import { planDispute, type DisputeReward, type DisputeTarget } from '../../src/core/dispute.js';

const now = new Date('2026-01-10T00:00:00Z');
const reward = (over: Partial<DisputeReward> = {}): DisputeReward => ({
  id: '1', key: 'rw_1', status: 'ok', heldFrom: null, reviewEndsAt: new Date('2026-01-01T00:00:00Z'), deleted: false, deletedReason: null, ...over,
});
const target = (rewards: DisputeReward[], over: Partial<DisputeTarget> = {}): DisputeTarget => ({ key: 'pi_1', deleted: false, deletedReason: null, rewards, ...over });

describe('planDispute', () => {
  it.each([
    ['opened holds an ok reward', [reward()], 'opened', [{ status: 'review_period', heldFrom: 'ok' }]],
    ['opened leaves a rejected reward and a held one', [reward({ status: 'rejected' }), reward({ id: '2', heldFrom: 'ok', status: 'review_period' })], 'opened', []],
    ['won releases a held reward whose review is over to ok', [reward({ status: 'review_period', heldFrom: 'review_period' })], 'won', [{ status: 'ok', heldFrom: null }]],
    ['won keeps a reward in review until its review ends', [reward({ status: 'review_period', heldFrom: 'review_period', reviewEndsAt: new Date('2026-02-01T00:00:00Z') })], 'won', [{ status: 'review_period', heldFrom: null }]],
    ['lost deletes the live rewards', [reward()], 'lost', [{ deleted: true }]],
  ] as const)('%s', (_label, rewards, status, expected) => {
    expect(planDispute(target([...rewards]), status, now)!.rewards).toMatchObject(expected);
  });

  it('a lost dispute then won restores the payment and what the dispute deleted, released', () => {
    const gone = [reward({ deleted: true, deletedReason: 'dispute_lost', status: 'review_period', heldFrom: 'ok' }), reward({ id: '2', deleted: true, deletedReason: 'deleted_via_api' })];
    const change = planDispute(target(gone, { deleted: true, deletedReason: 'dispute_lost' }), 'won', now)!;
    expect(change.transaction).toEqual({ disputeStatus: 'won', restored: true });
    expect(change.rewards).toEqual([{ id: '1', status: 'ok', heldFrom: null, deleted: false, restored: true }]);
    expect(change.event).toBe('transaction.restored');
  });

  it('a payment deleted by a refund or the API is not the dispute\'s to restore', () => {
    expect(planDispute(target([], { deleted: true, deletedReason: 'refunded' }), 'won', now)).toBeNull();
    expect(planDispute(target([], { deleted: true, deletedReason: 'dispute_lost' }), 'lost', now)).toBeNull();
  });
});
