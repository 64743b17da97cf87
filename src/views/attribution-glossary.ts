// Every value a transaction's `attribution` may carry, with what it means: the OpenAPI document's
// enums come from here, and docs/api.md's glossary says the same (a test holds them together). Each
// table is keyed by its type's union, so a value added to the rules without a meaning does not compile.
import type { AttributionExplanation, CustomerMatch, DecidedBy } from '../core/attribution.js';
import type { NoRewardReason } from '../core/commission.js';
import type { PartnerKeyPlace } from '../core/payment-event.js';
import type { LookupTrace } from '../core/plan.js';

type Fallback = NonNullable<AttributionExplanation['fallback']>;
type Match = CustomerMatch | AttributionExplanation['customer_match'];

export const REWARD_REASONS: Record<NoRewardReason, string> = {
  no_partner: 'nobody is credited: no partner key, a key naming no partner, and no stored link',
  partner_archived: 'the credited partner (or referring customer) is archived: the sale is recorded and earns nothing until it is restored (revoke-archive)',
  customer_archived: 'the paying customer is archived: the sale is recorded and earns its partner nothing until the customer is restored (revoke-archive)',
  not_rewardable: 'the transaction was sent with rewardable: false',
  lifetime_first_only: "the program rewards a customer's first payment only",
  lifetime_expired: "the program rewards N months from the customer's first payment, and this one is later",
  zero_amount: 'the payment, or the reward computed from it, is zero',
  capped: "a cap of the program or the partner (max_per_customer, max_per_partner_per_month) left nothing of the reward",
};

export const FALLBACKS: Record<Fallback, string> = {
  no_partner_key: "no partner key: the customer's own link decided",
  unknown_partner_key: "the key names no partner of this program: the customer's own link decided",
  browser_reported: 'a browser-reported key never applies to a customer that exists',
};

/** Which step decided who is credited (docs/attribution.md: the precedence, per gateway). */
export const DECIDED_BY: Record<DecidedBy, string> = {
  partner_key: 'the partner key the payment (or request) named credited its partner',
  coupon: "a promotion code the payment used is a partner's: that partner is credited",
  referral_link: "the payer's link, made when it signed up through po.js after a visit through a partner's referral link (rewards start in review)",
  customer_link: "the payer's stored link, made by an earlier payment, the API or the merchant",
  none: 'nobody is credited',
};

export const CUSTOMER_MATCHES: Record<Match, string> = {
  key: "the customer key the request or payment named (Stripe metadata.customer_key, Paddle custom_data.customer_key), or a customer created without a gateway (po.js signup, the API) under the gateway's customer id as its key",
  gateway_id: "the gateway's customer id",
  email: "the payer's email, case-insensitive",
  per_partner_record: "the transaction-based record {customer_key}__pkey_{partner_key} (a gateway's customer: {gateway}_{customer_id}__pkey_{partner_key}, e.g. stripe_cus_123__pkey_PARTNER_A; one made under the older name cus_123__pkey_PARTNER_A is found too)",
  created: 'none was found: one was created, linked to the partner the key names',
  none: 'none was found and none was created',
};

export const LOOKUP_RESULTS: Record<LookupTrace['result'], string> = {
  found: 'the object carried the partner key',
  no_key: 'the object carried no partner key',
  not_found: 'the gateway answered that the object does not exist',
  not_configured: "the gateway's API access is not set for the program",
};

export const PARTNER_KEY_PLACE_VALUES: Record<PartnerKeyPlace, true> = {
  stripe_charge_metadata: true,
  stripe_payment_intent_metadata: true,
  stripe_invoice_metadata: true,
  stripe_checkout_session_metadata: true,
  stripe_subscription_metadata: true,
  stripe_customer_metadata: true,
  paddle_transaction_custom_data: true,
  paddle_subscription_custom_data: true,
  woocommerce_meta_data: true,
  chargebee_cf_partnero_partner: true,
  chargebee_cf_referral_code: true,
  api_partner: true,
  api_customer_partner: true,
  coupon: true,
};

const described = (table: Record<string, string>) =>
  Object.entries(table)
    .map(([v, d]) => `\`${v}\`: ${d}`)
    .join('; ');

/** The `attribution` object's JSON schema, for the OpenAPI document. */
export const ATTRIBUTION_SCHEMA = {
  type: 'object',
  description: 'how it was attributed, and why no reward was made when none was (docs/api.md: the attribution glossary)',
  properties: {
    model: { enum: ['customer', 'transaction'], description: "the program's attribution model when the payment was booked" },
    path: { enum: ['customer', 'transaction'], description: '`transaction`: the named partner key credited this payment through a per-partner record; `customer`: the payer\'s record decided' },
    partner_key: { type: ['string', 'null'], description: 'the partner key the payment named, after the gateway lookups (docs/attribution.md: where each gateway carries it)' },
    partner_key_place: { enum: [...Object.keys(PARTNER_KEY_PLACE_VALUES), null], description: 'where partner_key was found' },
    customer_match: { enum: Object.keys(CUSTOMER_MATCHES), description: described(CUSTOMER_MATCHES) },
    fallback: { enum: [...Object.keys(FALLBACKS), null], description: described(FALLBACKS) },
    ignored_partner_key: { type: ['string', 'null'], description: 'a key the payment named that did not decide: it names nobody, an existing link outranks it, or a browser reported it for a customer that exists' },
    credited: { type: ['object', 'null'], properties: { kind: { enum: ['partner', 'customer'] }, key: { type: 'string' } } },
    decided_by: { enum: Object.keys(DECIDED_BY), description: `which step decided (absent on transactions booked before it was recorded): ${described(DECIDED_BY)}` },
    coupon: { type: ['string', 'null'], description: 'the promotion code the payment used that a partner owns (whether or not it decided), or null' },
    lookups: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          place: { type: 'string', description: 'a partner_key_place value, payment_key, or coupon (a discount read for its code)' },
          id: { type: 'string' },
          result: { enum: Object.keys(LOOKUP_RESULTS), description: described(LOOKUP_RESULTS) },
        },
      },
    },
    reward_reason: { enum: [...Object.keys(REWARD_REASONS), null], description: `null: a reward was made; ${described(REWARD_REASONS)}` },
    event_id: { type: 'string', description: "the gateway's event (or the API request) that booked it" },
    event_type: { type: 'string', description: 'its type, e.g. payment_intent.succeeded, api.transactions.create, js.transactions.create' },
    reattributed_at: {
      type: 'string',
      format: 'date-time',
      description: 'set when a payment booked to nobody (its partner key named no partner yet, or its lookup was not configured) was credited later by `reattribute`; absent otherwise',
    },
    lookups_redone_at: { type: 'string', format: 'date-time', description: 'when `reattribute --lookups` did the `not_configured` lookups again; absent otherwise' },
  },
} as const;
