// The parts of Chargebee's (API v2) webhook events we read, as zod schemas. Objects are loose:
// Chargebee adds attributes freely, and custom fields are top-level `cf_*` keys on a resource.
import { z } from 'zod';

const id = z.string().min(1).max(255);
/** Chargebee's integer amounts ("in cents"): whole units for zero-decimal currencies, else hundredths. */
const amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[a-zA-Z]{3}$/, 'a three-letter currency code');

/** The event envelope: what verification needs and what every event carries. */
export const Envelope = z.looseObject({
  id,
  // unix seconds, up to the year 9999 (a larger number is not a date)
  occurred_at: z.number().int().nonnegative().max(253_402_300_799),
  event_type: z.string().min(1).max(255),
  api_version: z.string().nullish(),
  content: z.looseObject({}),
});
export type Envelope = z.infer<typeof Envelope>;

export const Transaction = z.looseObject({
  id,
  /** authorization | payment | refund | payment_reversal */
  type: z.string(),
  /** in_progress | success | voided | failure | timeout | needs_attention | late_failure */
  status: z.string().nullish(),
  amount: amount.nullish(),
  currency_code: currency,
  customer_id: id.nullish(),
  subscription_id: id.nullish(),
  /** A refund: the payment transaction it refunds. */
  refunded_txn_id: id.nullish(),
  /** A refund or reversal of an offline transaction: the transaction it refers to. */
  reference_transaction_id: id.nullish(),
  linked_invoices: z
    .array(z.looseObject({ invoice_id: id, applied_amount: amount.nullish(), invoice_total: amount.nullish() }))
    .nullish(),
  linked_credit_notes: z.array(z.looseObject({ cn_id: id, cn_reference_invoice_id: id.nullish() })).nullish(),
});
export type Transaction = z.infer<typeof Transaction>;

export const Invoice = z.looseObject({
  id,
  currency_code: currency.nullish(),
  total: amount.nullish(),
  tax: amount.nullish(),
  subscription_id: id.nullish(),
  line_items: z.array(z.looseObject({ entity_id: id.nullish(), entity_type: z.string().max(255).nullish() })).nullish(),
  linked_payments: z.array(z.looseObject({ txn_id: id })).nullish(),
  /** Invoice-level discounts: a coupon's id in `entity_id`, the code typed from a coupon set in `coupon_set_code`. */
  discounts: z
    .array(z.looseObject({ entity_type: z.string().max(64).nullish(), entity_id: id.nullish(), coupon_set_code: z.string().max(255).nullish() }))
    .nullish(),
  line_item_discounts: z
    .array(z.looseObject({ discount_type: z.string().max(64).nullish(), coupon_id: id.nullish(), entity_id: id.nullish() }))
    .nullish(),
});
export type Invoice = z.infer<typeof Invoice>;

/** A custom field's value: text (numbers kept as their text); anything else is not a key. */
const customField = z.unknown().optional().transform((v) => {
  const text = typeof v === 'string' ? v.trim() : typeof v === 'number' && Number.isFinite(v) ? String(v) : '';
  return text && text.length <= 255 ? text : undefined;
});

export const Customer = z.looseObject({
  id,
  email: z.string().max(320).nullish(),
  cf_partnero_partner: customField,
  cf_referral_code: customField,
});
export type Customer = z.infer<typeof Customer>;

/** A subscription's coupons (`coupon_id`, and `coupon_code` when it came from a coupon set). */
export const Subscription = z.looseObject({
  id,
  coupons: z.array(z.looseObject({ coupon_id: id.nullish(), coupon_code: z.string().max(255).nullish() })).nullish(),
});
export type Subscription = z.infer<typeof Subscription>;

export const CreditNote = z.looseObject({ id, reference_invoice_id: id.nullish() });
