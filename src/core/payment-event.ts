// The common payment event: what every gateway adapter (and the REST API) produces and the worker
// consumes. This schema is the queue's contract: a job's data is parsed with it before any work.
import { z } from 'zod';

export const GATEWAYS = ['stripe', 'paddle', 'woocommerce', 'chargebee', 'api'] as const;
export const Gateway = z.enum(GATEWAYS);
export type Gateway = z.infer<typeof Gateway>;

/** Where a partner_key was found (or is still to be looked for): the documented places. */
export const PARTNER_KEY_PLACES = [
  'stripe_charge_metadata',
  'stripe_payment_intent_metadata',
  'stripe_invoice_metadata',
  'stripe_checkout_session_metadata',
  'stripe_subscription_metadata',
  'stripe_customer_metadata',
  'paddle_transaction_custom_data',
  'paddle_subscription_custom_data',
  'woocommerce_meta_data',
  'chargebee_cf_partnero_partner',
  'chargebee_cf_referral_code',
  'api_partner',
  'api_customer_partner',
  // a promotion code the payment used, owned by a partner: partner_key is that partner's key
  'coupon',
] as const;
export const PartnerKeyPlace = z.enum(PARTNER_KEY_PLACES);
export type PartnerKeyPlace = z.infer<typeof PartnerKeyPlace>;

/** Integer minor units as a digit string: JSON numbers lose precision past 2^53. */
export const MinorUnits = z.string().regex(/^\d{1,18}$/, 'integer minor units as a digit string');
const Id = z.string().min(1).max(255);

/**
 * An amount: integer minor units of an ISO 4217 currency, or (isCurrency false, from the REST API)
 * whole units of something else, such as points.
 */
export const Money = z
  .object({ minor: MinorUnits, currency: z.string().min(1).max(32), isCurrency: z.boolean().default(true) })
  .refine((m) => !m.isCurrency || /^[A-Za-z]{3}$/.test(m.currency), { message: 'an ISO 4217 code', path: ['currency'] })
  .transform((m) => (m.isCurrency ? { ...m, currency: m.currency.toUpperCase() } : m));
export type Money = z.infer<typeof Money>;

/** An object a payload only references by id. */
export const ObjectRef = z.object({
  gateway: Gateway,
  object: z.enum(['subscription', 'customer', 'transaction', 'payment_intent', 'invoice', 'order']),
  id: Id,
});
export type ObjectRef = z.infer<typeof ObjectRef>;

/** A referenced object where partner_key (or the payer's email) may live, and which place that is. */
export const Lookup = ObjectRef.extend({ place: PartnerKeyPlace });
export type Lookup = z.infer<typeof Lookup>;

/** A discount the payload names by id only: the enrich step reads its customer-facing code(s). */
export const CouponLookup = z.object({
  gateway: Gateway,
  object: z.enum(['promotion_code', 'invoice', 'discount']),
  id: Id,
});
export type CouponLookup = z.infer<typeof CouponLookup>;

/** A promotion code as a customer typed it (matched case-insensitively). */
export const CouponCode = z.string().trim().min(1).max(255);

const Base = z.object({
  gateway: Gateway,
  /** The gateway's event id: with program and gateway, the dedupe key of a delivery. */
  eventId: Id,
  eventType: z.string().min(1).max(255),
  occurredAt: z.iso.datetime({ offset: true }),
  livemode: z.boolean().optional(),
});

