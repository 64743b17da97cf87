// The OpenAPI 3.1 document, generated from the same zod schemas that validate requests, and a
// browsable reference page (swagger-ui, its assets served from the package: no CDN).
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import { z } from 'zod';
import { CreateApiKey, ListQuery as ApiKeysQuery } from './api-keys.js';
import { BulkItem } from '../../views/bulk.js';
import { BulkRequest } from './bulk.js';
import { CreateCustomer, ListQuery as CustomersQuery, SearchQuery as CustomersSearch, UpdateCustomer } from './customers.js';
import { CreatePartner, ListQuery as PartnersQuery, ManualRewardBody, ReattributeBody, RewardsQuery, SearchQuery as PartnersSearch, UpdatePartner } from './partners.js';
import { CreatePayoutRequest, ListPayoutRequests, MarkAsPaid } from './payouts.js';
import { PatchProgram } from './program.js';
import { BrowserSignup, BrowserVisit } from './js-tracking.js';
import { UNSUPPORTED } from './unsupported.js';
import { CreateReferralLink, ReferralLinksQuery, ReferralLinksSearch, UpdateReferralLink } from './referral-links.js';
import { CouponsQuery, CreateCoupon, CreatePartnerCoupon, CreatePromotionCode, PromotionCodesQuery, UpdateCoupon, UpdatePromotionCode } from './coupons.js';
import { CreateTransaction, ListQuery } from './transactions.js';
import { CreateWebhook, DeliveriesQuery, ListQuery as WebhooksQuery, UpdateWebhook } from './webhooks.js';
import { NEVER_EMITTED, OUTBOUND_EVENTS } from '../../db/outbox.js';
import { ATTRIBUTION_SCHEMA } from '../../views/attribution-glossary.js';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });

const ErrorEnvelope = {
  type: 'object',
  required: ['status', 'message', 'error'],
  properties: {
    status: { const: 0 },
    message: { type: 'string', description: 'the same as error.message, where Laravel clients (Partnero\'s PHP SDK) read it' },
    errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, description: 'Laravel\'s form of error.fields: each invalid field and why, as a list' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable: validation_failed, unauthorized, invalid_api_key, not_found, duplicate_key, unknown_partner, payload_too_large, too_many_items, invalid_json, invalid_characters ...' },
        message: { type: 'string' },
        fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'each invalid field and why' },
      },
    },
  },
};

const Reward = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    action: { type: 'string' },
    status: { enum: ['ok', 'review_period', 'rejected', 'deleted'], description: 'deleted: the reward or its transaction is deleted (see deleted_reason); it counts in no balance' },
    customer: { type: ['string', 'null'] },
    partner: { type: ['string', 'null'] },
    amount: { type: 'number', description: 'exact decimal, e.g. 29.997' },
    amount_units: { type: 'string' },
    is_currency: { type: 'boolean' },
    credit: { type: 'boolean' },
    review_ends_at: { type: ['string', 'null'], format: 'date-time' },
    hold_reason: {
      enum: ['self_referral', 'refund_rate', null],
      description: "held in review with no end until POST /v1/rewards/{key}/release or /reject: the payer's email is the partner's own (self_referral), or the partner's refunded share passed the program's fraud.refund_rate_hold (refund_rate)",
    },
    capped_from: { type: ['string', 'null'], description: 'the amount (exact decimal) before a cap (caps.max_per_customer, caps.max_per_partner_per_month) cut it' },
    created_at: { type: 'string', format: 'date-time' },
    archived_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_reason: {
      enum: ['refunded', 'dispute_lost', 'deleted_via_api', 'amount_corrected', null],
      description: 'why it was deleted: a refund took the whole payment (refunded), a dispute was lost (dispute_lost), DELETE /v1/transactions/{key} (deleted_via_api), or a bulk correction of its transaction\'s amount that earns nothing (amount_corrected); null while it stands. A reversal (a refund the gateway took back, a dispute won after it was lost) restores it',
    },
    deleted_by: { type: ['string', 'null'], description: "the gateway's refund or dispute id that deleted it (its transaction's); null for an API delete" },
    reduced_by: { type: 'array', items: { type: 'string' }, description: "the gateway ids of the refunds standing that reduce it in proportion (a Stripe running total reads `ch_…@amount`); empty when whole" },
    product_type_data: { type: ['object', 'null'] },
  },
};

const PartnerReward = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    kind: { enum: ['commission', 'manual'], description: 'commission: computed from a transaction; manual: credited by hand (POST /v1/partners/{key}/reward)' },
    action: { type: 'string', description: "the transaction's action, or `manual`" },
    status: { enum: ['ok', 'review_period', 'rejected', 'deleted'] },
    partner: { type: 'string' },
    transaction: { type: ['string', 'null'], description: "the transaction's key; null for a manual reward" },
    amount: { type: 'number', description: 'exact decimal, e.g. 29.997' },
    amount_units: { type: 'string' },
    is_currency: { type: 'boolean' },
    note: { type: ['string', 'null'] },
    review_ends_at: { type: ['string', 'null'], format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    archived_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_reason: { enum: ['refunded', 'dispute_lost', 'deleted_via_api', 'amount_corrected', null] },
  },
};

