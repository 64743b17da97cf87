// Refunds are deletes: the arithmetic of taking a payment (and its rewards) back. Pure.
import { decimal, decimalText, shareOf, unitOrCurrency } from './money.js';

export type RefundEffect = {
  /** The payment's refunded total after this refund, capped at the payment's amount. */
  refundedMinor: bigint;
  /** Whether the payment is now refunded in full: the transaction and its rewards are deleted. */
  full: boolean;
};

/** A refund of `refundMinor` (null: the whole payment) on a payment already refunded by `refundedMinor`. */
export function applyRefund(amountMinor: bigint, refundedMinor: bigint, refundMinor: bigint | null): RefundEffect {
  const total = refundMinor === null ? amountMinor : refundedMinor + refundMinor;
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
