// Re-attribution: payments booked to nobody because the partner their key named did not exist yet
// (or because the gateway lookup that would have found the key was not configured) are credited once
// that partner exists, as a payment booked now would be: the same attribution (core/attribution.ts),
// commission and lifetime (core/commission.ts), holds and caps (core/limits.ts), and refund arithmetic
// (core/refund.ts). Pure: storage loads the stored payments and customers, and writes the plan.
import { attribute, perPartnerBases, perPartnerKey, type CustomerMatch, type Referrer } from './attribution.js';
import { computeCommission, type RewardDraft } from './commission.js';
import { applyLimits, countPayment, type LimitStats } from './limits.js';
import type { Lookup, PartnerKeyPlace } from './payment-event.js';
import { stored, type CustomerRow, type LookupTrace } from './plan.js';
import type { ProgramRules } from './program.js';
import { reducedReward } from './refund.js';
import { decimal, decimalText, plus, unitOrCurrency, type Decimal } from './money.js';

/** A customer record as re-attribution sees it: stored, or made by this plan (the planner's row, less its bookkeeping). */
export type ReCustomer = Pick<
  CustomerRow,
  'id' | 'key' | 'emailLower' | 'gateway' | 'gatewayCustomerId' | 'perPartner' | 'fromBrowser' | 'deleted' | 'archived' | 'firstPaymentAt' | 'referrer' | 'linkedBy'
>;

/** A stored payment booked to nobody, as loaded. */
export type StoredPayment = {
  id: string;
  key: string;
  occurredAt: Date;
  amountMinor: bigint;
  refundedMinor: bigint;
  currency: string;
  isCurrency: boolean;
  product?: { id?: string; type?: string };
  gateway: string;
  action: string;
  /** A dispute is open: its rewards are held in review until it closes (db/ledger-reversals.ts). */
  disputeOpen: boolean;
  /** Its `attribution` record as stored. */
  attribution: Record<string, unknown>;
  /** The id of the customer record it was booked against (null: none). */
  customerId: string | null;
};

export type ReattributionPartner = Referrer & { kind: 'partner'; referralCode: string | null };

export type ReattributionInput = {
  program: ProgramRules;
  partner: ReattributionPartner;
  /** The candidates, any order: they are decided oldest first, as they were booked. */
  payments: StoredPayment[];
  /** Every customer record the payments name, and the partner's per-partner records of their payers. */
  customers: ReCustomer[];
  /** What holds and caps count against (core/limits.ts); the plan adds what it credits. */
  stats: LimitStats;
  now: Date;
  newId: () => string;
};

export type SkipReason =
  /** Booked through the REST API or a browser: whoever booked it named the partner then. */
  | 'not_a_gateway_payment'
  /** Its key no longer names this partner (credited meanwhile, or another key). */
  | 'not_named'
  /** Booked against no customer record. */
  | 'no_customer'
  /** Its customer was deleted. */
  | 'customer_deleted'
  /** Customer-based: its customer is linked to another partner, and links are permanent. */
  | 'customer_linked_elsewhere';

export type PlannedReward = RewardDraft & {
  /** What it is worth after the payment's partial refunds (the draft's amount is before them). */
  keptAmount: string;
  /** A dispute is open: held in review, to return to `status` when it is won. */
  heldFromStatus: RewardDraft['status'] | null;
};

export type ReattributionItem = {
  payment: StoredPayment;
  result: 'credited' | 'skipped';
  /** Skipped: why; credited: why no reward was made (lifetime, archived, capped ...), else null. */
  reason: SkipReason | string | null;
  /** The customer record it is booked against now. */
  customerId: string | null;
  customerKey: string | null;
  reward: PlannedReward | null;
  /** The new attribution record. */
  attribution: Record<string, unknown> | null;
};

export type ReattributionPlan = {
  items: ReattributionItem[];
  /** New per-partner records to insert. */
  created: ReCustomer[];
  /** Stored records linked to the partner now (they had none). */
  linked: ReCustomer[];
  /** Stored records whose first payment date may move earlier. */
  touched: ReCustomer[];
  outbox: { event: 'customer.created' | 'customer.updated' | 'transaction.created'; entityKey: string; detail: Record<string, unknown> }[];
};

type Record_ = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Whether a stored attribution record's partner key names this partner (its key, or Chargebee's referral code). */
export function namesPartner(record: Record_, partner: { key: string; referralCode: string | null }): boolean {
  const key = str(record.partner_key);
  if (key === null) return false;
  if (key === partner.key) return true;
  return str(record.partner_key_place) === 'chargebee_cf_referral_code' && partner.referralCode !== null && key === partner.referralCode;
}

const MATCHES: CustomerMatch[] = ['key', 'gateway_id', 'email'];

/**
 * The payer's identity as stored: a gateway's customer first seen by its id was named by that id
 * (so its per-partner record is `{gateway}_{id}__pkey_…`, core/attribution.ts perPartnerBases);
 * any other record by its key.
 */