const Coupon = {
  type: 'object',
  description: "Partnero's coupon: the discount rule promotion codes point to. Kept and shown for Partnero's clients; the gateway applies the discount",
  properties: {
    name: { type: 'string' },
    uuid_code: { type: 'string', description: 'unique in the program, whatever its case; paths take it' },
    active: { type: 'boolean' },
    coupon_discount_type: { enum: ['percent', 'static'] },
    coupon_discount_amount: { type: 'number' },
    coupon_duration_type: { enum: ['once', 'hours', 'days', 'months', 'years', 'lifetime'] },
    coupon_duration_value: { type: ['integer', 'null'] },
    redemption_specific_date_status: { type: 'boolean' },
    redemption_specific_date_value: { type: ['string', 'null'] },
    redemption_times_status: { type: 'boolean' },
    redemption_times_value: { type: ['integer', 'null'] },
    metadata: { type: 'object' },
    times_redeemed: { type: 'integer', description: 'always 0: redemptions are counted by the gateway' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    deleted_at: { type: 'null' },
  },
};

const PromotionCode = {
  type: 'object',
  description:
    "What a customer types at checkout, unique in the program whatever its case. A payment that used a partner's code (and whose partner key names no partner) credits that partner: attribution.partner_key_place `coupon`, decided_by `coupon`",
  properties: {
    code: { type: 'string' },
    partner: { type: ['string', 'null'], description: "the owning partner's key, or null (a code that credits nobody)" },
    limit_to_specific_partner: { type: 'boolean', description: 'true when a partner owns the code' },
    coupon_specific_partners: { type: 'array', items: { type: 'object', properties: { id: { type: 'string', description: "the partner's key" }, full_name: { type: 'string' } } } },
    first_time_order: { type: 'boolean' },
    limit_to_specific_customer: { type: 'boolean' },
    coupon_specific_customers: {},
    minimum_order_status: { type: 'boolean' },
    minimum_order_value: { type: ['number', 'null'] },
    expiration_date_status: { type: 'boolean' },
    expiration_date_value: { type: ['string', 'null'] },
    redemption_times_status: { type: 'boolean' },
    redemption_times_value: { type: ['integer', 'null'] },
    times_redeemed: { type: 'integer', description: 'always 0: redemptions are counted by the gateway' },
    metadata: { type: 'object' },
    coupon: { oneOf: [{ $ref: '#/components/schemas/Coupon' }, { type: 'null' }] },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

const ReferralLink = {
  type: 'object',
  properties: {
    id: { type: 'string', description: "the link's key, as Partnero shows it; paths take it (or the link's uuid)" },
    key: { type: 'string', description: "unique in the program; a payment whose partner key is this key credits the link's partner" },
    url: { type: ['string', 'null'], description: 'the URL the merchant gave: this service hosts no redirects' },
    default: { type: 'boolean', description: 'always false: every link here is one the merchant created' },
    is_additional: { type: 'boolean' },
    direct_tracking: { type: 'boolean' },
    direct_tracking_redirect: { type: 'boolean' },
    direct_tracking_redirect_url: { type: ['string', 'null'] },
    clicks: { type: 'integer', description: 'visits through the link reported by /js/po.js (POST /v1/js/visits); anyone holding the public key can add to it, so it is a rough count' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

const Earnings = {
  type: 'object',
  properties: {
    partner: { type: 'string' },
    earnings: {
      type: 'array',
      description: 'one entry a unit; commissions and manual rewards alike; rejected, deleted and archived rewards left out',
      items: {
        type: 'object',
        properties: {
          amount_units: { type: 'string' },
          is_currency: { type: 'boolean' },
          total: { type: 'number', description: 'approved + in_review' },
          approved: { type: 'number' },
          in_review: { type: 'number' },
          rewards: { type: 'integer' },
          manual_rewards: { type: 'integer' },
        },
      },
    },
  },
};

const Transaction = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    action: { type: 'string' },
    amount: { type: 'number', description: 'major units (99.99 USD)' },
    amount_units: { type: 'string', description: 'ISO 4217 code, or a unit such as points' },
    partner: { type: ['string', 'null'], description: 'affiliate programs: the partner credited' },
    customer: { type: ['string', 'null'], description: 'affiliate: the payer; refer-a-friend: the referring customer' },
    referred_customer: { type: ['string', 'null'], description: 'refer-a-friend programs: the payer' },
    credit: { type: 'boolean' },
    is_currency: { type: 'boolean' },
    refunded_amount: { type: 'number', description: 'what the refunds still standing take back (a refund the gateway failed, canceled, voided or deleted no longer counts)' },
    created_at: { type: 'string', format: 'date-time' },
    archived_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_reason: {
      enum: ['refunded', 'dispute_lost', 'deleted_via_api', null],
      description: 'why it was deleted: a refund took the whole payment (refunded), a dispute was lost (dispute_lost), or DELETE /v1/transactions/{key} (deleted_via_api); null while it stands. A reversal (a refund the gateway took back, a dispute won after it was lost) restores it',
    },
    deleted_by: { type: ['string', 'null'], description: "the gateway's refund id (refunded) or dispute id (dispute_lost) that deleted it; null otherwise" },
    reduced_by: { type: 'array', items: { type: 'string' }, description: "the gateway ids of the refunds standing that reduce it; a reversed refund leaves the list" },
    rewards: { type: 'array', items: { $ref: '#/components/schemas/Reward' } },
    attribution: ATTRIBUTION_SCHEMA,
  },
};

const REATTRIBUTION = {
  type: 'object',
  properties: {
    partner: { type: 'string' },
    dry_run: { type: 'boolean' },
    payments: {
      type: 'array',
      description: 'the payments that named the partner and were booked to nobody, oldest first',
      items: {
        type: 'object',
        properties: {
          transaction_key: { type: 'string' },
          gateway: { type: 'string' },
          created_at: { type: 'string', format: 'date-time' },
          amount: { type: 'number' },
          amount_units: { type: 'string' },
          refunded_amount: { type: 'number' },
          customer: { type: ['string', 'null'], description: 'the customer record it is booked against now (transaction-based: the per-partner record)' },
          result: { enum: ['credited', 'would_credit', 'skipped'] },
          reason: {
            type: ['string', 'null'],
            description:
              'skipped: customer_linked_elsewhere (customer-based: its customer is linked to another partner, and links are permanent), customer_deleted, no_customer, not_a_gateway_payment, not_named; credited without a reward: a reward_reason (lifetime_first_only, lifetime_expired, capped ...)',
          },
          reward: {
            type: ['object', 'null'],
            properties: {
              amount: { type: 'number', description: 'after partial refunds' },
              amount_units: { type: 'string' },
              is_currency: { type: 'boolean' },
              status: { enum: ['ok', 'review_period'] },
              hold_reason: { enum: ['self_referral', 'refund_rate', null] },
              capped_from: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    summary: {
      type: 'object',
      properties: {
        listed: { type: 'integer' },
        credited: { type: 'integer', description: 'credited (a dry run: would be)' },
        rewarded: { type: 'integer', description: 'of those, with a reward' },
        skipped: { type: 'integer' },
        rewards: { type: 'object', additionalProperties: { type: 'string' }, description: 'per currency or unit, the rewards made (exact decimal text)' },
      },
    },
  },
};

const Webhook = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    name: { type: 'string' },
    url: { type: 'string', format: 'uri' },
    events: { type: 'array', items: { enum: [...OUTBOUND_EVENTS] } },
    is_active: { type: 'boolean' },
    signature: { type: 'string', description: 'the signing secret: in full only in the answer to POST /v1/webhooks, masked elsewhere' },
    status: { enum: ['active', 'inactive', 'disabled', 'deleted'] },
    disabled_at: { type: ['string', 'null'], format: 'date-time', description: 'set when every delivery failed for 5 days' },
    disabled_reason: { type: ['string', 'null'] },
    last_success_at: { type: ['string', 'null'], format: 'date-time', description: 'GET /v1/webhooks/{key} only' },
    failing_since: { type: ['string', 'null'], format: 'date-time', description: 'GET /v1/webhooks/{key} only' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    deleted_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const WebhookDelivery = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'also sent as the X-Partner-Ledger-Delivery header, as whd-{id}' },
    event: { enum: [...OUTBOUND_EVENTS] },
    entity_key: { type: 'string' },
    status: { enum: ['pending', 'retrying', 'delivered', 'failed', 'cancelled'] },
    attempts: { type: 'integer' },
    response_code: { type: ['integer', 'null'] },
    duration_ms: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    next_retry_at: { type: ['string', 'null'], format: 'date-time' },
    event_created_at: { type: 'string', format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    delivered_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const ApiKey = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    key: { type: 'string', description: 'the key in full only in the answer to POST /v1/api-keys; elsewhere masked, its prefix and …' },
    prefix: { type: 'string' },
    source: { enum: ['env', 'cli', 'api'], description: 'env: API_KEY of the environment (managed there); cli: created by an operator command; api: created here' },
    current: { type: 'boolean', description: 'the key making this request' },
    created_at: { type: 'string', format: 'date-time' },
    last_used_at: { type: ['string', 'null'], format: 'date-time', description: 'written at most about once a minute' },
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
    warning: { type: 'string', description: 'DELETE only, when the key revoked is the one that made the request' },
  },
};

const decimalText = (what: string) => ({ type: 'string', pattern: '^-?\\d+(\\.\\d+)?$', description: `${what}: an exact decimal as text ("19.998"), never a float` });

const Balance = {
  type: 'object',
  description: 'What a partner holds in one currency (never converted). Each reward counts in one place: pending (ok rewards are available) while in no standing payout request; in_payout while in a requested or approved one; paid once its request is finished. Rejected and deleted rewards count nowhere; clawback is money owed back (a refund or lost dispute after approval).',
  required: ['currency', 'pending', 'available', 'in_payout', 'paid', 'clawback'],
  properties: {
    currency: { type: 'string', description: 'ISO 4217 code' },
    pending: decimalText('rewards in their review period'),
    available: decimalText('ok rewards in no payout request'),
    in_payout: decimalText('rewards in a requested or approved, unpaid payout request'),
    paid: decimalText('what finished payout requests paid'),
    clawback: decimalText('money owed back, not yet netted; negative: a credit owed to the partner (a netted clawback whose refund the gateway took back), paid by the next request'),
  },
};

const PayoutRequest = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    status: { enum: ['requested', 'approved', 'rejected', 'finished'] },
    amount: decimalText("the rewards' sum: as they stand while requested, fixed from approval on"),
    amount_units: { type: 'string', description: 'ISO 4217 code' },
    partner: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, key: { type: 'string' }, email: { type: ['string', 'null'] }, name: { type: ['string', 'null'] }, surname: { type: ['string', 'null'] } } },
    gateway: { enum: ['paypal', 'wise', 'bank', 'crypto', 'manual'] },
    payout_settings: { type: 'object', description: "how to pay: username (a PayPal email), email, name, wallet_address, … as Partnero's clients send them" },
    note: { type: ['string', 'null'] },
    reference: { type: ['string', 'null'], description: 'set by mark_as_paid' },
    reward_ids: { type: 'array', items: { type: 'integer' } },
    rewards: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, key: { type: 'string' }, amount: { type: 'string' }, transaction_key: { type: 'string' } } } },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    approved_at: { type: ['string', 'null'], format: 'date-time' },
    rejected_at: { type: ['string', 'null'], format: 'date-time' },
    paid_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

const envelope = (ref: string) => ({
  type: 'object',
  required: ['data', 'status'],
  properties: { data: { $ref: `#/components/schemas/${ref}` }, status: { const: 1 } },
});
const json = (s: object) => ({ content: { 'application/json': { schema: s } } });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: String(c), ...json({ $ref: '#/components/schemas/Error' }) }]));
const ok = (ref: string, description = 'OK') => ({ description, ...json(envelope(ref)) });
const keyParam = (name = 'key') => ({ name, in: 'path', required: true, schema: { type: 'string' } });

