// A transaction (and its rewards) as the REST API and the outbound webhooks show it, as Partnero's
// clients read it.
import { fromMinorUnits } from '../core/money.js';
import type { TransactionRow } from '../db/transaction-reads.js';

/**
 * Major units as a JSON number (Partnero's shape), from the exact decimal text, so no float drift.
 * A unit that is not money (points) counts in whole units.
 */
function major(minor: string, units: string, isCurrency: boolean): number {
  return Number(isCurrency ? fromMinorUnits(BigInt(minor), units) : minor);
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
    created_at: t.createdAt,
    archived_at: t.archivedAt,
    deleted_at: t.deletedAt,
    /** Why it was deleted: refunded, dispute_lost or deleted_via_api; and the refund or dispute that did. */
    deleted_reason: t.deletedAt ? t.deletedReason : null,
    deleted_by: t.deletedAt ? t.deletedBy : null,
    /** The refunds standing that reduce it (a refund the gateway took back leaves the list). */
    reduced_by: t.reducedBy ?? [],
    rewards: t.rewards.map((r) => ({
      key: r.key,
      action: r.action,
      // a deleted reward (its transaction deleted, or itself) is worth nothing: never `ok`
      status: r.deletedAt || t.deletedAt ? 'deleted' : r.status,
      customer: programType === 'refer_a_friend' ? r.earnerCustomerKey : t.customerKey,
      partner: r.partnerKey,
      amount: Number(r.amount),
      amount_units: r.units,
      is_currency: r.isCurrency,
      credit: false,
      review_ends_at: r.reviewEndsAt,
      /** Held in review until released or rejected (POST /v1/rewards/{key}/release|reject). */
      hold_reason: r.holdReason,
      /** The amount before a cap cut it (exact decimal text). */
      capped_from: r.cappedFrom,
      created_at: r.createdAt,
      archived_at: r.archivedAt,
      deleted_at: r.deletedAt,
      deleted_reason: r.deletedAt ? (r.deletedReason ?? t.deletedReason) : t.deletedAt ? t.deletedReason : null,
      deleted_by: (r.deletedAt || t.deletedAt) && (r.deletedReason ?? t.deletedReason) === t.deletedReason ? t.deletedBy : null,
      /** The refunds standing that reduce it, in proportion (its transaction's). */
      reduced_by: r.deletedAt ? [] : (t.reducedBy ?? []),
      product_type_data: t.productId || t.productType ? { product_id: t.productId, product_type: t.productType } : null,
    })),
    attribution: t.attribution,
  };
}
