// Disputes (chargebacks) decided on a payment and its rewards. Pure: storage loads the transaction
// and its rewards, this decides their new states, storage writes them.
//   opened: live rewards held in review (the status they had kept to restore); a rejected one stays.
//   won:    held rewards released (to `ok` when their review period is over); a payment a lost
//           dispute deleted comes back with the rewards that dispute deleted (a chargeback reversed).
//   lost:   the payment and its live rewards deleted; rewards in a fixed payout are clawed back.
export type RewardState = 'ok' | 'review_period' | 'rejected';

export type DisputeReward = {
  id: string;
  key: string;
  status: RewardState;
  /** The status held while a dispute is open; null when not held. */
  heldFrom: RewardState | null;
  reviewEndsAt: Date | null;
  deleted: boolean;
  deletedReason: string | null;
};

export type DisputeTarget = { key: string; deleted: boolean; deletedReason: string | null; rewards: DisputeReward[] };

export type DisputeChange = {
  transaction: { disputeStatus: 'opened' | 'won' | 'lost'; deleted?: true; restored?: true };
  /** Rewards to write: a new status and hold, deleted, or restored. */
  rewards: { id: string; status: RewardState; heldFrom: RewardState | null; deleted: boolean; restored: boolean }[];
  /** reward.status_changed events. */
  statusChanges: { key: string; from: RewardState | null; to: RewardState; reason: string }[];
  event: 'transaction.deleted' | 'transaction.restored' | null;
};

/** null: the dispute changes nothing (a payment deleted for another reason). */
export function planDispute(t: DisputeTarget, status: 'opened' | 'won' | 'lost', now: Date): DisputeChange | null {
  const released = (w: DisputeReward): RewardState =>
    w.heldFrom === 'review_period' && w.reviewEndsAt && w.reviewEndsAt <= now ? 'ok' : (w.heldFrom ?? w.status);
  if (t.deleted) {
    // only a won dispute undoes, and only what a lost dispute deleted
    if (status !== 'won' || t.deletedReason !== 'dispute_lost') return null;
    const back = t.rewards.filter((w) => w.deleted && w.deletedReason === 'dispute_lost');
    return {
      transaction: { disputeStatus: 'won', restored: true },
      rewards: back.map((w) => ({ id: w.id, status: w.heldFrom ? released(w) : w.status, heldFrom: null, deleted: false, restored: true })),
      statusChanges: back.filter((w) => w.heldFrom).map((w) => ({ key: w.key, from: 'review_period', to: released(w), reason: 'dispute_won' })),
      event: 'transaction.restored',
    };
  }
  const live = t.rewards.filter((w) => !w.deleted);
  if (status === 'opened') {
    const held = live.filter((w) => w.heldFrom === null && w.status !== 'rejected');
    return {
      transaction: { disputeStatus: 'opened' },
      rewards: held.map((w) => ({ id: w.id, status: 'review_period', heldFrom: w.status, deleted: false, restored: false })),
      statusChanges: held.map((w) => ({ key: w.key, from: w.status, to: 'review_period', reason: 'dispute_opened' })),
      event: null,
    };
  }
  if (status === 'won') {
    const held = live.filter((w) => w.heldFrom !== null);
    return {
      transaction: { disputeStatus: 'won' },
      rewards: held.map((w) => ({ id: w.id, status: released(w), heldFrom: null, deleted: false, restored: false })),
      statusChanges: held.map((w) => ({ key: w.key, from: 'review_period', to: released(w), reason: 'dispute_won' })),
      event: null,
    };
  }
  return {
    transaction: { disputeStatus: 'lost', deleted: true },
    // the hold stays with a deleted reward: a dispute won later restores its status from it
    rewards: live.map((w) => ({ id: w.id, status: w.status, heldFrom: w.heldFrom, deleted: true, restored: false })),
    statusChanges: [],
    event: 'transaction.deleted',
  };
}
