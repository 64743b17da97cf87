// The parts of Stripe's event payloads we read, as zod schemas. Fields we do not read are accepted and
// dropped (Stripe adds fields freely; copying them all on every event was a measurable share of the
// receiver's time); both the 2024 (acacia and earlier) and the 2025-03-31.basil shapes must parse.
import { z } from 'zod';

const id = z.string().min(1).max(255);
const metadata = z.record(z.string(), z.string()).nullish();
const amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[a-zA-Z]{3}$/, 'a three-letter currency code');
/** An id, or the object when the merchant expanded it. */
const ref = z.union([id, z.object({ id })]).nullish();

export function refId(value: z.infer<typeof ref>): string | undefined {
  if (!value) return undefined;
  return typeof value === 'string' ? value : value.id;
}

export const Envelope = z.object({
  id,
  object: z.literal('event'),
  type: z.string().min(1).max(255),
  created: z.number().int(),
  livemode: z.boolean(),
  api_version: z.string().nullish(),
  data: z.object({ object: z.looseObject({ object: z.string() }), previous_attributes: z.record(z.string(), z.unknown()).nullish() }),
});
export type Envelope = z.infer<typeof Envelope>;

const price = z
  .looseObject({
    id: id.optional(),
    product: ref,
    recurring: z.object({ interval: z.string().nullish() }).nullish(),
  })
  .nullish();

const lines = z
  .looseObject({
    data: z.array(
      z.object({
        price,
        metadata,
        pricing: z.object({ price_details: z.object({ product: z.string().nullish() }).nullish() }).nullish(),
      }),
    ),
  })
  .nullish();

export const PaymentIntent = z.object({
  id,
  object: z.literal('payment_intent'),
  amount,
  amount_received: amount.nullish(),
  currency,
  customer: ref,
  receipt_email: z.string().nullish(),
  latest_charge: ref,
  invoice: ref, // up to 2025-02-24.acacia
  status: z.string(),
  metadata,
});

export const Charge = z.object({
  id,
  object: z.literal('charge'),
  amount,
  amount_captured: amount.nullish(),
  amount_refunded: amount.nullish(),
  currency,
  customer: ref,
  receipt_email: z.string().nullish(),
  billing_details: z.object({ email: z.string().nullish() }).nullish(),
  payment_intent: ref,
  invoice: ref, // up to 2025-02-24.acacia
  status: z.string(),
  paid: z.boolean().nullish(),
  refunded: z.boolean().nullish(),
  metadata,
});

/** A promotion code: its id, or the object (with the customer-facing `code`) when expanded. */
const promotionCode = z.union([id, z.looseObject({ id, code: z.string().max(255).nullish() })]).nullish();
/**
 * A Discount object: its coupon (`source.coupon` since 2025-09, `coupon` before) and the promotion
 * code the customer redeemed, if any.
 */
export const Discount = z.looseObject({
  id: id.nullish(),
  coupon: ref,
  source: z.looseObject({ coupon: ref }).nullish(),
  promotion_code: promotionCode,
});
export type Discount = z.infer<typeof Discount>;

const subscriptionDetails = z.object({ metadata, subscription: ref }).nullish();

export const Invoice = z.object({
  id,
  object: z.literal('invoice'),
  amount_paid: amount,
  currency,
  customer: ref,
  customer_email: z.string().nullish(),
  status: z.string().nullish(),
  metadata,
  // up to 2025-02-24.acacia
  subscription: ref,
  subscription_details: subscriptionDetails,
  charge: ref,
  payment_intent: ref,
  // 2025-03-31.basil and later
  parent: z.object({ subscription_details: subscriptionDetails }).nullish(),
  lines,
  // the discounts applied: ids unless expanded (`discounts`); the one Discount object up to 2024 (`discount`)
  discounts: z.array(z.union([id, Discount])).max(50).nullish(),
  discount: Discount.nullish(),
});

export const CheckoutSession = z.object({
  id,
  object: z.literal('checkout.session'),
  mode: z.string(),
  payment_status: z.string(),
  amount_total: amount.nullish(),
  currency: currency.nullish(),
  customer: ref,
  customer_email: z.string().nullish(),
  customer_details: z.object({ email: z.string().nullish() }).nullish(),
  payment_intent: ref,
  invoice: ref,
  subscription: ref,
  metadata,
  line_items: lines,
  // the coupons and promotion codes applied to the session
  discounts: z.array(z.looseObject({ coupon: ref, promotion_code: promotionCode })).max(50).nullish(),
  // only when expanded (`expand[]=total_details.breakdown`)
  total_details: z
    .looseObject({ breakdown: z.looseObject({ discounts: z.array(z.looseObject({ discount: Discount })).max(50).nullish() }).nullish() })
    .nullish(),
});

export const Refund = z.object({
  id,
  object: z.literal('refund'),
  amount,
  currency,
  charge: ref,
  payment_intent: ref,
  status: z.string().nullish(),
});

export const Dispute = z.object({
  id,
  object: z.literal('dispute'),
  amount,
  currency,
  charge: ref,
  payment_intent: ref,
  status: z.string(),
});
