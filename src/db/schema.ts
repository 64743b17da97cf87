// The PostgreSQL schema. Money is bigint minor units + currency; rewards are exact numeric.
// Unique keys, not queue job ids, decide duplicates.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { CapSettings, CommissionSettings, FraudSettings } from '../core/program.js';
import { PUBLIC_FIELDS, type GatewaySettings } from '../gateways/settings.js';
import { open, seal } from './secret-box.js';

export type { GatewaySettings };

const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 6 });
const createdAt = () => ts('created_at').notNull().defaultNow();
const updatedAt = () => ts('updated_at').notNull().defaultNow();

/** A secret, sealed on its way in and opened on its way out (secret-box.ts); `place` is authenticated with it. */
const sealedText = (name: string, place: string) =>
  customType<{ data: string; driverData: string }>({
    dataType: () => 'text',
    toDriver: (v) => seal(v, place),
    fromDriver: (v) => open(v, place),
  })(name);

function mapSecrets(g: GatewaySettings, f: (value: string, place: string) => string): GatewaySettings {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [gateway, fields] of Object.entries(g ?? {})) {
    if (!fields || typeof fields !== 'object') continue;
    const o: Record<string, unknown> = (out[gateway] = {});
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      const place = `programs.gateways.${gateway}.${field}`;
      if (PUBLIC_FIELDS.has(field)) o[field] = value;
      else if (typeof value === 'string') o[field] = f(value, place);
      else if (Array.isArray(value)) o[field] = value.map((v) => (typeof v === 'string' ? f(v, place) : v));
      else o[field] = value;
    }
  }
  return out as GatewaySettings;
}

/** A program's gateway settings as jsonb, each key and secret in it sealed. */
const gatewaySettings = customType<{ data: GatewaySettings; driverData: string }>({
  dataType: () => 'jsonb',
  toDriver: (v) => JSON.stringify(mapSecrets(v, seal)),
  fromDriver: (v) => mapSecrets((typeof v === 'string' ? JSON.parse(v) : v) as GatewaySettings, open),
});

export const programType = pgEnum('program_type', ['affiliate', 'refer_a_friend']);
export const attributionModel = pgEnum('attribution_model', ['customer', 'transaction']);
export const rewardStatus = pgEnum('reward_status', ['ok', 'review_period', 'rejected']);
export const inboxStatus = pgEnum('inbox_status', [
  'received', // stored, not yet on the queue (the sweeper re-queues these)
  'queued',
  'processed',
  'ignored',
  'failed',
]);
export const bulkRunStatus = pgEnum('bulk_run_status', ['queued', 'running', 'completed', 'failed']);

