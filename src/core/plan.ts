// The planner: given a snapshot of what the store knows (stored payment ids, partners, customers with
// their referrers, waiting refunds and disputes) and a run of payments, decide every payment IN ORDER
// (so payments of one run see each other exactly as they would one at a time) and return the rows to
// write. Pure: storage loads the snapshot and applies the plan, in one statement each.
import { attribute, perPartnerBases, perPartnerKey, type Referrer, type StoredCustomer } from './attribution.js';
import { computeCommission, type RewardDraft } from './commission.js';
import { applyLimits, countPayment, emptyStats, type LimitStats } from './limits.js';
import { KindedError } from './errors.js';
import { MoneyError } from './money.js';
import type { PaymentFact } from './payment-event.js';
import type { ProgramRules } from './program.js';

/** A gateway lookup made while enriching a payment, and what it found. */
export type LookupTrace = { place: string; id: string; result: 'found' | 'not_found' | 'no_key' | 'not_configured' };
export type EnrichedPayment = PaymentFact & { lookupTrace?: LookupTrace[] };

export type PaymentOutcome = {
  kind: 'payment';
  result: 'created' | 'merged' | 'corrected';
  transactionKey: string;
  rewards: number;
  reason: string | null;
};

/** The payload itself is wrong (an unknown currency, a refund in another currency): retrying cannot help. */
export class LedgerDataError extends KindedError {
  override name = 'LedgerDataError';
  readonly kind = 'payload' as const;
  constructor(detail: string) {
    super('payload', detail);
  }
}

type Identity = { key?: string; gatewayId?: string; email?: string };

/** Who pays: the identities a customer is matched by, and the key a new record of theirs gets. */
export function identityOf(e: EnrichedPayment) {
  const who: Identity = { key: e.customer.key, gatewayId: e.customer.id, email: e.customer.email?.trim() || undefined };
  const baseCustomerKey = who.key ?? who.gatewayId ?? who.email?.toLowerCase() ?? `guest_${e.transactionKey}`;
  return { who, baseCustomerKey, perPartner: perPartnerBases(who, e.gateway, baseCustomerKey) };
}

/** What a transaction's `attribution` says: how its partner was found and why it earned what it did. */
export function attributionRecord(e: EnrichedPayment, explanation: object, rewardReason: string | null) {
  return {
    ...explanation,
    lookups: e.lookupTrace ?? [],
    reward_reason: rewardReason,
    event_id: e.eventId,
    event_type: e.eventType,
  };
}

/** A customer record as the planner sees it: stored, or made by this plan. */
export type CustomerRow = {
  id: string;
  programId: string;
  key: string;
  emailLower: string | null;
  gateway: string | null;
  gatewayCustomerId: string | null;
  perPartner: boolean;
  /** Created through the public browser key: never matched by email. */
  fromBrowser: boolean;
  deleted: boolean;
  /** Archived: its new sales are recorded and earn nothing until it is restored. */
  archived: boolean;
  createdAt: number;
  /** Order among rows of equal createdAt: stored ones first, then in the order this plan made them. */
  seq: number;
  firstPaymentAt: Date | null;
  referrer: Referrer | null;
  /** `referral_link`: linked by a po.js signup carrying a visit's referral code. */
  linkedBy?: 'referral_link' | null;
  /** Made by this plan (to insert), or stored (to update when a payment touches it). */
  fresh: null | { email: string | null; name: string | null; surname: string | null };
  touched: boolean;
  /** A stored customer linked to a partner by this plan (it had none). */
  linkedNow: boolean;
  /** A stored customer without a gateway that learned its gateway's customer id from this plan. */
  gatewayNow?: boolean;
};

export class CustomerStore {
  private byKey = new Map<string, CustomerRow>();
  private byGateway = new Map<string, CustomerRow[]>();
  private byEmail = new Map<string, CustomerRow[]>();
  readonly rows: CustomerRow[] = [];

