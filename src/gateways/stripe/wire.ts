// The parts of Stripe's event payloads we read, as zod schemas. Objects are loose: Stripe adds fields
// freely, and both the 2024 (acacia and earlier) and the 2025-03-31.basil shapes must parse.
import { z } from 'zod';

const id = z.string().min(1).max(255);
const metadata = z.record(z.string(), z.string()).nullish();
const amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[a-zA-Z]{3}$/, 'a three-letter currency code');
/** An id, or the object when the merchant expanded it. */
const ref = z.union([id, z.looseObject({ id })]).nullish();

export function refId(value: z.infer<typeof ref>): string | undefined {
  if (!value) return undefined;
  return typeof value === 'string' ? value : value.id;
}

export const Envelope = z.looseObject({
  id,
  object: z.literal('event'),
  type: z.string().min(1).max(255),
  created: z.number().int(),
  livemode: z.boolean(),
  api_version: z.string().nullish(),
  data: z.looseObject({ object: z.looseObject({ object: z.string() }), previous_attributes: z.record(z.string(), z.unknown()).nullish() }),
});
export type Envelope = z.infer<typeof Envelope>;

const price = z
  .looseObject({
    id: id.optional(),
    product: ref,
    recurring: z.looseObject({ interval: z.string().nullish() }).nullish(),
  })
  .nullish();

const lines = z
  .looseObject({
    data: z.array(
      z.looseObject({
        price,
        metadata,
        pricing: z.looseObject({ price_details: z.looseObject({ product: z.string().nullish() }).nullish() }).nullish(),
      }),
    ),
  })
  .nullish();

export const PaymentIntent = z.looseObject({
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

export const Charge = z.looseObject({
  id,
  object: z.literal('charge'),
  amount,
  amount_captured: amount.nullish(),
  amount_refunded: amount.nullish(),
  currency,
  customer: ref,
  receipt_email: z.string().nullish(),
  billing_details: z.looseObject({ email: z.string().nullish() }).nullish(),
  payment_intent: ref,
  invoice: ref, // up to 2025-02-24.acacia
  status: z.string(),
  paid: z.boolean().nullish(),
  refunded: z.boolean().nullish(),
  metadata,
});

const subscriptionDetails = z.looseObject({ metadata, subscription: ref }).nullish();

export const Invoice = z.looseObject({
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
  parent: z.looseObject({ subscription_details: subscriptionDetails }).nullish(),
  lines,
});

export const CheckoutSession = z.looseObject({
  id,
  object: z.literal('checkout.session'),
  mode: z.string(),
  payment_status: z.string(),
  amount_total: amount.nullish(),
  currency: currency.nullish(),
  customer: ref,
  customer_email: z.string().nullish(),
  customer_details: z.looseObject({ email: z.string().nullish() }).nullish(),
  payment_intent: ref,
  invoice: ref,
  subscription: ref,
  metadata,
  line_items: lines,
});

export const Refund = z.looseObject({
  id,
  object: z.literal('refund'),
  amount,
  currency,
  charge: ref,
  payment_intent: ref,
  status: z.string().nullish(),
});

export const Dispute = z.looseObject({
  id,
  object: z.literal('dispute'),
  amount,
  currency,
  charge: ref,
  payment_intent: ref,
  status: z.string(),
});
