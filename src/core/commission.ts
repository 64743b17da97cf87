// The commission for one payment: which rate applies, how much it is, and whether it is held for
// review. Pure: no I/O, no clock (the caller passes `now`), exact decimals only (never a float).
import {
  type Currency,
  type Decimal,
  currency,
  decimal,
  decimalText,
  isZero,
  minorToDecimal,
  percentOf,
  unit,
  unitOrCurrency,
} from './money.js';
import type { CommissionRate, CommissionRule, Lifetime, ProgramRules } from './program.js';

export type CommissionInput = {
  /** The payment: integer minor units of an ISO 4217 currency, or whole units of a non-currency unit. */
  amount: { minor: bigint; currency: string; isCurrency?: boolean };
  product?: { id?: string; type?: string };
  /** Key of the partner being credited (null = nobody). */
  partnerKey: string | null;
  /** When the payment happened. */
  occurredAt: Date;
  /** The customer's earliest earlier payment; null = this is the first. */
  customerFirstPaymentAt: Date | null;
  /** The credited partner (or referring customer) is archived: the sale is recorded, pays nothing. */
  partnerArchived?: boolean;
  /** The paying customer is archived: likewise. */
  customerArchived?: boolean;
  /** false = record the sale, pay nothing (default true). */
  rewardable?: boolean;
  /** Start the reward in review even when the program has no review period (untrusted sources). */
  holdForReview?: boolean;
  /** Injected clock. */
  now: Date;
};

export type RewardDraft = {
  /** Exact decimal text, no float ever: "29.997", "5", "0.5". */
  amount: string;
  /** Currency code (ISO 4217, upper-case) or the program's non-currency unit name. */
  units: string;
  isCurrency: boolean;
  status: 'ok' | 'review_period';
  /** occurredAt + reviewPeriodDays (null when the program has no review period). */
  reviewEndsAt: Date | null;
  /** The rate applied; `rule` is the index in `commission.rules`, or 'default'. */
  basis: { type: 'percent' | 'fixed'; value: string; rule: 'default' | number };
  /** Held in review until the merchant releases or rejects it (core/limits.ts). */
  holdReason?: 'self_referral' | 'refund_rate' | null;
  /** The amount before a cap cut it. */
  cappedFrom?: string | null;
};

export type NoRewardReason =
  | 'no_partner'
  | 'partner_archived'
  | 'customer_archived'
  | 'not_rewardable'
  | 'lifetime_first_only'
  | 'lifetime_expired'
  | 'zero_amount'
  /** A cap (per customer, per partner and month) left nothing of it (core/limits.ts). */
  | 'capped';

export type CommissionResult =
  | { rewards: [RewardDraft]; reason: null }
  | { rewards: []; reason: NoRewardReason };

const DAY_MS = 86_400_000;
/** The review a held reward gets at least, when the program itself has none. */
export const HELD_REVIEW_DAYS = 30;

/**
 * Compute the reward for one payment under a program's rules.
 *
 * Order of checks: nobody to credit (`no_partner`), the credited partner or the paying customer
 * archived (`partner_archived`, `customer_archived`), sale not rewardable (`not_rewardable`),
 * nothing paid (`zero_amount`), outside the program's lifetime (`lifetime_first_only`,
 * `lifetime_expired`). A rate that works out to zero (a "0%" rule) is also `zero_amount`.
 *
 * Currencies are resolved first, so an unknown code throws MoneyError whatever the outcome.
 */
