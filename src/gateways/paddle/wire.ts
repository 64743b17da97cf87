// The parts of Paddle Billing notifications we read, as zod schemas. Objects are loose: Paddle adds
// fields freely. Field names follow the wire (snake_case), as in the SDK's `I…NotificationResponse` types.
import { z } from 'zod';

const id = z.string().min(1).max(255);
/** Paddle sends every amount as a string of integer minor units ("2880" is £28.80). */
const minor = z.string().regex(/^\d{1,18}$/, 'integer minor units as a digit string');
const currency = z.string().regex(/^[A-Za-z]{3}$/, 'a three-letter currency code');
/** Merchant-defined JSON, an object or null. */
const customData = z.record(z.string(), z.unknown()).nullish();

/** The notification envelope every Paddle webhook carries. */
export const Envelope = z.looseObject({
  event_id: id,
  event_type: z.string().min(1).max(255),
  occurred_at: z.iso.datetime({ offset: true }),
  notification_id: id.nullish(),
  data: z.looseObject({}),
});
export type Envelope = z.infer<typeof Envelope>;

const price = z
  .looseObject({
    product_id: id.nullish(),
    // null for one-time prices
    billing_cycle: z.looseObject({ interval: z.string().min(1).max(255) }).nullish(),
  })
  .nullish();

export const Transaction = z.looseObject({
  id,
  status: z.string(),
  origin: z.string().nullish(),
  customer_id: id.nullish(),
  subscription_id: id.nullish(),
  currency_code: currency,
  custom_data: customData,
  items: z.array(z.looseObject({ price })).default([]),
  details: z.looseObject({
    totals: z.looseObject({
      grand_total: minor,
      tax: minor.nullish(),
      currency_code: currency.nullish(),
    }),
    line_items: z.array(z.looseObject({ product: z.looseObject({ id: id.nullish() }).nullish() })).nullish(),
  }),
  /** The discount applied: its customer-facing code is read through the API (notifications carry the id). */
  discount_id: id.nullish(),
  // only on a transaction fetched with `include=discount`
  discount: z.looseObject({ code: z.string().max(255).nullish() }).nullish(),
  // only on a transaction fetched with `include=customer`; notifications carry just customer_id
  customer: z.looseObject({ email: z.string().max(320).nullish() }).nullish(),
});
export type Transaction = z.infer<typeof Transaction>;

export const Adjustment = z.looseObject({
  id,
  action: z.string(),
  // `full` or `partial`; adjustments made before Paddle added the field have none
  type: z.string().nullish(),
  status: z.string(),
  transaction_id: id,
  subscription_id: id.nullish(),
  customer_id: id.nullish(),
  currency_code: currency,
  totals: z.looseObject({ total: minor, currency_code: currency.nullish() }).nullish(),
});
export type Adjustment = z.infer<typeof Adjustment>;