export const programs = pgTable('programs', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** A stable handle: the program start-up manages from the environment is `default`. */
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  type: programType('type').notNull().default('affiliate'),
  attributionModel: attributionModel('attribution_model').notNull().default('customer'),
  /** ISO 4217 code of fixed rewards, or a unit name (points) when is_currency is false. */
  currency: text('currency').notNull().default('USD'),
  isCurrency: boolean('is_currency').notNull().default(true),
  commission: jsonb('commission').$type<CommissionSettings>().notNull(),
  /** Holds (core/program.ts FraudSettings); {} is the defaults. */
  fraud: jsonb('fraud').$type<Partial<FraudSettings>>().notNull().default({}),
  /** Caps on rewards (core/program.ts CapSettings); {} is none. */
  caps: jsonb('caps').$type<Partial<CapSettings>>().notNull().default({}),
  reviewPeriodDays: integer('review_period_days').notNull().default(0),
  jsTracking: boolean('js_tracking').notNull().default(false),
  /** The query parameter of a referral link that po.js reads (`?ref=CODE`). */
  referralParameter: text('referral_parameter').notNull().default('ref'),
  /** How long po.js keeps a visit's referral code in its first-party cookie. */
  cookieLifetimeDays: integer('cookie_lifetime_days').notNull().default(30),
  /** Identifies the program to the browser snippet; not a secret. */
  publicKey: text('public_key').notNull().unique(),
  /** Signs outbound webhooks and bulk callbacks. */
  signingSecret: sealedText('signing_secret', 'programs.signing_secret').notNull(),
  /** false: only test-mode gateway events are booked; true: only live ones; null: both. */
  livemode: boolean('livemode'),
  gateways: gatewaySettings('gateways').notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    /** sha256 of the key, hex; the key itself is shown once and never stored. */
    keyHash: text('key_hash').notNull().unique(),
    /** The first characters, to tell keys apart in a list. */
    prefix: text('prefix').notNull(),
    name: text('name').notNull().default(''),
    /** `env` for the key start-up takes from API_KEY, `cli` for created ones. */
    source: text('source').notNull().default('cli'),
    createdAt: createdAt(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [index('api_keys_program_idx').on(t.programId)],
);

export const partners = pgTable(
  'partners',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    email: text('email'),
    name: text('name'),
    surname: text('surname'),
    /** A referral code (Chargebee's cf_referral_code) that names this partner too. */
    referralCode: text('referral_code'),
    /** Free labels a merchant gives (Partnero's partner tags). */
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    /** Archived through the API: hidden from lists unless asked for, readable, and restorable. */
    archivedAt: ts('archived_at'),
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    uniqueIndex('partners_program_key_uq').on(t.programId, t.key),
    uniqueIndex('partners_program_referral_code_uq').on(t.programId, t.referralCode),
    index('partners_program_email_idx').on(t.programId, sql`lower(${t.email})`),
  ],
);

/**
 * Partnero's coupons: a discount rule (its `uuid_code`, unique in the program, case-insensitive) that
 * promotion codes point to. Kept for Partnero's clients; attribution reads only the promotion codes.
 */
export const coupons = pgTable(
  'coupons',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    uuidCode: text('uuid_code').notNull(),
    name: text('name'),
    active: boolean('active').notNull().default(true),
    discountType: text('discount_type'),
    discountAmount: numeric('discount_amount'),
    durationType: text('duration_type'),
    durationValue: integer('duration_value'),
    /** Partnero's redemption_* settings, kept as given and echoed: the gateway enforces its discount's rules. */
    restrictions: jsonb('restrictions').$type<Record<string, unknown>>().notNull().default({}),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('coupons_program_uuid_code_uq').on(t.programId, sql`lower(${t.uuidCode})`),
    index('coupons_program_idx').on(t.programId, t.createdAt, t.id),
  ],
);

/**
 * Promotion codes: what a customer types at checkout (unique in the program, case-insensitive). A
 * code a partner owns credits that partner when a payment used it and named no partner key.
 */
export const promotionCodes = pgTable(
  'promotion_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    code: text('code').notNull(),
    /** The partner it credits; null: a code of the program that credits nobody. */
    partnerId: uuid('partner_id').references(() => partners.id, { onDelete: 'cascade' }),
    couponId: uuid('coupon_id').references(() => coupons.id, { onDelete: 'cascade' }),
    /** Partnero's first_time_order, minimum_order_*, expiration_date_*, redemption_times_*: kept and echoed, not enforced. */
    restrictions: jsonb('restrictions').$type<Record<string, unknown>>().notNull().default({}),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('promotion_codes_program_code_uq').on(t.programId, sql`lower(${t.code})`),
    index('promotion_codes_partner_idx').on(t.partnerId, t.createdAt, t.id),
    index('promotion_codes_program_idx').on(t.programId, t.createdAt, t.id),
    index('promotion_codes_coupon_idx').on(t.couponId),
  ],
);