export function computeCommission(program: ProgramRules, input: CommissionInput): CommissionResult {
  const paymentIsCurrency = input.amount.isCurrency !== false;
  const paymentCurrency = paymentIsCurrency ? currency(input.amount.currency) : unit(input.amount.currency);
  const programUnit = unitOrCurrency(program.currency, program.isCurrency);

  if (input.partnerKey === null) return none('no_partner');
  if (input.partnerArchived) return none('partner_archived');
  if (input.customerArchived) return none('customer_archived');
  if (input.rewardable === false) return none('not_rewardable');
  if (input.amount.minor === 0n) return none('zero_amount');

  const outside = lifetimeRefusal(program.commission.lifetime, input);
  if (outside) return none(outside);

  const { rate, rule } = selectRate(program.commission, input.product, input.partnerKey);
  // a percentage is paid in the payment's own units, unless a non-monetary program converts money to its unit
  const inPaymentUnits = rate.type === 'percent' && (program.isCurrency || !paymentIsCurrency);
  const reward = rewardValue(rate, input.amount.minor, paymentCurrency, programUnit, inPaymentUnits);
  if (isZero(reward)) return none('zero_amount');

  const reviewDays = input.holdForReview ? Math.max(program.reviewPeriodDays, HELD_REVIEW_DAYS) : program.reviewPeriodDays;
  const reviewEndsAt = reviewDays > 0 ? new Date(input.occurredAt.getTime() + reviewDays * DAY_MS) : null;
  const status = reviewEndsAt !== null && reviewEndsAt.getTime() > input.now.getTime() ? 'review_period' : 'ok';

  return {
    rewards: [
      {
        amount: decimalText(reward),
        units: inPaymentUnits ? paymentCurrency.code : programUnit.code,
        isCurrency: inPaymentUnits ? paymentIsCurrency : program.isCurrency,
        status,
        reviewEndsAt,
        basis: { type: rate.type, value: rate.value, rule },
      },
    ],
    reason: null,
  };
}

function none(reason: NoRewardReason): CommissionResult {
  return { rewards: [], reason };
}

/**
 * Rate selection. `commission` itself is the default rate; `commission.rules` override it.
 * A rule matches when every field it names equals the input's: product_id and product_type against
 * the payment's product, partner against the credited partner's key. The most specific matching rule
 * wins, scored partner = 4, product_id = 2, product_type = 1 (summed); a tie goes to the rule listed
 * first.
 */
export function selectRate(
  commission: CommissionRate & { rules: CommissionRule[] },
  product: CommissionInput['product'],
  partnerKey: string | null,
): { rate: CommissionRate; rule: 'default' | number } {
  let best: { rate: CommissionRate; rule: 'default' | number } = {
    rate: { type: commission.type, value: commission.value },
    rule: 'default',
  };
  let bestScore = 0;
  commission.rules.forEach((r, index) => {
    if (r.partner !== undefined && r.partner !== partnerKey) return;
    if (r.product_id !== undefined && r.product_id !== product?.id) return;
    if (r.product_type !== undefined && r.product_type !== product?.type) return;
    const score =
      (r.partner !== undefined ? 4 : 0) + (r.product_id !== undefined ? 2 : 0) + (r.product_type !== undefined ? 1 : 0);
    // Strictly greater: on a tie the earlier rule stays.
    if (score > bestScore) {
      best = { rate: { type: r.type, value: r.value }, rule: index };
      bestScore = score;
    }
  });
  return best;
}

/**
 * percent: the payment × value / 100, in the payment's own units (or, for a non-monetary program paid
 * in money, in the program's unit, computed on the payment in major units). fixed: the value, in the
 * program's currency or unit, whatever the payment's.
 */
function rewardValue(
  rate: CommissionRate,
  minor: bigint,
  paymentCurrency: Currency,
  programUnit: Currency,
  inPaymentUnits: boolean,
): Decimal {
  if (rate.type === 'fixed') {
    return decimal(rate.value, programUnit);
  }
  const paid = minorToDecimal(minor, paymentCurrency);
  const base = inPaymentUnits ? paid : decimal(decimalText(paid), unit(programUnit.code));
  return percentOf(base, rate.value);
}

/** Why the program's lifetime refuses this payment, or null when it is inside. */
function lifetimeRefusal(lifetime: Lifetime, input: CommissionInput): NoRewardReason | null {
  switch (lifetime.kind) {
    case 'all':
      return null;
    case 'first':
      return input.customerFirstPaymentAt === null ? null : 'lifetime_first_only';
    case 'months': {
      const end = addMonthsUTC(input.customerFirstPaymentAt ?? input.occurredAt, lifetime.months);
      return input.occurredAt.getTime() <= end.getTime() ? null : 'lifetime_expired';
    }
  }
}

/** Calendar months in UTC, the day clamped to the target month: Jan 31 + 1 month = Feb 28 (29). */
export function addMonthsUTC(date: Date, months: number): Date {
  const total = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  // setUTCFullYear rather than Date.UTC, which maps years 0–99 to 1900–1999.
  const result = new Date(0);
  result.setUTCFullYear(year, month + 1, 0); // day 0 of the next month: the target month's last day
  const lastDay = result.getUTCDate();
  result.setUTCFullYear(year, month, Math.min(date.getUTCDate(), lastDay));
  result.setUTCHours(date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds());
  return result;
}