  add(r: CustomerRow) {
    const k = `${r.programId}|${r.key}`;
    if (this.byKey.has(k)) return;
    this.byKey.set(k, r);
    this.rows.push(r);
    if (r.gateway !== null && r.gatewayCustomerId !== null) push(this.byGateway, `${r.programId}|${r.gateway}|${r.gatewayCustomerId}`, r);
    if (r.emailLower !== null && !r.fromBrowser) push(this.byEmail, `${r.programId}|${r.emailLower}`, r);
  }

  /**
   * A customer created without a gateway (a po.js signup, the API) and found by key learns the
   * gateway's customer id of its first payment, so the payments that name only that id (a
   * subscription's renewals) find it too. false: it has a gateway already.
   */
  adoptGateway(r: CustomerRow, gateway: string, gatewayCustomerId: string): boolean {
    if (r.gateway !== null || r.perPartner) return false;
    r.gateway = gateway;
    r.gatewayCustomerId = gatewayCustomerId;
    push(this.byGateway, `${r.programId}|${gateway}|${gatewayCustomerId}`, r);
    return true;
  }

  /** Any row with this key (deleted and per-partner ones too). */
  anyByKey(programId: string, key: string) {
    return this.byKey.get(`${programId}|${key}`) ?? null;
  }

  /**
   * The payer's own record: a live customer of its own, by key, else gateway id, else email (never one
   * a browser created: anyone could have typed it); the oldest. A browser's report matches by key only.
   */
  find(programId: string, gateway: string, who: Identity, fromBrowser: boolean) {
    const live = (r: CustomerRow | null | undefined) => !!r && !r.perPartner && !r.deleted;
    if (who.key) {
      const r = this.byKey.get(`${programId}|${who.key}`);
      if (live(r)) return { row: r!, matchedBy: 'key' as const };
    }
    if (fromBrowser) return null;
    if (who.gatewayId) {
      // a customer the merchant's site signed up (po.js, the API) under the gateway's customer id as
      // its key: Paddle's ctm_…, a Chargebee id the merchant chose; matched by key, never by email
      const r = this.byKey.get(`${programId}|${who.gatewayId}`);
      if (live(r) && r!.gateway === null) return { row: r!, matchedBy: 'key' as const };
    }
    if (who.gatewayId) {
      const r = oldest(this.byGateway.get(`${programId}|${gateway}|${who.gatewayId}`), live);
      if (r) return { row: r, matchedBy: 'gateway_id' as const };
    }
    if (who.email) {
      const r = oldest(this.byEmail.get(`${programId}|${who.email.toLowerCase()}`), live);
      if (r) return { row: r, matchedBy: 'email' as const };
    }
    return null;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V) {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function oldest(rows: CustomerRow[] | undefined, keep: (r: CustomerRow) => boolean): CustomerRow | null {
  let best: CustomerRow | null = null;
  for (const r of rows ?? []) {
    if (!keep(r)) continue;
    if (!best || r.createdAt < best.createdAt || (r.createdAt === best.createdAt && r.seq < best.seq)) best = r;
  }
  return best;
}

/** A customer row as attribution reads it (core/attribution.ts StoredCustomer). */
export const stored = (r: Pick<CustomerRow, 'id' | 'key' | 'referrer' | 'firstPaymentAt' | 'fromBrowser' | 'archived' | 'linkedBy'>): StoredCustomer => ({
  id: r.id,
  key: r.key,
  referrer: r.referrer,
  firstPaymentAt: r.firstPaymentAt,
  fromBrowser: r.fromBrowser,
  archived: r.archived,
  linkedBy: r.linkedBy ?? null,
});

export type PartnerRow = { id: string; programId: string; key: string; referralCode: string | null; archived: boolean; email: string | null };

/** What the store knows that a run of payments needs, as loaded. */
export type Snapshot = {
  /** The store's clock, ms. */
  now: number;
  /** Stored payment ids: program|ref → the transaction. */
  refs: Map<string, { id: string | null; key: string }>;
  partners: PartnerRow[];
  /** program|referral link key → the link's partner id (a link's key names its partner). */
  links: Map<string, string>;
  /** program|lower(promotion code) → the partner id owning it (codes the run's payments used). */
  coupons?: Map<string, string>;
  customers: Omit<CustomerRow, 'seq' | 'fresh' | 'touched' | 'linkedNow'>[];
  /** program|ref of the refunds and disputes waiting for their payment. */
  waitingRefs: Set<string>;
  /** The figures holds and caps need (loaded only for programs that set some). */
  limits?: LimitStats;
};

/** A payment to plan, in order: its place (job, position in the job) travels with it. */
export type PlanInput<T> = { at: T; e: EnrichedPayment; program: ProgramRules };

export type PlannedTransaction<T> = {
  at: T;
  program: ProgramRules;
  key: string;
  refs: string[];
  /** The transactions row, as storage writes it. */
  row: Record<string, unknown>;
  rewards: RewardDraft[];
  credited: Referrer | null;
  occurredAt: Date;
  action: string;
};

export type PaymentPlan<T> = {
  outcomes: [T, PaymentOutcome][];
  created: PlannedTransaction<T>[];
  /** New payment ids: of a stored transaction (tid), or of one this plan makes (by key). */
  refInserts: { p: string; ref: string; tid: string | null; key: string }[];
  outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown> }[];
  /** Every customer the plan knows: `fresh` ones to insert, `touched` ones to update. */
  customers: CustomerRow[];
  /** program|ref of created payments that a waiting refund or dispute names. */
  waitingRefs: Set<string>;
};

/** A payment that cannot be booked as given; `at` names it so the others can go on without it. */
export class PlanFailure<T> extends Error {
  constructor(
    readonly at: T,
    readonly error: unknown,
  ) {
    super('payment failed');
  }
}

export function refsOf(e: EnrichedPayment): string[] {
  return [...new Set([e.transactionKey, ...e.aliases])];
}

/**
 * Decide a run of payments against a snapshot. `newId` names new customer records. A payment that
 * fails on its own data throws PlanFailure (nothing of the plan is written then).
 */
export function planPayments<T>(snapshot: Snapshot, list: PlanInput<T>[], now: Date, newId: () => string): PaymentPlan<T> {
  const refMap = new Map(snapshot.refs);
  const partnersByKey = new Map<string, PartnerRow>();
  const partnersByCode = new Map<string, PartnerRow>();
  const partnersById = new Map<string, PartnerRow>();
  for (const row of snapshot.partners) {
    partnersById.set(row.id, row);
    partnersByKey.set(`${row.programId}|${row.key}`, row);
    if (row.referralCode !== null) partnersByCode.set(`${row.programId}|${row.referralCode}`, row);
  }
  const store = new CustomerStore();
  let seq = 0;
  for (const c of snapshot.customers) store.add({ ...c, seq: seq++, fresh: null, touched: false, linkedNow: false });

  /** What a partner key names: a partner (or its referral code), or in refer-a-friend a customer. */
  const referrerByKey = (program: ProgramRules, key: string, place: string): Referrer | null => {
    if (program.type === 'refer_a_friend') {
      const c = store.anyByKey(program.id, key);
      return c && !c.perPartner && !c.deleted ? { kind: 'customer', id: c.id, key: c.key, archived: c.archived } : null;
    }
    // the referral code (Chargebee's field), the partner key, then a referral link's key
    const linked = snapshot.links.get(`${program.id}|${key}`);
    const p =
      (place === 'chargebee_cf_referral_code' ? partnersByCode.get(`${program.id}|${key}`) : undefined) ??
      partnersByKey.get(`${program.id}|${key}`) ??
      (linked ? partnersById.get(linked) : undefined);
    // an archived partner is found (the sale is its, and says why it earns nothing), a deleted one is not
    return p ? { kind: 'partner', id: p.id, key: p.key, archived: p.archived, email: p.email } : null;
  };

  /** The first promotion code the payment used that a partner of the program owns (never in refer-a-friend). */
  const couponOf = (program: ProgramRules, codes: string[] | undefined): { code: string; referrer: Referrer } | null => {
    if (program.type === 'refer_a_friend' || !codes?.length || !snapshot.coupons) return null;
    for (const code of codes) {
      const id = snapshot.coupons.get(`${program.id}|${code.toLowerCase()}`);
      const partner = id ? partnersById.get(id) : undefined;
      if (partner) return { code, referrer: { kind: 'partner', id: partner.id, key: partner.key, archived: partner.archived, email: partner.email } };
    }
    return null;
  };

  const stats = snapshot.limits ?? emptyStats();
  const plan: PaymentPlan<T> = { outcomes: [], created: [], refInserts: [], outbox: [], customers: store.rows, waitingRefs: new Set() };

  for (const { at, e, program } of list) {
    const p = program.id;
    const refs = refsOf(e);
    const hit = refs.map((r) => refMap.get(`${p}|${r}`)).find((x) => x);
    if (hit) {
      // the same payment reported again (another event type, a redelivery): merge, never a second one
      for (const ref of refs) {
        if (refMap.has(`${p}|${ref}`)) continue;
        refMap.set(`${p}|${ref}`, hit);
        plan.refInserts.push({ p, ref, tid: hit.id, key: hit.key });
      }
      plan.outcomes.push([at, { kind: 'payment', result: 'merged', transactionKey: hit.key, rewards: 0, reason: null }]);
      continue;
    }
    try {
      const { who, baseCustomerKey, perPartner } = identityOf(e);
      const amount = BigInt(e.amount.minor);
      const found = store.find(p, e.gateway, who, e.fromBrowser);
      const keyReferrer = e.partnerKey ? referrerByKey(program, e.partnerKey.value, e.partnerKey.place) : null;
      const coupon = couponOf(program, e.coupons);
      // under its name, else under the older one (made before gateway customers were named with their gateway)
      const perPartnerRowOf = (r: Referrer | null) =>
        program.attributionModel === 'transaction' && r
          ? (store.anyByKey(p, perPartnerKey(perPartner.base, r.key)) ??
            (perPartner.older ? store.anyByKey(p, perPartnerKey(perPartner.older, r.key)) : null))
          : null;
      const perPartnerRow = perPartnerRowOf(keyReferrer);
      const couponPerPartnerRow = perPartnerRowOf(coupon?.referrer ?? null);
      const decision = attribute({
        model: program.attributionModel,
        partnerKey: e.partnerKey ?? null,
        keyReferrer,
        baseCustomerKey,
        perPartnerBaseKey: perPartner.base,
        customer: found ? { ...stored(found.row), matchedBy: found.matchedBy } : null,
        perPartnerCustomer: perPartnerRow ? stored(perPartnerRow) : null,
        createCustomer: e.createCustomer,
        fromBrowser: e.fromBrowser,
        coupon,
        couponPerPartnerCustomer: couponPerPartnerRow ? stored(couponPerPartnerRow) : null,
      });
      let row: CustomerRow | null = null;
      if (decision.customer.action === 'use') row = store.anyByKey(p, decision.customer.customer.key);
      if (decision.customer.action === 'link') {
        row = store.anyByKey(p, decision.customer.customer.key);
        if (row) {
          row.referrer = decision.customer.referrer;
          row.linkedNow = true;
        }
      }
      if (decision.customer.action === 'create') {
        const d = decision.customer;
        // a record with this key exists (deleted, or not found by identity): the insert would keep it
        row = store.anyByKey(p, d.key);
        if (!row) {
          row = {
            id: newId(),
            programId: p,
            key: d.key,
            emailLower: who.email?.toLowerCase() ?? null,
            gateway: e.gateway,
            gatewayCustomerId: who.gatewayId ?? null,
            perPartner: d.perPartner,
            fromBrowser: e.fromBrowser,
            deleted: false,
            archived: false,
            createdAt: snapshot.now,
            seq: seq++,
            firstPaymentAt: null,
            referrer: d.referrer,
            fresh: { email: who.email ?? null, name: e.customer.name ?? null, surname: e.customer.surname ?? null },
            touched: false,
            linkedNow: false,
          };
          store.add(row);
        }
      }
      if (row && found?.row === row && found.matchedBy === 'key' && who.gatewayId && !e.fromBrowser && store.adoptGateway(row, e.gateway, who.gatewayId)) {
        row.gatewayNow = true;
      }
      const customer = row ? stored(row) : null;
      const occurredAt = new Date(e.occurredAt);
      const credited = decision.credited;
      const commission = computeCommission(program, {
        amount: { minor: amount, currency: e.amount.currency, isCurrency: e.amount.isCurrency },
        product: e.product,
        partnerKey: credited?.key ?? null,
        occurredAt,
        customerFirstPaymentAt: customer?.firstPaymentAt && customer.firstPaymentAt < occurredAt ? customer.firstPaymentAt : null,
        partnerArchived: credited?.archived ?? false,
        customerArchived: customer?.archived ?? false,
        rewardable: e.rewardable,
        holdForReview: e.holdForReview || decision.hold,
        now,
      });
      let drafts: RewardDraft[] = commission.rewards;
      let reason: string | null = commission.reason;
      if (credited?.kind === 'partner') {
        if (drafts[0]) {
          const limited = applyLimits(
            program,
            drafts[0],
            {
              partner: { id: credited.id, key: credited.key, email: credited.email ?? null },
              customerId: row?.id ?? null,
              payerEmail: who.email ?? row?.emailLower ?? null,
              currency: e.amount.currency,
              occurredAt,
            },
            stats,
          );
          drafts = limited.draft ? [{ ...limited.draft, holdReason: limited.holdReason, cappedFrom: limited.cappedFrom }] : [];
          if (!limited.draft) reason = 'capped';
        }
        countPayment(stats, credited.id, e.amount.currency, amount);
      }
      plan.created.push({
        at,
        program,
        key: e.transactionKey,
        refs,
        rewards: drafts,
        credited,
        occurredAt,
        action: e.action,
        row: {
          p,
          key: e.transactionKey,
          action: e.action,
          amount_minor: amount.toString(),
          currency: e.amount.currency,
          is_currency: e.amount.isCurrency,
          tax_minor: e.tax === undefined ? null : BigInt(e.tax).toString(),
          customer_id: row?.id ?? null,
          partner_id: credited?.kind === 'partner' ? credited.id : null,
          gateway: e.gateway,
          product_id: e.product?.id ?? null,
          product_type: e.product?.type ?? null,
          attribution: attributionRecord(e, decision.explanation, reason),
          details: e.details ?? {},
          created_at: occurredAt.toISOString(),
        },
      });
      for (const ref of refs) {
        refMap.set(`${p}|${ref}`, { id: null, key: e.transactionKey });
        plan.refInserts.push({ p, ref, tid: null, key: e.transactionKey });
        if (snapshot.waitingRefs.has(`${p}|${ref}`)) plan.waitingRefs.add(`${p}|${ref}`);
      }
      if (row) {
        if (row.firstPaymentAt === null || occurredAt < row.firstPaymentAt) row.firstPaymentAt = occurredAt;
        row.touched = true;
      }
      if (decision.customer.action === 'create' && row) plan.outbox.push({ p, event: 'customer.created', entity_key: row.key, detail: {} });
      if (decision.customer.action === 'link' && row) plan.outbox.push({ p, event: 'customer.updated', entity_key: row.key, detail: {} });
      plan.outbox.push({ p, event: 'transaction.created', entity_key: e.transactionKey, detail: {} });
      plan.outcomes.push([at, { kind: 'payment', result: 'created', transactionKey: e.transactionKey, rewards: drafts.length, reason }]);
    } catch (err) {
      throw new PlanFailure(at, err instanceof MoneyError ? new LedgerDataError(err.message) : err);
    }
  }
  return plan;
}