/** A partner's referral links (Partnero's partner_referral_links): a key, unique in the program. */
export const partnerReferralLinks = pgTable(
  'partner_referral_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    partnerId: uuid('partner_id')
      .notNull()
      .references(() => partners.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** The link's URL as the merchant gave it: this service hosts no redirects. */
    url: text('url'),
    isAdditional: boolean('is_additional').notNull().default(false),
    directTracking: boolean('direct_tracking').notNull().default(false),
    directTrackingRedirect: boolean('direct_tracking_redirect').notNull().default(false),
    directTrackingRedirectUrl: text('direct_tracking_redirect_url'),
    /** Visits through the link that po.js reported (any page can report one: a rough count). */
    clicks: integer('clicks').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('partner_referral_links_program_key_uq').on(t.programId, t.key),
    index('partner_referral_links_partner_idx').on(t.partnerId, t.createdAt, t.id),
    index('partner_referral_links_program_idx').on(t.programId, t.createdAt, t.id),
  ],
);

export const customers = pgTable(
  'customers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    /** The customer's key; transaction-based records are `{customer_key}__pkey_{partner_key}` (`stripe_cus_123__pkey_P` for a gateway's customer). */
    key: text('key').notNull(),
    email: text('email'),
    name: text('name'),
    surname: text('surname'),
    /** The partner this customer is linked to, for good (affiliate programs). */
    partnerId: uuid('partner_id').references(() => partners.id),
    /** The referring customer (refer-a-friend programs). */
    referringCustomerId: uuid('referring_customer_id'),
    /** The gateway the customer was first seen on, and its id there. */
    gateway: text('gateway'),
    gatewayCustomerId: text('gateway_customer_id'),
    /** A transaction-based record (`{customer_key}__pkey_{partner_key}`), not a customer of its own. */
    perPartner: boolean('per_partner').notNull().default(false),
    /**
     * `browser`: created by a request holding the program's public key, which anyone can read off the
     * page. Such a customer is never matched by email and what it earns its partner stays in review.
     */
    origin: text('origin').$type<'server' | 'browser'>().notNull().default('server'),
    /**
     * How the partner link was made, when it says more than "a payment or the API":
     * `referral_link` (a po.js signup carrying a visit's referral code). Null otherwise.
     */
    linkedBy: text('linked_by').$type<'referral_link'>(),
    firstPaymentAt: ts('first_payment_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    /** Archived through the API: hidden from lists unless asked for, readable, and restorable. */
    archivedAt: ts('archived_at'),
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    uniqueIndex('customers_program_key_uq').on(t.programId, t.key),
    index('customers_program_gateway_id_idx').on(t.programId, t.gateway, t.gatewayCustomerId),
    index('customers_program_email_idx').on(t.programId, sql`lower(${t.email})`),
    index('customers_partner_idx').on(t.partnerId),
  ],
);

export const transactions = pgTable(
  'transactions',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    /** Unique per program: the gateway's payment id, or the key an API client chose. */
    key: text('key').notNull(),
    action: text('action').notNull().default('sale'),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    /** ISO 4217 code, or a unit name when is_currency is false. */
    currency: text('currency').notNull(),
    isCurrency: boolean('is_currency').notNull().default(true),
    refundedMinor: bigint('refunded_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    taxMinor: bigint('tax_minor', { mode: 'bigint' }),
    customerId: uuid('customer_id').references(() => customers.id),
    partnerId: uuid('partner_id').references(() => partners.id),
    gateway: text('gateway').notNull(),
    productId: text('product_id'),
    productType: text('product_type'),
    /** Which attribution path and partner-key place were used, and why no reward was made. */
    attribution: jsonb('attribution').notNull().default({}),
    /** Extra fields API clients send (gross_amount, discount_code, ...). */
    details: jsonb('details').notNull().default({}),
    /** When the payment happened (the gateway's time, or the API's created_at). */
    createdAt: createdAt(),
    recordedAt: ts('recorded_at').notNull().defaultNow(),
    updatedAt: updatedAt(),
    /** The latest dispute's state: `opened` holds the rewards, `won` restored them, `lost` deleted. */
    disputeStatus: text('dispute_status'),
    archivedAt: ts('archived_at'),
    deletedAt: ts('deleted_at'),
    /** refunded | dispute_lost | deleted_via_api */
    deletedReason: text('deleted_reason'),
    /** The gateway's refund or dispute id that deleted it (null for the API). */
    deletedBy: text('deleted_by'),
    /** The gateway ids of the refunds standing that reduce it (a reversed refund leaves the list). */
    reducedBy: text('reduced_by').array().notNull().default(sql`'{}'::text[]`),
  },
  (t) => [
    uniqueIndex('transactions_program_key_uq').on(t.programId, t.key),
    // keyset pagination: newest first within a program
    index('transactions_program_created_idx').on(t.programId, t.createdAt, t.id),
    index('transactions_customer_idx').on(t.customerId),
    index('transactions_partner_idx').on(t.partnerId),
    // payments booked to nobody by the partner key they named: what re-attribution (db/reattribute.ts)
    // and a partner's pending_attribution look up
    index('transactions_unattributed_key_idx')
      .on(t.programId, sql`(${t.attribution}->>'partner_key')`)
      .where(sql`${t.partnerId} is null and ${t.deletedAt} is null`),
  ],
);

export const rewards = pgTable(
  'rewards',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    /** The transaction it rewards; null for a manual reward (kind `manual`), which rewards none. */
    transactionId: bigint('transaction_id', { mode: 'bigint' }).references(() => transactions.id),
    key: text('key').notNull(),
    /** `commission`: computed from a transaction; `manual`: credited by hand (POST /v1/partners/{key}/reward). */
    kind: text('kind', { enum: ['commission', 'manual'] }).notNull().default('commission'),
    /** Why a manual reward was given. */
    note: text('note'),
    action: text('action').notNull().default('sale'),
    partnerId: uuid('partner_id').references(() => partners.id),
    /** In refer-a-friend programs, the referring customer earns the reward. */
    customerId: uuid('customer_id').references(() => customers.id),
    amount: numeric('amount').notNull(),
    /** The amount before partial refunds: reductions are computed from it, so they never drift. */
    originalAmount: numeric('original_amount').notNull(),
    units: text('units').notNull(),
    isCurrency: boolean('is_currency').notNull().default(true),
    status: rewardStatus('status').notNull(),
    /** The status to restore when a dispute is won. */
    heldFromStatus: rewardStatus('held_from_status'),
    reviewEndsAt: ts('review_ends_at'),
    basis: jsonb('basis').notNull().default({}),
    /** Held in review until the merchant releases or rejects it: self_referral, refund_rate. */
    holdReason: text('hold_reason'),
    /** The amount before a cap cut it. */
    cappedFrom: numeric('capped_from'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    archivedAt: ts('archived_at'),
    deletedAt: ts('deleted_at'),
    /** refunded | dispute_lost | deleted_via_api: a reversal restores only what it deleted. */
    deletedReason: text('deleted_reason'),
  },
  (t) => [
    uniqueIndex('rewards_program_key_uq').on(t.programId, t.key),
    index('rewards_transaction_idx').on(t.transactionId),
    index('rewards_review_idx').on(t.reviewEndsAt).where(sql`${t.status} = 'review_period'`),
    index('rewards_partner_idx').on(t.partnerId, t.createdAt, t.id).where(sql`${t.partnerId} is not null`),
    check('rewards_kind_check', sql`${t.kind} in ('commission', 'manual') and (${t.kind} = 'manual' or ${t.transactionId} is not null)`),
  ],
);

/** The raw inbox: every verified gateway delivery, kept with its body so it can be replayed. */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    gateway: text('gateway').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type'),
    livemode: boolean('livemode'),
    receivedAt: ts('received_at').notNull().defaultNow(),
    /** The body as delivered; null once INBOX_RETENTION_DAYS have passed (the row stays, for dedupe). */
    rawBody: text('raw_body'),
    /** Delivery metadata worth keeping (delivery id, topic); never signatures or secrets. */
    headers: jsonb('headers').notNull().default({}),
    verified: boolean('verified').notNull().default(true),
    status: inboxStatus('status').notNull().default('received'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** What processing did: transaction key, partner-key place, ignore reason. */
    outcome: jsonb('outcome'),
    processedAt: ts('processed_at'),
  },
  (t) => [
    uniqueIndex('webhook_events_program_gateway_event_uq').on(t.programId, t.gateway, t.eventId),
    index('webhook_events_status_received_idx').on(t.status, t.receivedAt),
    index('webhook_events_program_received_idx').on(t.programId, t.gateway, t.receivedAt),
  ],
);