export const PaymentFact = Base.extend({
  kind: z.literal('payment'),
  /** Our transaction key: one real payment, one key, whichever event reports it. */
  transactionKey: Id,
  /** Other ids of the same payment (charge, invoice) under which later events may refer to it. */
  aliases: z.array(Id).max(10).default([]),
  amount: Money,
  tax: MinorUnits.optional(),
  action: z.string().min(1).max(64).default('sale'),
  /**
   * The payer. `key` names a stored customer directly (the REST API); `id` is the gateway's
   * customer id; `email` matches case-insensitively. A guest with none is keyed by the payment.
   */
  customer: z
    .object({
      key: Id.optional(),
      id: Id.optional(),
      email: z.string().max(320).optional(),
      // kept when the customer is created by this event
      name: z.string().max(255).optional(),
      surname: z.string().max(255).optional(),
    })
    .default({}),
  /** false: an unknown customer is not created (the REST API without options.create_customer). */
  createCustomer: z.boolean().default(true),
  /** false: record the sale, pay no commission. */
  rewardable: z.boolean().default(true),
  /** Rewards start held for review whatever the program says (sales reported by a browser). */
  holdForReview: z.boolean().default(false),
  /**
   * Reported through the public browser key, which anyone can read off the page: the payer is matched
   * by key only (never by email) and may not have the partner of an existing customer set or changed.
   */
  fromBrowser: z.boolean().default(false),
  /** Extra facts kept with the transaction (gross amount, discount code ...). */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  product: z.object({ id: Id.optional(), type: z.string().max(255).optional() }).optional(),
  partnerKey: z.object({ value: z.string().min(1).max(255), place: PartnerKeyPlace }).optional(),
  /** Ordered places still to look for the partner key (and a missing email). */
  lookups: z.array(Lookup).max(10).default([]),
  /**
   * An object that reveals the payment's canonical key when the payload does not carry it (a Stripe
   * invoice's PaymentIntent): the enrich step makes it the key and keeps the old one as an alias.
   */
  keyFrom: ObjectRef.optional(),
  /**
   * The promotion codes (and coupon ids) the payment used, in the gateway's order: one a partner owns
   * credits it when no partner key names a partner (core/attribution.ts). Optional: older jobs lack it.
   */
  coupons: z.array(CouponCode).max(20).optional(),
  /** Discounts named by id only: the enrich step adds their codes to `coupons`. */
  couponLookups: z.array(CouponLookup).max(10).optional(),
});
export type PaymentFact = z.infer<typeof PaymentFact>;

export const RefundFact = Base.extend({
  kind: z.literal('refund'),
  /** Keys under which the refunded payment may be stored (payment intent, charge, order ...). */
  paymentRefs: z.array(Id).min(1).max(10),
  /** The gateway's refund id: each refund is applied once. */
  refundId: Id,
  /** The amount of this refund; absent means "the whole payment". */
  amount: Money.optional(),
  /**
   * The amount is the payment's running refunded total (Stripe's `charge.amount_refunded`), not
   * one refund's: it never adds to refunds known by their own ids, it only raises the total.
   */
  cumulative: z.boolean().default(false),
  /**
   * The gateway took this refund back (failed, canceled, voided, deleted in the store): what it took
   * is restored. Jobs queued before the field existed parse as plain refunds.
   */
  reversed: z.boolean().default(false),
});
export type RefundFact = z.infer<typeof RefundFact>;

export const DisputeFact = Base.extend({
  kind: z.literal('dispute'),
  paymentRefs: z.array(Id).min(1).max(10),
  disputeId: Id,
  status: z.enum(['opened', 'won', 'lost']),
});
export type DisputeFact = z.infer<typeof DisputeFact>;

/**
 * The refunds a payment has now, as a store lists them on the order (WooCommerce's `refunds[]`): a
 * stored refund of this gateway whose id starts with `prefix`, seen before `occurredAt`, and not in
 * the list was deleted in the store, and is reversed. One seen later is newer than this list: kept.
 */
export const RefundsStandingFact = Base.extend({
  kind: z.literal('refunds_standing'),
  paymentRefs: z.array(Id).min(1).max(10),
  prefix: Id,
  refundIds: z.array(Id).max(100),
});
export type RefundsStandingFact = z.infer<typeof RefundsStandingFact>;

export const PaymentEvent = z.discriminatedUnion('kind', [PaymentFact, RefundFact, DisputeFact, RefundsStandingFact]);
export type PaymentEvent = z.infer<typeof PaymentEvent>;
/** What a producer may send: defaults not yet filled in. */
export type PaymentEventInput = z.input<typeof PaymentEvent>;

/** "Not a payment fact": a value, never an exception. */
export type Ignored = { kind: 'ignore'; reason: string };
export const ignored = (reason: string): Ignored => ({ kind: 'ignore', reason });
