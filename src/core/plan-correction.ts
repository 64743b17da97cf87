// An amount correction (the bulk API's `tid` naming a stored transaction): its reward computed again
// for the new amount, for whoever it was credited to, and reduced by what is refunded of it. Pure:
// storage loads the transaction and its live rewards, applies the plan.
import { computeCommission, type NoRewardReason, type RewardDraft } from './commission.js';
import type { ProgramRules } from './program.js';
import { reducedReward } from './refund.js';

export type CorrectionFacts = {
  transaction: {
    currency: string;
    isCurrency: boolean;
    refundedMinor: bigint;
    productId: string | null;
    productType: string | null;
    createdAt: Date;
  };
  /** The key of whoever the transaction credited (its attribution), or null. */
  referrerKey: string | null;
  /** The customer's first payment, when it came before this one. */
  customerFirstPaymentAt: Date | null;
  /** Its live rewards, oldest first. */
  liveRewardIds: string[];
};

export type CorrectionPlan =
  /** The corrected amount earns nothing: the live rewards are deleted. */
  | { reason: NoRewardReason; deleted: string[]; reward: null }
  /** The first live reward takes the new figures (`updateId`), or a new one is made (null). */
  | { reason: null; deleted: []; reward: { updateId: string | null; draft: RewardDraft; amount: string } };

export function planAmountCorrection(program: ProgramRules, f: CorrectionFacts, amountMinor: bigint, now: Date): CorrectionPlan {
  const t = f.transaction;
  const commission = computeCommission(program, {
    amount: { minor: amountMinor, currency: t.currency, isCurrency: t.isCurrency },
    product: { id: t.productId ?? undefined, type: t.productType ?? undefined },
    partnerKey: f.referrerKey,
    occurredAt: t.createdAt,
    customerFirstPaymentAt: f.customerFirstPaymentAt,
    now,
  });
  if (commission.reason !== null) return { reason: commission.reason, deleted: f.liveRewardIds, reward: null };
  const [draft] = commission.rewards;
  const amount = reducedReward({ amount: draft.amount, units: draft.units, isCurrency: draft.isCurrency }, amountMinor, t.refundedMinor);
  return { reason: null, deleted: [], reward: { updateId: f.liveRewardIds[0] ?? null, draft, amount } };
}