export const bulkRuns = pgTable(
  'bulk_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    status: bulkRunStatus('status').notNull().default('queued'),
    total: integer('total').notNull(),
    processed: integer('processed').notNull().default(0),
    succeeded: integer('succeeded').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    /** The items as received (validated ones and the reasons of the others), kept until the run ends. */
    items: jsonb('items').notNull().default([]),
    /** One entry per failed item: its index, tid and the reason. */
    errors: jsonb('errors').notNull().default([]),
    options: jsonb('options').notNull().default({}),
    callbackUrl: text('callback_url'),
    callbackStatus: text('callback_status'),
    createdAt: createdAt(),
    completedAt: ts('completed_at'),
  },
  (t) => [index('bulk_runs_program_idx').on(t.programId, t.createdAt)],
);

/** Every id under which a stored payment may be referred to (its key, charge, invoice, order ...). */
export const transactionRefs = pgTable(
  'transaction_refs',
  {
    /**
     * Its transaction's program. Not a foreign key of its own: the transaction's is checked already,
     * and the ref goes when its transaction goes. A payment stores two or three refs, and each key
     * checked is a query the worker's insert runs per row (a tenth of its database time).
     */
    programId: uuid('program_id').notNull(),
    ref: text('ref').notNull(),
    transactionId: bigint('transaction_id', { mode: 'bigint' })
      .notNull()
      .references(() => transactions.id, { onDelete: 'cascade' }),
  },
  (t) => [
    uniqueIndex('transaction_refs_program_ref_uq').on(t.programId, t.ref),
    index('transaction_refs_transaction_idx').on(t.transactionId),
  ],
);