export function storedIdentity(c: ReCustomer, gateway: string) {
  const byGatewayId = c.gateway === gateway && c.gatewayCustomerId !== null && c.gatewayCustomerId === c.key;
  const who = byGatewayId ? { gatewayId: c.key } : { key: c.key };
  return { who, baseCustomerKey: c.key, perPartner: perPartnerBases(who, gateway, c.key) };
}

/** Decide which of the payments the partner is credited with now, and what each earns. */
export function planReattribution(input: ReattributionInput): ReattributionPlan {
  const { program, partner, stats, now } = input;
  const byId = new Map<string, ReCustomer>();
  const byKey = new Map<string, ReCustomer>();
  for (const c of input.customers) {
    byId.set(c.id, c);
    byKey.set(c.key, c);
  }
  const plan: ReattributionPlan = { items: [], created: [], linked: [], touched: [], outbox: [] };
  const touched = new Set<ReCustomer>();
  const ordered = [...input.payments].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));

  for (const payment of ordered) {
    const skip = (reason: SkipReason) =>
      plan.items.push({ payment, result: 'skipped', reason, customerId: payment.customerId, customerKey: null, reward: null, attribution: null });
    const record = payment.attribution;
    // gateway payments only: a REST API or browser booking may have been unrewardable or held, which
    // its stored record does not say, and its caller named the partner it meant at the time
    if (payment.gateway === 'api' || str(record.event_type)?.startsWith('js.')) {
      skip('not_a_gateway_payment');
      continue;
    }
    if (!namesPartner(record, partner) || record.credited) {
      skip('not_named');
      continue;
    }
    const own = payment.customerId ? byId.get(payment.customerId) : undefined;
    if (!own) {
      skip('no_customer');
      continue;
    }
    if (own.perPartner) {
      // booked to another partner's record: not a payment booked to nobody
      skip('no_customer');
      continue;
    }
    if (own.deleted) {
      skip('customer_deleted');
      continue;
    }
    // the payer's own record: a transaction-based payment booked to nobody fell back to it
    const { who, baseCustomerKey, perPartner } = storedIdentity(own, payment.gateway);
    const perPartnerRow =
      program.attributionModel === 'transaction'
        ? (byKey.get(perPartnerKey(perPartner.base, partner.key)) ?? (perPartner.older ? byKey.get(perPartnerKey(perPartner.older, partner.key)) : undefined))
        : undefined;
    const storedMatch = str(record.customer_match);
    const matchedBy: CustomerMatch = MATCHES.includes(storedMatch as CustomerMatch) ? (storedMatch as CustomerMatch) : who.key ? 'key' : 'gateway_id';
    const place = (str(record.partner_key_place) ?? 'api_partner') as PartnerKeyPlace;
    const decision = attribute({
      model: program.attributionModel,
      partnerKey: { value: str(record.partner_key)!, place },
      keyReferrer: partner,
      baseCustomerKey,
      perPartnerBaseKey: perPartner.base,
      customer: { ...stored(own), matchedBy },
      perPartnerCustomer: perPartnerRow ? stored(perPartnerRow) : null,
      createCustomer: true,
      fromBrowser: false,
    });
    if (decision.credited?.kind !== 'partner' || decision.credited.id !== partner.id) {
      skip('customer_linked_elsewhere');
      continue;
    }
    let row: ReCustomer | undefined;
    const d = decision.customer;
    if (d.action === 'use') row = byKey.get(d.customer.key);
    if (d.action === 'link') {
      row = byKey.get(d.customer.key);
      if (row && !row.referrer) {
        row.referrer = partner;
        plan.linked.push(row);
        plan.outbox.push({ event: 'customer.updated', entityKey: row.key, detail: {} });
      }
    }
    if (d.action === 'create') {
      row = byKey.get(d.key);
      if (!row) {
        row = {
          id: input.newId(),
          key: d.key,
          emailLower: own.emailLower,
          gateway: payment.gateway,
          gatewayCustomerId: who.gatewayId ?? own.gatewayCustomerId,
          perPartner: d.perPartner,
          fromBrowser: false,
          deleted: false,
          archived: false,
          firstPaymentAt: null,
          referrer: d.referrer,
        };
        byKey.set(row.key, row);
        byId.set(row.id, row);
        plan.created.push(row);
        plan.outbox.push({ event: 'customer.created', entityKey: row.key, detail: {} });
      }
    }
    if (!row) {
      skip('no_customer');
      continue;
    }
    const occurredAt = payment.occurredAt;
    const commission = computeCommission(program, {
      amount: { minor: payment.amountMinor, currency: payment.currency, isCurrency: payment.isCurrency },
      product: payment.product,
      partnerKey: partner.key,
      occurredAt,
      customerFirstPaymentAt: row.firstPaymentAt && row.firstPaymentAt < occurredAt ? row.firstPaymentAt : null,
      partnerArchived: partner.archived ?? false,
      customerArchived: row.archived,
      rewardable: true,
      holdForReview: decision.hold,
      now,
    });
    let draft: RewardDraft | null = commission.rewards[0] ?? null;
    let reason: string | null = commission.reason;
    if (draft) {
      const limited = applyLimits(
        program,
        draft,
        {
          partner: { id: partner.id, key: partner.key, email: partner.email ?? null },
          customerId: row.id,
          payerEmail: own.emailLower ?? row.emailLower,
          currency: payment.currency,
          occurredAt,
        },
        stats,
      );
      draft = limited.draft ? { ...limited.draft, holdReason: limited.holdReason, cappedFrom: limited.cappedFrom } : null;
      if (!limited.draft) reason = 'capped';
    }
    countPayment(stats, partner.id, payment.currency, payment.amountMinor);
    if (row.firstPaymentAt === null || occurredAt < row.firstPaymentAt) row.firstPaymentAt = occurredAt;
    if (!plan.created.includes(row)) touched.add(row);

    const reward: PlannedReward | null = draft
      ? {
          ...draft,
          // a partial refund booked before takes its share, as it would have from a reward made then
          keptAmount: payment.refundedMinor > 0n ? reducedReward(draft, payment.amountMinor, payment.refundedMinor) : draft.amount,
          ...(payment.disputeOpen ? { status: 'review_period' as const, heldFromStatus: draft.status } : { heldFromStatus: null }),
        }
      : null;
    plan.items.push({
      payment,
      result: 'credited',
      reason,
      customerId: row.id,
      customerKey: row.key,
      reward,
      attribution: {
        ...record,
        ...decision.explanation,
        reward_reason: reason,
        reattributed_at: now.toISOString(),
      },
    });
    plan.outbox.push({ event: 'transaction.created', entityKey: payment.key, detail: { reattributed: true } });
  }
  plan.touched = [...touched];
  return plan;
}

