// What a re-attribution decided (POST /v1/partners/{key}/reattribute, `reattribute` on the CLI): one
// entry a payment that named the partner while it did not exist, and a summary.
import { fromMinorUnits } from '../core/money.js';
import type { ReattributionItem } from '../core/reattribute.js';
import { timestamp } from './time.js';

const major = (minor: bigint, units: string, isCurrency: boolean) => Number(isCurrency ? fromMinorUnits(minor, units) : minor.toString());

export function reattributionPaymentView(item: ReattributionItem, dryRun: boolean) {
  const p = item.payment;
  const r = item.reward;
  return {
    transaction_key: p.key,
    gateway: p.gateway,
    created_at: timestamp(p.occurredAt),
    amount: major(p.amountMinor, p.currency, p.isCurrency),
    amount_units: p.currency,
    refunded_amount: major(p.refundedMinor, p.currency, p.isCurrency),
    customer: item.customerKey,
    /** credited (a dry run: would_credit), or skipped with its reason. */
    result: item.result === 'credited' ? (dryRun ? 'would_credit' : 'credited') : 'skipped',
    /** skipped: why; credited without a reward: why none (lifetime_expired, capped ...). */
    reason: item.reason,
    reward: r
      ? {
          amount: Number(r.keptAmount),
          amount_units: r.units,
          is_currency: r.isCurrency,
          status: r.status,
          hold_reason: r.holdReason ?? null,
          capped_from: r.cappedFrom ?? null,
        }
      : null,
  };
}

/** Per unit, the rewards' total as exact decimal text (summed by the caller's money helpers). */
export function reattributionView(partnerKey: string, dryRun: boolean, items: ReattributionItem[], totals: Record<string, string>) {
  const credited = items.filter((i) => i.result === 'credited');
  return {
    partner: partnerKey,
    dry_run: dryRun,
    payments: items.map((i) => reattributionPaymentView(i, dryRun)),
    summary: {
      listed: items.length,
      credited: credited.length,
      rewarded: credited.filter((i) => i.reward).length,
      skipped: items.length - credited.length,
      rewards: totals,
    },
  };
}