/**
 * Each gateway refund, applied once. A refund whose payment is not stored yet waits here
 * (transaction_id null, applied_at null) and is applied when the payment arrives.
 */
export const refunds = pgTable(
  'refunds',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    gateway: text('gateway').notNull(),
    refundId: text('refund_id').notNull(),
    paymentRefs: text('payment_refs').array().notNull(),
    /** null: the whole payment. */
    amountMinor: bigint('amount_minor', { mode: 'bigint' }),
    currency: text('currency'),
    /** The amount is the payment's running refunded total (Stripe's charge.amount_refunded). */
    cumulative: boolean('cumulative').notNull().default(false),
    transactionId: bigint('transaction_id', { mode: 'bigint' }).references(() => transactions.id),
    occurredAt: ts('occurred_at').notNull(),
    appliedAt: ts('applied_at'),
    /**
     * The gateway took the refund back (failed, canceled, voided, deleted): it no longer counts. Set
     * before the refund itself arrives when the reversal comes first, so the refund is never applied.
     */
    reversedAt: ts('reversed_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('refunds_transaction_idx').on(t.transactionId),
    uniqueIndex('refunds_program_gateway_refund_uq').on(t.programId, t.gateway, t.refundId),
    // fastupdate off: a pending list (every refund inserted since the last vacuum) made each batch's
    // lookup of waiting refunds read thousands of entries (59 ms at 11,000 refunds)
    index('refunds_pending_refs_idx')
      .using('gin', t.paymentRefs)
      .with({ fastupdate: false })
      .where(sql`${t.appliedAt} is null`),
  ],
);

/** Each gateway dispute and its latest state; like refunds, it may arrive before its payment. */
export const disputes = pgTable(
  'disputes',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    gateway: text('gateway').notNull(),
    disputeId: text('dispute_id').notNull(),
    paymentRefs: text('payment_refs').array().notNull(),
    status: text('status').notNull(),
    transactionId: bigint('transaction_id', { mode: 'bigint' }).references(() => transactions.id),
    occurredAt: ts('occurred_at').notNull(),
    appliedAt: ts('applied_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('disputes_program_gateway_dispute_uq').on(t.programId, t.gateway, t.disputeId),
    index('disputes_pending_refs_idx')
      .using('gin', t.paymentRefs)
      .with({ fastupdate: false })
      .where(sql`${t.appliedAt} is null`),
  ],
);

