// The parts of a WooCommerce order (REST API v3, `/wc/v3/orders/{id}`) we read, as zod schemas.
// A webhook body is that endpoint's object, so the same schema reads webhooks and the REST API.
// Objects are loose: plugins and newer WooCommerce versions add fields freely.
import { z } from 'zod';

/** Money is a decimal string in major units, formatted with the store's "Number of decimals". */
const decimal = z.string().trim().regex(/^-?\d+(\.\d+)?$/, 'a decimal string');
/** WooCommerce's `*_gmt` dates: `2025-07-21T13:14:09` (UTC, no zone designator). */
const date = z.string().nullish();

export const MetaData = z.looseObject({ id: z.number().int().optional(), key: z.string(), value: z.unknown() });

export const RefundEntry = z.looseObject({
  id: z.number().int().positive(),
  reason: z.string().nullish(),
  /** Negative: "-20.00". */
  total: decimal,
});
export type RefundEntry = z.infer<typeof RefundEntry>;

export const Order = z.looseObject({
  id: z.number().int().positive(),
  parent_id: z.number().int().nullish(),
  number: z.string().nullish(),
  order_key: z.string().nullish(),
  status: z.string().min(1).max(64),
  currency: z.string().regex(/^[A-Za-z]{3}$/, 'a three-letter currency code'),
  total: decimal,
  total_tax: decimal.nullish(),
  /** 0 for a guest checkout. */
  customer_id: z.number().int().nonnegative(),
  billing: z.looseObject({ email: z.string().nullish() }).nullish(),
  payment_method: z.string().nullish(),
  transaction_id: z.string().nullish(),
  meta_data: z.array(MetaData).default([]),
  line_items: z
    .array(z.looseObject({ product_id: z.number().int().nullish(), variation_id: z.number().int().nullish() }))
    .default([]),
  refunds: z.array(RefundEntry).default([]),
  /** The coupons the customer applied: `code` as typed (WooCommerce stores coupon codes lowercased). */
  coupon_lines: z.array(z.looseObject({ id: z.number().int().nullish(), code: z.string().nullish() })).default([]),
  date_created_gmt: date,
  date_modified_gmt: date,
  date_paid_gmt: date,
  date_completed_gmt: date,
});
export type Order = z.infer<typeof Order>;

/**
 * Whether a payload is an order at all, before reading it closely. Product, customer and coupon
 * deliveries also carry `id`, `status` or `date_modified_gmt`; only orders carry an `order_key` or
 * `line_items`.
 */
export function looksLikeOrder(value: unknown): value is { id: number; status: string } & Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === 'number' &&
    typeof v.status === 'string' &&
    (typeof v.order_key === 'string' || Array.isArray(v.line_items))
  );
}
