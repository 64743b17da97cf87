// The REST API's shapes, as Partnero's clients read them.
import { fromMinorUnits, unit, minorToDecimal, decimalText } from '../../core/money.js';
import type { TransactionRow } from '../../db/transaction-reads.js';
import { timestamp } from './respond.js';

/** Major units as a JSON number (Partnero's shape); the text of an exact decimal, so no float drift. */
function major(minor: bigint, units: string, isCurrency: boolean): number {
  const text = isCurrency ? fromMinorUnits(minor, units) : decimalText(minorToDecimal(minor, unit(units)));
  return Number(text);
}

export function transactionView(t: TransactionRow, programType: 'affiliate' | 'refer_a_friend') {
  const details = (t.details ?? {}) as Record<string, unknown>;
  const { request_hash: _hash, ...extra } = details;
  const referring = t.rewards.find((r) => r.earnerCustomerKey)?.earnerCustomerKey ?? null;
  const parties =
    programType === 'refer_a_friend'
      ? { customer: referring, referred_customer: t.customerKey }
      : { partner: t.partnerKey, customer: t.customerKey };
  return {
    key: t.key,
    action: t.action,
    amount: major(t.amountMinor, t.currency, t.isCurrency),
    amount_units: t.currency,
    ...parties,
    credit: false,
    is_currency: t.isCurrency,
    refunded_amount: major(t.refundedMinor, t.currency, t.isCurrency),
    product_id: t.productId,
    product_type: t.productType,
    gateway: t.gateway,
    ...extra,
    created_at: timestamp(t.createdAt),
    archived_at: timestamp(t.archivedAt),
    deleted_at: timestamp(t.deletedAt),
    rewards: t.rewards.map((r) => ({
      key: r.key,
      action: r.action,
      status: r.status,
      customer: programType === 'refer_a_friend' ? r.earnerCustomerKey : t.customerKey,
      partner: r.partnerKey,
      amount: Number(r.amount),
      amount_units: r.units,
      is_currency: r.isCurrency,
      credit: false,
      review_ends_at: timestamp(r.reviewEndsAt),
      created_at: timestamp(r.createdAt),
      archived_at: timestamp(r.archivedAt),
      deleted_at: timestamp(r.deletedAt),
      product_type_data: t.productId || t.productType ? { product_id: t.productId, product_type: t.productType } : null,
    })),
    attribution: t.attribution,
  };
}