// ---- outbound webhooks ----

/** A merchant's subscription to commission events (Partnero's /v1/webhooks). */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    name: text('name').notNull().default(''),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    isActive: boolean('is_active').notNull().default(true),
    /** The signing secret (shown once, as `signature`). */
    secret: sealedText('secret', 'webhook_subscriptions.secret').notNull(),
    disabledAt: ts('disabled_at'),
    disabledReason: text('disabled_reason'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: ts('deleted_at'),
  },
  (t) => [uniqueIndex('webhook_subscriptions_program_key_uq').on(t.programId, t.key), index('webhook_subscriptions_program_idx').on(t.programId)],
);

/**
 * The outbox: an event written in the same database transaction as the change that caused it, then
 * dispatched to the subscriptions. A rolled-back change never announces itself; a crash between
 * commit and dispatch loses nothing.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    /** transaction.created, transaction.deleted, reward.status_changed, customer.created, ... */
    event: text('event').notNull(),
    /** The entity the event is about: a transaction, customer or partner key. */
    entityKey: text('entity_key').notNull(),
    /** Event-specific facts (a reward's old and new status ...). */
    detail: jsonb('detail').notNull().default({}),
    createdAt: createdAt(),
    dispatchedAt: ts('dispatched_at'),
  },
  (t) => [index('outbox_pending_idx').on(t.id).where(sql`${t.dispatchedAt} is null`)],
);

/** Each attempt to deliver an outbox event to a subscription. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    outboxId: bigint('outbox_id', { mode: 'bigint' })
      .notNull()
      .references(() => outbox.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    /** pending, delivered, retrying, failed */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    responseCode: integer('response_code'),
    durationMs: integer('duration_ms'),
    lastError: text('last_error'),
    nextRetryAt: ts('next_retry_at'),
    createdAt: createdAt(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_subscription_outbox_uq').on(t.subscriptionId, t.outboxId),
    index('webhook_deliveries_subscription_created_idx').on(t.subscriptionId, t.createdAt),
  ],
);

/** Deliveries refused at the door (bad signature ...), kept briefly for the integration status. */
export const webhookRejections = pgTable(
  'webhook_rejections',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    gateway: text('gateway').notNull(),
    code: text('code').notNull(),
    message: text('message').notNull(),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [index('webhook_rejections_program_received_idx').on(t.programId, t.gateway, t.receivedAt)],
);

// ---- balances and payouts ----

/** Partnero's payout request states: requested → approved → finished, or rejected before it is paid. */
export const payoutRequestStatus = pgEnum('payout_request_status', ['requested', 'approved', 'rejected', 'finished']);

/** A partner's rewards in one currency, gathered to be paid (Partnero's payout requests). Moved only by db/payouts.ts. */
export const payoutRequests = pgTable(
  'payout_requests',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    partnerId: uuid('partner_id')
      .notNull()
      .references(() => partners.id),
    status: payoutRequestStatus('status').notNull().default('requested'),
    /** The sum of its rewards' amounts; fixed from approval on (later reductions are clawbacks). */
    amount: numeric('amount').notNull(),
    /** ISO 4217 code of its rewards. */
    currency: text('currency').notNull(),
    /** paypal, wise, bank, crypto or manual. */
    gateway: text('gateway').notNull().default('manual'),
    payoutSettings: jsonb('payout_settings').$type<Record<string, unknown>>().notNull().default({}),
    note: text('note'),
    /** The payment's reference once paid (a PayPal batch id, a bank reference ...). */
    reference: text('reference'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    approvedAt: ts('approved_at'),
    rejectedAt: ts('rejected_at'),
    paidAt: ts('paid_at'),
  },
  (t) => [index('payout_requests_program_created_idx').on(t.programId, t.createdAt, t.id), index('payout_requests_partner_idx').on(t.partnerId, t.status)],
);

