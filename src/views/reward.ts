// A partner's reward (a commission of a transaction, or a manual one) and its earnings, as the REST
// API shows them: amounts as JSON numbers from exact decimals, as the transactions' rewards are.
import type { Earnings, PartnerRewardRow } from '../db/partner-rewards.js';
import { timestamp } from './time.js';

export const rewardView = (r: PartnerRewardRow, partnerKey: string) => ({
  key: r.key,
  kind: r.kind,
  action: r.action,
  status: r.deletedAt ? 'deleted' : r.status,
  partner: partnerKey,
  transaction: r.transactionKey,
  amount: Number(r.amount),
  amount_units: r.units,
  is_currency: r.isCurrency,
  note: r.note,
  review_ends_at: timestamp(r.reviewEndsAt),
  created_at: timestamp(r.createdAt),
  archived_at: timestamp(r.archivedAt),
  deleted_at: timestamp(r.deletedAt),
  /** refunded, dispute_lost, deleted_via_api or amount_corrected. */
  deleted_reason: r.deletedAt ? r.deletedReason : null,
});

export const earningsView = (e: Earnings) => ({
  amount_units: e.units,
  is_currency: e.isCurrency,
  total: Number(e.total),
  approved: Number(e.approved),
  in_review: Number(e.inReview),
  rewards: e.rewards,
  manual_rewards: e.manual,
});