// ---- lookups that were not configured ----

/**
 * The lookup a stored trace entry stands for. Entries recorded before the trace kept the object say
 * only where the key would be: each place is looked for on one kind of object (a Stripe subscription's
 * metadata reached through an invoice when the payment named only its invoice).
 */
export function lookupOf(gateway: string, t: LookupTrace & { object?: string }): Lookup | null {
  const object =
    t.object ??
    (t.place === 'stripe_subscription_metadata'
      ? t.id.startsWith('in_')
        ? 'invoice'
        : 'subscription'
      : t.place === 'stripe_customer_metadata' || t.place.startsWith('chargebee_cf_')
        ? 'customer'
        : t.place === 'paddle_subscription_custom_data'
          ? 'subscription'
          : t.place === 'paddle_transaction_custom_data'
            ? 'customer'
            : null);
  if (!object) return null;
  const parsed = { gateway, object, id: t.id, place: t.place };
  return parsed as Lookup;
}

export type RedoneLookup = { trace: LookupTrace[]; partnerKey: { value: string; place: PartnerKeyPlace } | null; stillNotConfigured: boolean };

/**
 * A payment's lookups done again: every `not_configured` entry in order, the first partner key found
 * being the payment's, each with what it found (the client's answer; null: the gateway says it does not exist; undefined:
 * the client is still not configured).
 */
export async function redoLookups(
  gateway: string,
  trace: LookupTrace[],
  look: (l: Lookup) => Promise<{ partnerKey?: string } | null | undefined>,
): Promise<RedoneLookup> {
  const out: LookupTrace[] = [];
  let partnerKey: RedoneLookup['partnerKey'] = null;
  let stillNotConfigured = false;
  for (const t of trace) {
    // every skipped lookup is done (the trace then says what each found); the first key found counts
    const l: Lookup | null = t.result === 'not_configured' ? lookupOf(gateway, t) : null;
    if (!l) {
      out.push(t);
      continue;
    }
    const found = await look(l);
    if (found === undefined) {
      stillNotConfigured = true;
      out.push(t);
      continue;
    }
    if (found?.partnerKey && !partnerKey) partnerKey = { value: found.partnerKey, place: l.place };
    out.push({ ...t, result: found === null ? 'not_found' : found.partnerKey ? 'found' : 'no_key' });
  }
  return { trace: out, partnerKey, stillNotConfigured };
}

/** The rewards of a plan, per unit, as exact decimal text. */
export function rewardTotals(items: ReattributionItem[]): Record<string, string> {
  const sums = new Map<string, Decimal>();
  for (const i of items) {
    const r = i.reward;
    if (i.result !== 'credited' || !r) continue;
    const u = unitOrCurrency(r.units, r.isCurrency);
    const v = decimal(r.keptAmount, u);
    const had = sums.get(r.units);
    sums.set(r.units, had ? plus(had, v) : v);
  }
  return Object.fromEntries([...sums].map(([units, v]) => [units, decimalText(v)]));
}