/** The rewards a payout request takes. A reward is in at most one request that is not rejected: the partial unique index says so. */
export const payoutRequestRewards = pgTable(
  'payout_request_rewards',
  {
    payoutRequestId: bigint('payout_request_id', { mode: 'bigint' })
      .notNull()
      .references(() => payoutRequests.id, { onDelete: 'cascade' }),
    rewardId: bigint('reward_id', { mode: 'bigint' })
      .notNull()
      .references(() => rewards.id),
    /** The reward's amount as the request takes it (brought up to date at approval). */
    amount: numeric('amount').notNull(),
    /** The request was rejected (or the reward was gone at approval): the reward is free again. */
    released: boolean('released').notNull().default(false),
  },
  (t) => [
    primaryKey({ name: 'payout_request_rewards_pk', columns: [t.payoutRequestId, t.rewardId] }),
    uniqueIndex('payout_request_rewards_taken_uq').on(t.rewardId).where(sql`not ${t.released}`),
  ],
);

/**
 * Money a partner owes back: a refund or lost dispute that reached a reward already in an approved or
 * paid request. Balances read it (open: not cancelled, not settled by a request that stands); the
 * ledger writes it.
 */
export const clawbacks = pgTable(
  'clawbacks',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    partnerId: uuid('partner_id')
      .notNull()
      .references(() => partners.id),
    kind: text('kind').$type<'clawback'>().notNull().default('clawback'),
    /** Positive: what the partner owes; negative: what is owed to the partner (a netted clawback reversed). */
    amount: numeric('amount').notNull(),
    currency: text('currency').notNull(),
    rewardId: bigint('reward_id', { mode: 'bigint' }).references(() => rewards.id),
    refundId: bigint('refund_id', { mode: 'bigint' }).references(() => refunds.id),
    disputeId: bigint('dispute_id', { mode: 'bigint' }).references(() => disputes.id),
    /** The payout request whose money it takes back. */
    payoutRequestId: bigint('payout_request_id', { mode: 'bigint' }).references(() => payoutRequests.id),
    /** The later request that netted it, if any. */
    settledPayoutRequestId: bigint('settled_payout_request_id', { mode: 'bigint' }).references(() => payoutRequests.id),
    createdAt: createdAt(),
    /** A restored refund or a won dispute cancels it. */
    cancelledAt: ts('cancelled_at'),
  },
  (t) => [
    index('clawbacks_partner_idx').on(t.partnerId, t.currency),
    check('clawbacks_kind_check', sql`${t.kind} = 'clawback'`),
    // negative: a credit, for a clawback a payout netted whose refund the gateway later took back
    check('clawbacks_amount_check', sql`${t.amount} <> 0`),
  ],
);

/**
 * One reconcile of a program's gateway over [range_from, range_to): the scheduled ones (and their
 * outcome) say where the next one starts, and the integration status shows what they found missing.
 */
export const reconcileRuns = pgTable(
  'reconcile_runs',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'cascade' }),
    gateway: text('gateway').notNull(),
    rangeFrom: ts('range_from').notNull(),
    rangeTo: ts('range_to').notNull(),
    /** `schedule` (RECONCILE_EVERY_MINUTES: its completed runs are where the next one starts) or `cli`. */
    trigger: text('trigger').notNull().default('schedule'),
    /** `running`, `completed` or `failed` (then `error` says why). */
    status: text('status').notNull().default('running'),
    startedAt: ts('started_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
    /** Records the gateway listed in the range. */
    found: integer('found').notNull().default(0),
    /** Of those, the ones the inbox did not have (no webhook delivered them). */
    missing: integer('missing').notNull().default(0),
    queued: integer('queued').notNull().default(0),
    error: text('error'),
  },
  (t) => [index('reconcile_runs_program_gateway_idx').on(t.programId, t.gateway, t.startedAt)],
);