// a query parameter as the handler reads it: `limit` an integer in its bounds, not the digits sent
function queryParams(s: z.ZodObject) {
  const js = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any', target: 'draft-2020-12' }) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
}

export function openApiDocument() {
  const bulkDoc = z.object({ options: BulkRequest.shape.options, transactions: z.array(BulkItem).min(1).max(1000) });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Partner Ledger API',
      version: '1',
      description:
        'Transactions, partners, customers and program settings of the program your API key belongs to. Success: `{ data, status: 1 }` (lists add `links` and `meta`); failure: `{ status: 0, message, errors?, error: { code, message, fields? } }`. JSON answers carry `Content-Type: application/json` exactly. GET and DELETE read their parameters from the query and from a JSON body alike (the query wins); `""` in an optional field is the field not given; a date-time without a zone is UTC; a query parameter repeated with the same value counts once. A database that refuses connections is a 503 with Retry-After. Partnero\'s clients (the PHP SDK, the n8n node) work unchanged.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a program API key' },
        publicKey: { type: 'apiKey', in: 'header', name: 'x-public-key', description: "the program's public_key (GET /v1/program): not a secret, it sits in the shop's pages" },
      },
      schemas: {
        Error: ErrorEnvelope,
        Reward,
        PartnerReward,
        ManualReward: schema(ManualRewardBody),
        Earnings,
        ReferralLink,
        CreateReferralLink: schema(CreateReferralLink),
        Coupon,
        PromotionCode,
        CreatePartnerCoupon: schema(CreatePartnerCoupon),
        CreatePromotionCode: schema(CreatePromotionCode),
        UpdatePromotionCode: schema(UpdatePromotionCode),
        CreateCoupon: schema(CreateCoupon),
        UpdateCoupon: schema(UpdateCoupon),
        UpdateReferralLink: schema(UpdateReferralLink),
        Transaction,
        CreateTransaction: schema(CreateTransaction),
        BulkRequest: schema(bulkDoc),
        CreatePartner: schema(CreatePartner),
        UpdatePartner: schema(UpdatePartner),
        UpdatePartnerByBody: schema(z.object({ key: z.string().optional(), email: z.string().optional(), id: z.string().optional(), update: UpdatePartner })),
        CreateCustomer: schema(CreateCustomer),
        UpdateCustomer: schema(UpdateCustomer),
        UpdateCustomerByBody: schema(z.object({ key: z.string().optional(), email: z.string().optional(), id: z.string().optional(), update: UpdateCustomer })),
        Settings: schema(z.object({ settings: PatchProgram })),
        UpdateProgram: schema(PatchProgram),
        BrowserSignup: schema(BrowserSignup),
        BrowserVisit: schema(BrowserVisit),
        Partner: {
          type: 'object',
          description: 'GET reads (one partner, the lists) add `balance`: a Balance per currency',
          properties: {
            pending_attribution: {
              type: 'integer',
              description:
                'POST /v1/partners and the reads of one partner: how many payments named this partner before it existed and were booked to nobody; POST /v1/partners/{key}/reattribute credits them',
            },
          },
        },
        Reattribute: schema(ReattributeBody),
        Reattribution: REATTRIBUTION,
        Balance,
        Balances: { type: 'object', properties: { balances: { type: 'array', items: { $ref: '#/components/schemas/Balance' } } } },
        PayoutRequest,
        CreatePayoutRequest: schema(CreatePayoutRequest),
        MarkAsPaid: schema(MarkAsPaid),
        Customer: {
          type: 'object',
          properties: {
            linked_by: { enum: ['referral_link', null], description: '`referral_link`: linked to its partner by a po.js signup after a referral link visit (its rewards start in review); `null`: by a payment, the API or the merchant, or not linked' },
          },
        },
        Program: { type: 'object' },
        Run: { type: 'object' },
        Webhook,
        WebhookDelivery,
        CreateWebhook: schema(CreateWebhook),
        UpdateWebhook: schema(UpdateWebhook),
        ApiKey,
        CreateApiKey: schema(CreateApiKey),
      },
    },
    paths: {
      '/v1/transactions': {
        post: {
          summary: 'Create a transaction (rewards are computed at once)',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateTransaction' }) },
          responses: { '201': ok('Transaction', 'Created'), '200': ok('Transaction', 'The same request again: the stored transaction'), ...errors(400, 401, 409, 413, 422) },
        },
        get: {
          summary: 'List transactions, newest first; follow links.next (a keyset cursor) to read everything',
          parameters: queryParams(ListQuery),
          description:
            'Each parameter at most once, as name=value; a repeated one, or one out of its bounds, is a 422 naming it. `customer.key` and `partner.key` are other names of `customer` and `partner_key`.',
          responses: { '200': { description: 'A page: { data, links, meta, status }. Above 10,000 transactions, meta.total is counted again about every 10 s and may lag new rows by that much' }, ...errors(401, 422) },
        },
      },
      '/v1/transactions/{key}': {
        get: { summary: 'Get a transaction (deleted ones too)', parameters: [keyParam()], responses: { '200': ok('Transaction'), ...errors(401, 404) } },
        delete: {
          summary: 'Delete a transaction and its rewards, for good (the key is not reused)',
          parameters: [keyParam()],
          responses: { '200': ok('Transaction'), ...errors(401, 404) },
        },
      },
      '/v1/transactions/{key}/archive': {
        post: { summary: 'Hide a transaction and its rewards (reversible)', parameters: [keyParam()], responses: { '200': ok('Transaction'), ...errors(401, 404) } },
      },
      '/v1/transactions/{key}/revoke-archive': {
        post: { summary: 'Bring an archived transaction back', parameters: [keyParam()], responses: { '200': ok('Transaction'), ...errors(401, 404) } },
      },
      '/v1/transactions/bulk': {
        post: {
          summary: 'Queue up to 1,000 transactions (amounts in cents); answers with a run id',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/BulkRequest' }) },
          responses: { '200': { description: '{ status: 200, message, runId }' }, ...errors(401, 413, 422, 503) },
        },
      },
      '/v1/runs/{runId}': {
        get: { summary: "A bulk run's progress and failed items", parameters: [keyParam('runId')], responses: { '200': ok('Run'), ...errors(401, 404) } },
      },
      '/v1/test': {
        get: { summary: "Check an API key: the key's program (Partnero's credential test)", responses: { '200': { description: '{ data: { program: { id, name, type } }, status: 1 }' }, ...errors(401) } },
      },
      '/v1/partners': {
        post: { summary: 'Create a partner', requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreatePartner' }) }, responses: { '201': ok('Partner'), ...errors(401, 409, 422) } },
        get: {
          summary: 'List partners (oldest first unless sort=desc); follow links.next (a keyset cursor) to read everything',
          parameters: queryParams(PartnersQuery),
          responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 422) },
        },
        put: {
          summary: "Update a partner named in the body by key, email or id; the changes under `update` (the PHP SDK's form)",
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdatePartnerByBody' }) },
          responses: { '200': ok('Partner'), ...errors(401, 404, 409, 422) },
        },
        delete: { summary: 'Delete the partner named by `key`, `email` or `id` (body or query)', responses: { '200': ok('Partner'), ...errors(401, 404, 422) } },
      },
      '/v1/partners:search': {
        get: { summary: 'Search partners: key, email and name match partially, id exactly; deleted ones left out', parameters: queryParams(PartnersSearch), responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 422) } },
      },
      '/v1/partner': {
        get: { summary: 'One partner by `key`, `email` or `id` (query or body)', responses: { '200': ok('Partner'), ...errors(401, 404, 422) } },
        post: { summary: 'Create a partner (the PHP SDK\'s older Partner endpoint)', requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreatePartner' }) }, responses: { '201': ok('Partner'), ...errors(401, 409, 422) } },
        put: { summary: 'As PUT /v1/partners', requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdatePartnerByBody' }) }, responses: { '200': ok('Partner'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'As DELETE /v1/partners', responses: { '200': ok('Partner'), ...errors(401, 404, 422) } },
      },
      '/v1/partners/{key}': {
        get: { summary: 'Get a partner by key, id or email', parameters: [keyParam()], responses: { '200': ok('Partner'), ...errors(401, 404) } },
        patch: { summary: 'Update a partner (flat, or the changes under `update`)', parameters: [keyParam()], requestBody: json({ $ref: '#/components/schemas/UpdatePartner' }), responses: { '200': ok('Partner'), ...errors(401, 404, 409, 422) } },
        put: { summary: 'As PATCH', parameters: [keyParam()], requestBody: json({ $ref: '#/components/schemas/UpdatePartner' }), responses: { '200': ok('Partner'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'Delete a partner (soft: still readable, no longer listed or credited)', parameters: [keyParam()], responses: { '200': ok('Partner'), ...errors(401, 404) } },
      },
      '/v1/partners/{key}/archive': {
        post: { summary: 'Archive a partner: left out of lists (status=archived shows it), still readable; its new sales are recorded with no reward (reward_reason partner_archived) until revoke-archive; announces partner.archived', parameters: [keyParam()], responses: { '200': ok('Partner'), ...errors(401, 404, 409) } },
      },
      '/v1/partners/{key}/reattribute': {
        post: {
          summary: 'Credit the payments that named this partner while it did not exist (booked to nobody), as a payment booked now would be credited',
          description:
            "Gateway payments whose stored partner key is this partner's key (or its referral code, from Chargebee's referral-code field), booked to nobody and not refunded in full, made at or after `from` (a date-time, or a date: its UTC midnight; default: all): each is attributed as a payment booked now would be (customer-based: its customer is linked to the partner unless linked to another, whose link stands; transaction-based: through the payer's per-partner record), within the program's lifetime, holds and caps; a partial refund takes its share of the reward. Each transaction's `attribution` then carries `reattributed_at`; the outbound `transaction.created` (and `customer.created`/`customer.updated`) are sent as for a booking. `dry_run: true` lists what a run would do and changes nothing. A second run credits nothing. The partner's `pending_attribution` counts the payments waiting. 404: no such partner; 409 `deleted`: the partner is deleted, `not_affiliate`: a refer-a-friend program; 422 `validation_failed`: a bad body.",
          parameters: [keyParam()],
          requestBody: json({ $ref: '#/components/schemas/Reattribute' }),
          responses: { '200': ok('Reattribution'), ...errors(401, 404, 409, 422) },
        },
      },
      '/v1/partners/{key}/reward': {
        post: {
          summary: "Credit a manual reward (a bonus, n8n's Add Reward): approved at once, tied to no transaction, counted in the partner's earnings like its commissions",
          description: '`amount` in the program\'s currency unless `currency` (ISO 4217) or `amount_units` (a currency or a unit such as points) names another, more than zero, at most the currency\'s decimals; `date` (default now, not in the future) is when it counts from; `note` says why. Bad input is a 422 `validation_failed` naming the field; a deleted partner a 409 `deleted`.',
          parameters: [keyParam()],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/ManualReward' }) },
          responses: { '201': ok('PartnerReward', 'Created'), ...errors(401, 404, 409, 422) },
        },
      },
      '/v1/partners/{key}/rewards': {
        get: {
          summary: "A partner's rewards, commissions and manual ones, newest first; follow links.next (a keyset cursor)",
          parameters: [keyParam(), ...queryParams(RewardsQuery)],
          responses: { '200': { description: 'A page: { data: PartnerReward[], links, meta, status: 1 }' }, ...errors(401, 404, 422) },
        },
      },
      '/v1/partners/{key}/earnings': {
        get: { summary: "A partner's earnings by unit: approved and in review, manual rewards included", parameters: [keyParam()], responses: { '200': ok('Earnings'), ...errors(401, 404) } },
      },
      '/v1/partners/{key}/referral_links': {
        get: {
          summary: "A partner's referral links (the partner by key, id or email), oldest first, in the list envelope",
          parameters: [keyParam(), ...queryParams(ReferralLinksQuery)],
          responses: { '200': { description: 'A page: { data: ReferralLink[], links, meta, status: 1 }' }, ...errors(401, 404, 422) },
        },
      },
      '/v1/partners/{key}/coupons': {
        get: {
          summary: "A partner's promotion codes (the partner by key, id or email), oldest first, in the list envelope",
          parameters: [keyParam(), ...queryParams(CouponsQuery)],
          responses: { '200': { description: 'A page: { data: PromotionCode[], links, meta, status: 1 }' }, ...errors(401, 404, 422) },
        },
        post: {
          summary: 'Give a partner a promotion code: a payment that used it credits the partner when its partner key names nobody. Unique in the program whatever its case (409 duplicate_key)',
          parameters: [keyParam()],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreatePartnerCoupon' }) },
          responses: { '201': ok('PromotionCode', 'Created'), ...errors(401, 404, 409, 422) },
        },
      },
      '/v1/partners/{key}/coupons/{code}': {
        delete: { summary: "Delete one of the partner's promotion codes (any case); the answer is the code as it was", parameters: [keyParam(), keyParam('code')], responses: { '200': ok('PromotionCode'), ...errors(401, 404) } },
      },
      '/v1/promotion-codes': {
        get: { summary: "The program's promotion codes; partner_key or coupon_uuid keep one partner's or one coupon's", parameters: queryParams(PromotionCodesQuery), responses: { '200': { description: 'A page: { data: PromotionCode[], links, meta, status: 1 }' }, ...errors(401, 422) } },
        post: {
          summary: "Create a promotion code (Partnero's shape): the owning partner in coupon_specific_partners ({ id: its key }) or partner_key, the coupon by coupon_uuid (or the PHP SDK's coupon_id); a code is generated when none is given. Restrictions are kept and shown, not enforced (the gateway's discount is)",
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreatePromotionCode' }) },
          responses: { '201': ok('PromotionCode', 'Created'), ...errors(401, 404, 409, 422) },
        },
        put: { summary: "Change the promotion code the body's `code` names (the PHP SDK's update)", requestBody: json({ $ref: '#/components/schemas/UpdatePromotionCode' }), responses: { '200': ok('PromotionCode'), ...errors(401, 404, 409, 422) } },
        delete: { summary: "Delete the promotion code the body's `code` names (the PHP SDK's delete)", responses: { '200': ok('PromotionCode'), ...errors(401, 404, 422) } },
      },
      '/v1/promotion-codes/{code}': {
        get: { summary: 'Get a promotion code (any case), with its coupon', parameters: [keyParam('code')], responses: { '200': ok('PromotionCode'), ...errors(401, 404) } },
        put: { summary: 'Change a promotion code: its owner (limit_to_specific_partner false removes it), its code, restrictions, metadata', parameters: [keyParam('code')], requestBody: json({ $ref: '#/components/schemas/UpdatePromotionCode' }), responses: { '200': ok('PromotionCode'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'Delete a promotion code; the answer is the code as it was', parameters: [keyParam('code')], responses: { '200': ok('PromotionCode'), ...errors(401, 404) } },
      },
      '/v1/coupons': {
        get: { summary: "The program's coupons, oldest first, in the list envelope", parameters: queryParams(CouponsQuery), responses: { '200': { description: 'A page: { data: Coupon[], links, meta, status: 1 }' }, ...errors(401, 422) } },
        post: {
          summary: "Create a coupon (Partnero's shape), with promotion_codes made alongside in one transaction; uuid_code unique in the program whatever its case (409 duplicate_key)",
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateCoupon' }) },
          responses: { '201': ok('Coupon', 'Created'), ...errors(401, 404, 409, 422) },
        },
        put: { summary: "Change the coupon the body's `uuid_code` names (the PHP SDK's update)", requestBody: json({ $ref: '#/components/schemas/UpdateCoupon' }), responses: { '200': ok('Coupon'), ...errors(401, 404, 422) } },
      },
      '/v1/coupons/{uuid_code}': {
        get: { summary: 'Get a coupon by its uuid_code (any case)', parameters: [keyParam('uuid_code')], responses: { '200': ok('Coupon'), ...errors(401, 404) } },
        put: { summary: 'Change a coupon', parameters: [keyParam('uuid_code')], requestBody: json({ $ref: '#/components/schemas/UpdateCoupon' }), responses: { '200': ok('Coupon'), ...errors(401, 404, 422) } },
        delete: { summary: 'Delete a coupon and its promotion codes (the partners they credited are credited by them no more); the answer is the coupon as it was', parameters: [keyParam('uuid_code')], responses: { '200': ok('Coupon'), ...errors(401, 404) } },
      },
      '/v1/partner_referral_links': {
        get: { summary: "The program's referral links; partner_key, partner_id or partner_email keep one partner's", parameters: queryParams(ReferralLinksQuery), responses: { '200': { description: 'A page: { data: ReferralLink[], links, meta, status: 1 }' }, ...errors(401, 422) } },
        post: {
          summary: 'Create a referral link for a partner (named by key, id or email); the key is unique in the program (409 duplicate_key). The PHP SDK\'s camelCase fields (directTracking, partnerKey, …) are read too',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateReferralLink' }) },
          responses: { '201': ok('ReferralLink', 'Created'), ...errors(401, 404, 409, 422) },
        },
      },
      '/v1/partner_referral_links:search': {
        get: { summary: 'Search referral links: key and url partly, the partner exactly', parameters: queryParams(ReferralLinksSearch), responses: { '200': { description: 'A page: { data: ReferralLink[], links, meta, status: 1 }' }, ...errors(401, 422) } },
      },
      '/v1/partner_referral_links/{id}': {
        get: { summary: 'Get a referral link by its id (its key) or uuid', parameters: [keyParam('id')], responses: { '200': ok('ReferralLink'), ...errors(401, 404) } },
        put: { summary: 'Change a referral link (a new key too)', parameters: [keyParam('id')], requestBody: json({ $ref: '#/components/schemas/UpdateReferralLink' }), responses: { '200': ok('ReferralLink'), ...errors(401, 404, 409, 422) } },
        patch: { summary: 'As PUT', parameters: [keyParam('id')], requestBody: json({ $ref: '#/components/schemas/UpdateReferralLink' }), responses: { '200': ok('ReferralLink'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'Delete a referral link, for good; the answer is the link as it was', parameters: [keyParam('id')], responses: { '200': ok('ReferralLink'), ...errors(401, 404) } },
      },
      '/v1/partners/{key}/revoke-archive': {
        post: { summary: 'Bring an archived partner back: it earns again from its next sale', parameters: [keyParam()], responses: { '200': ok('Partner'), ...errors(401, 404, 409) } },
      },
      '/v1/partners/{key}/balance': {
        get: { summary: "A partner's balances per currency (the partner by key, id or email)", parameters: [keyParam()], responses: { '200': ok('Balances'), ...errors(401, 404) } },
      },
      '/v1/payout_requests': {
        post: {
          summary: "Request a payout: the partner's available rewards (all, or reward_ids: ids or keys) in one currency",
          description:
            'The partner by `partner: {key|id|email}`; `amount_units` is needed only when rewards are available in several currencies. A reward is in at most one request that is not rejected. What the partner owes back in that currency (clawbacks: a refund, lost dispute or delete that reached a reward after its payout was approved) is netted: `amount` is the rewards less the clawbacks, and a rejection makes them owed again. 422 `nothing_available` (also when the clawbacks are more than the rewards), `currency_required`, `reward_not_available`, `mixed_currencies`; 409 `partner_not_active` (archived or deleted). Announces payout_request.created.',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreatePayoutRequest' }) },
          responses: { '201': ok('PayoutRequest', 'Created'), ...errors(401, 404, 409, 422) },
        },
        get: {
          summary: 'List payout requests, newest first; follow links.next (a keyset cursor) to read everything',
          description: '`amount_units` filters by currency; `partner.key`, `partner.email` and `partner.id` are other names of the partner filters.',
          parameters: queryParams(ListPayoutRequests),
          responses: { '200': { description: 'A page: { data: PayoutRequest[], links, meta, status }' }, ...errors(401, 422) },
        },
      },
      '/v1/payout_requests:search': {
        get: { summary: 'As GET /v1/payout_requests (the form Partnero\'s clients call for search)', parameters: queryParams(ListPayoutRequests), responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 422) } },
      },
      '/v1/payout_requests/{id}': {
        get: { summary: 'Get a payout request', parameters: [keyParam('id')], responses: { '200': ok('PayoutRequest'), ...errors(401, 404) } },
      },
      '/v1/payout_requests/{id}/approve': {
        post: {
          summary: 'Approve a requested payout: its amounts are fixed (rewards as they stand; deleted or rejected ones drop out); announces payout_request.approved',
          parameters: [keyParam('id')],
          responses: { '200': ok('PayoutRequest'), ...errors(401, 404, 409) },
        },
      },
      '/v1/payout_requests/{id}/reject': {
        post: { summary: 'Reject a requested or approved payout: its rewards are available again; announces payout_request.rejected', parameters: [keyParam('id')], responses: { '200': ok('PayoutRequest'), ...errors(401, 404, 409) } },
      },
      '/v1/payout_requests/{id}/mark_as_paid': {
        post: {
          summary: 'Record that an approved payout was paid (paid_at, default now; reference): status finished; announces payout_request.paid',
          description: 'Any move its status does not allow (requested → approved | rejected; approved → finished | rejected) is a 409 `invalid_status_transition`.',
          parameters: [keyParam('id')],
          requestBody: json({ $ref: '#/components/schemas/MarkAsPaid' }),
          responses: { '200': ok('PayoutRequest'), ...errors(401, 404, 409, 422) },
        },
      },
      '/v1/customers': {
        post: {
          summary: 'Create a customer (linked to its partner, named by key, id or email, for good); `transaction` records its first sale',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateCustomer' }) },
          responses: { '201': ok('Customer'), ...errors(401, 409, 422) },
        },
        get: {
          summary: "List customers; with partner_key, partner_email or partner_id (also `partner: {key|email|id}` in a GET body) only that partner's, its per-partner records included",
          parameters: queryParams(CustomersQuery),
          responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 422) },
        },
        put: {
          summary: 'Update a customer named in the body by key, email or id; the changes under `update`',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdateCustomerByBody' }) },
          responses: { '200': ok('Customer'), ...errors(401, 404, 409, 422) },
        },
        delete: { summary: 'Delete the customer named by `key`, `email` or `id` (body or query)', responses: { '200': ok('Customer'), ...errors(401, 404, 422) } },
      },
      '/v1/customers:search': {
        get: { summary: 'Search customers: key, email and name match partially, id exactly; deleted ones left out', parameters: queryParams(CustomersSearch), responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 422) } },
      },
      '/v1/customer': {
        get: { summary: 'One customer by `key`, `email` or `id` (the PHP SDK\'s older Customer endpoint)', responses: { '200': ok('Customer'), ...errors(401, 404, 422) } },
        post: { summary: 'Create a customer from `{ customer, partner, transaction? }`', responses: { '201': ok('Customer'), ...errors(401, 409, 422) } },
        put: { summary: 'As PUT /v1/customers', requestBody: { required: true, ...json({ $ref: '#/components/schemas/UpdateCustomerByBody' }) }, responses: { '200': ok('Customer'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'As DELETE /v1/customers', responses: { '200': ok('Customer'), ...errors(401, 404, 422) } },
      },
      '/v1/customers/{key}': {
        get: { summary: 'Get a customer by key (or its one per-partner record), id or email', parameters: [keyParam()], responses: { '200': ok('Customer'), ...errors(401, 404) } },
        patch: { summary: "Update a customer's details (not its partner)", parameters: [keyParam()], requestBody: json({ $ref: '#/components/schemas/UpdateCustomer' }), responses: { '200': ok('Customer'), ...errors(401, 404, 409, 422) } },
        put: { summary: 'As PATCH', parameters: [keyParam()], requestBody: json({ $ref: '#/components/schemas/UpdateCustomer' }), responses: { '200': ok('Customer'), ...errors(401, 404, 409, 422) } },
        delete: { summary: 'Delete a customer (soft: still readable, no longer listed or matched)', parameters: [keyParam()], responses: { '200': ok('Customer'), ...errors(401, 404) } },
      },
      '/v1/customers/{key}/archive': {
        post: { summary: 'Archive a customer: left out of lists (status=archived shows it), still readable; its new sales earn its partner nothing (reward_reason customer_archived) until revoke-archive', parameters: [keyParam()], responses: { '200': ok('Customer'), ...errors(401, 404, 409) } },
      },
      '/v1/customers/{key}/revoke-archive': {
        post: { summary: 'Bring an archived customer back', parameters: [keyParam()], responses: { '200': ok('Customer'), ...errors(401, 404, 409) } },
      },
      '/v1/customers/{key}/transactions': {
        get: { summary: "A customer's transactions, with the parameters and envelope of GET /v1/transactions", parameters: [keyParam(), ...queryParams(ListQuery)], responses: { '200': { description: 'A page: { data, links, meta, status }' }, ...errors(401, 404, 422) } },
      },
      '/v1/integrations': {
        get: {
          summary: 'Per gateway: configured or not, last events, 24 h outcomes, refusals, where partner_key was found, silence, reconcile (last_reconciled_to, last_run_at, missing_last_run, missing_last_7_days), lookups_not_configured (payments, missing_setting: the setting a lookup needs while it is unset, waiting: payments still booked to nobody for want of it, which `reattribute --lookups` redoes)',
          responses: { '200': { description: '{ data: { gateways, outbound_webhooks, warnings }, status: 1 }' }, ...errors(401) },
        },
      },
      '/v1/program': {
        get: { summary: "The program's settings (secrets are never shown)", responses: { '200': ok('Program'), ...errors(401) } },
        patch: { summary: 'Change the program settings; new events use them', requestBody: json({ $ref: '#/components/schemas/UpdateProgram' }), responses: { '200': ok('Program'), ...errors(401, 422) } },
      },
      '/v1/js/customers': {
        post: {
          summary: "po('customers', 'signup', { data: { key, email, name } }) from the shop's page: a customer linked through the referral link visit's code",
          description:
            "Called by /js/po.js with the program's public key (browser tracking on: js_tracking). `referral_code` is the code po.js kept from a visit (`?ref=CODE`, the program's referral_parameter) for cookie_lifetime_days; it names a partner's key, a referral link's key or a partner's referral code (refer-a-friend: a customer's key). The customer is created under `key` (the key the shop's backend later gives the gateway: Stripe metadata.customer_key, Paddle custom_data.customer_key, or the gateway's customer id) and linked to that partner (`linked_by: referral_link`); its payments' rewards start in review and their attribution says `decided_by: referral_link`. A customer that exists is left as it is (a browser never links or re-links one); an unknown or absent code records the customer linked to nobody. The answer is the same in every case: the page learns neither. Never matched by email. CORS open; each client address is rate limited (JS_RATE_LIMIT_PER_MINUTE, with /v1/js/transactions).",
          security: [{ publicKey: [] }],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/BrowserSignup' }) },
          responses: { '201': { description: '{ data: { key, received: true }, status: 1 }' }, ...errors(400, 401, 403, 413, 422, 429) },
        },
      },
      '/v1/js/visits': {
        post: {
          summary: "A visit through a referral link, reported by /js/po.js: the link's `clicks` count grows by one",
          description:
            "`{ referral_code }` with the program's public key; a code that is no referral link's key counts nothing. The answer is the same either way. Rate limited per client address with the other /v1/js doors.",
          security: [{ publicKey: [] }],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/BrowserVisit' }) },
          responses: { '202': { description: '{ data: { received: true }, status: 1 }' }, ...errors(400, 401, 403, 413, 422, 429) },
        },
      },
      '/v1/js/transactions': {
        post: {
          summary: "po('transactions', 'create', { data }) from the shop's page: a sale whose rewards start in review",
          description:
            "The body of POST /v1/transactions, with the program's public key; the key is stored as `js_{key}`, the date is the server's, `rewardable` and `created_at` are ignored. A browser's partner key credits that sale only and links no customer. CORS open; rate limited per client address.",
          security: [{ publicKey: [] }],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateTransaction' }) },
          responses: { '201': { description: '{ data: { key, received: true }, status: 1 }' }, '200': { description: 'The same sale again' }, ...errors(400, 401, 403, 413, 422, 429) },
        },
      },
      '/v1/rewards/{key}/release': {
        post: {
          summary: "Release a reward held for review (hold_reason): it is paid as the program's rules say (its review period still runs from the sale); announces reward.status_changed",
          parameters: [keyParam()],
          responses: { '200': { description: '{ data: { key, status, hold_reason, amount, amount_units, review_ends_at }, status: 1 }' }, ...errors(401, 404, 409) },
        },
      },
      '/v1/rewards/{key}/reject': {
        post: {
          summary: 'Reject a reward held for review: status rejected, never paid; announces reward.status_changed',
          parameters: [keyParam()],
          responses: { '200': { description: '{ data: { key, status, hold_reason, … }, status: 1 }' }, ...errors(401, 404, 409) },
        },
      },
      '/v1/settings': {
        put: { summary: "PATCH /v1/program as the PHP SDK's Settings::update sends it: `{ settings: { … } }`", requestBody: json({ $ref: '#/components/schemas/Settings' }), responses: { '200': ok('Program'), ...errors(401, 422) } },
      },
      '/v1/webhooks': {
        post: {
          summary: 'Subscribe a URL to events; the answer shows the signing secret (`signature`) once',
          description:
            'Each event is POSTed as `{ event, created_at, data }` with `Signature: hex(HMAC-SHA256(signature, raw body))`, `X-Partner-Ledger-Delivery` (the same on every retry) and `X-Partner-Ledger-Timestamp`. Any answer but 2xx (or none within 10 s) is retried after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. The URL must be http(s) and resolve to public addresses only.',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CreateWebhook' }) },
          responses: { '201': ok('Webhook', 'Created'), ...errors(400, 401, 422) },
        },
        get: { summary: "List the program's webhooks (secrets masked)", parameters: queryParams(WebhooksQuery), responses: { '200': { description: 'A page: { data: Webhook[], links, meta, status: 1 }' }, ...errors(401, 422) } },
      },
      '/v1/webhooks/events': {
        get: {
          summary: 'Every event name a subscription accepts, and whether this service ever sends it',
          description: `Never sent: ${Object.entries(NEVER_EMITTED).map(([name, why]) => `${name} (${why})`).join('; ')}.`,
          responses: { '200': { description: '{ data: [{ name, emitted, why_never? }], status: 1 }' }, ...errors(401) },
        },
      },
      '/v1/webhooks/{key}': {
        get: { summary: 'Get a webhook, with its health (disabled after 5 days of failed deliveries)', parameters: [keyParam()], responses: { '200': ok('Webhook'), ...errors(401, 404) } },
        patch: {
          summary: 'Change a webhook; `is_active: true` turns a disabled one on again',
          parameters: [keyParam()],
          requestBody: json({ $ref: '#/components/schemas/UpdateWebhook' }),
          responses: { '200': ok('Webhook'), ...errors(401, 404, 422) },
        },
        put: { summary: 'As PATCH (the PHP SDK\'s Webhooks::update)', parameters: [keyParam()], requestBody: json({ $ref: '#/components/schemas/UpdateWebhook' }), responses: { '200': ok('Webhook'), ...errors(401, 404, 422) } },
        delete: { summary: 'Delete a webhook; deliveries not yet sent are cancelled', parameters: [keyParam()], responses: { '200': ok('Webhook'), ...errors(401, 404) } },
      },
      '/v1/webhooks/{key}/deliveries': {
        get: {
          summary: "A webhook's deliveries, newest first: status, response code, duration, next retry",
          parameters: [keyParam(), ...queryParams(DeliveriesQuery)],
          responses: { '200': { description: '{ data: WebhookDelivery[], meta, status: 1 }' }, ...errors(401, 404, 422) },
        },
      },
      '/v1/webhooks/{key}/deliveries/{id}/retry': {
        post: {
          summary: 'Send a delivery again now (same delivery id), whatever its state',
          parameters: [keyParam(), keyParam('id')],
          responses: { '202': ok('WebhookDelivery', 'Queued'), ...errors(401, 404, 409, 503) },
        },
      },
      // Partnero's resources with no meaning here: documented, so a client's author sees why they answer 404
      ...Object.fromEntries(
        UNSUPPORTED.flatMap((u) =>
          Object.entries(u.openapi).map(([path, methods]) => [
            path,
            Object.fromEntries(
              methods.map((m) => [
                m,
                { summary: `Not supported: ${u.why}`, description: `Answers 404 with error.code \`not_supported\` (Partnero's ${u.what}).`, responses: errors(401, 404) },
              ]),
            ),
          ]),
        ),
      ),
      '/v1/api-keys': {
        post: {
          summary: 'Create another API key for the program; the answer shows the key (`key`) once',
          requestBody: json({ $ref: '#/components/schemas/CreateApiKey' }),
          responses: { '201': ok('ApiKey', 'Created'), ...errors(400, 401, 409, 422) },
        },
        get: {
          summary: "List the program's API keys, revoked ones too (masked, with when each was last used)",
          parameters: queryParams(ApiKeysQuery),
          responses: { '200': { description: '{ data: ApiKey[], meta, status: 1 }' }, ...errors(401, 422) },
        },
      },
      '/v1/api-keys/{id}': {
        delete: {
          summary: 'Revoke an API key: refused from its next request on (the key making the request too). The API_KEY of the environment is a 409 `env_api_key`: remove it from the environment instead',
          parameters: [keyParam('id')],
          responses: { '200': ok('ApiKey'), ...errors(401, 404, 409) },
        },
      },
    },
  };
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner Ledger API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/v1/openapi.json', dom_id: '#reference', deepLinking: true });`;

/** Public: the document and the reference page need no API key. */
export function docsRouter(): Router {
  const router = Router();
  const document = openApiDocument();
  const assets = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  router.get('/v1/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use('/docs/assets', express.static(assets, { index: false, maxAge: '1d' }));
  return router;
}
