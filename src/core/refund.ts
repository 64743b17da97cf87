// Refunds are deletes: the arithmetic of taking a payment (and its rewards) back. Pure.
import { decimal, decimalText, shareOf, unitOrCurrency } from './money.js';

export type RefundEffect = {
  /** The payment's refunded total after this refund, capped at the payment's amount. */
  refundedMinor: bigint;
  /** Whether the payment is now refunded in full: the transaction and its rewards are deleted. */
  full: boolean;
};

export type KnownRefund = {
  /** null: the whole payment. */
  amountMinor: bigint | null;
  /** The amount is a running total of the payment's refunds, not one refund. */
  cumulative: boolean;
  /** The gateway took it back: it counts for nothing, and lowers running totals reported with it. */
  reversed?: boolean;
};

/**
 * A payment's refunded total from every refund known for it, whatever order they came in.
 * Refunds known by their own ids add up; running totals (Stripe's `charge.refunded`) report the same
 * money again, so the total is the larger of the two, never their sum. Capped at the payment.
 */
export function refundedTotal(amountMinor: bigint, known: KnownRefund[]): RefundEffect {
  let byId = 0n;
  let running = 0n;
  // a running total reported while a refund stood counted that refund too: a reversal lowers it
  let reversed = 0n;
  for (const r of known) {
    if (r.reversed) {
      if (!r.cumulative) reversed += r.amountMinor ?? amountMinor;
      continue;
    }
    if (r.amountMinor === null) return { refundedMinor: amountMinor, full: true };
    if (r.cumulative) running = r.amountMinor > running ? r.amountMinor : running;
    else byId += r.amountMinor;
  }
  running = running > reversed ? running - reversed : 0n;
  const total = byId > running ? byId : running;
  const capped = total > amountMinor ? amountMinor : total;
  return { refundedMinor: capped, full: capped >= amountMinor };
}

/** A reward reduced in proportion to the part of the payment still kept; computed from the original. */
export function reducedReward(
  original: { amount: string; units: string; isCurrency: boolean },
  amountMinor: bigint,
  refundedMinor: bigint,
): string {
  const value = decimal(original.amount, unitOrCurrency(original.units, original.isCurrency));
  return decimalText(shareOf(value, amountMinor - refundedMinor, amountMinor));
}
