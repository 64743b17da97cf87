// Attribution: which customer record a payment belongs to and which partner (or, in refer-a-friend
// programs, which referring customer) it credits. Pure: the worker looks things up, this decides.
import type { PartnerKeyPlace } from './payment-event.js';

/** Whoever earns the reward: a partner, or a referring customer in refer-a-friend programs. */
export type Referrer = {
  kind: 'partner' | 'customer';
  id: string;
  key: string;
  /** Archived (POST …/archive): still attributed to, earns nothing from new sales until restored. */
  archived?: boolean;
  /** A partner's email (a payer with the same one is a self-referral, core/limits.ts). */
  email?: string | null;
};

export type StoredCustomer = {
  id: string;
  key: string;
  /** The partner or referring customer this customer is linked to, for good. */
  referrer: Referrer | null;
  firstPaymentAt: Date | null;
  /** Created by a request holding the public browser key: what it earns its partner stays in review. */
  fromBrowser: boolean;
  /** Archived: its new sales are recorded and earn its partner nothing until it is restored. */
  archived?: boolean;
  /** How its link was made, when a referral link's visit made it (a po.js signup). */
  linkedBy?: 'referral_link' | null;
};

export type CustomerMatch = 'key' | 'gateway_id' | 'email';

/**
 * Which step of the precedence decided who earns: a partner key on the payment, then a promotion code
 * a partner owns, then a referral link, then the customer's existing link; `none`: nobody is credited.
 */
export const DECIDED_BY = ['partner_key', 'coupon', 'referral_link', 'customer_link', 'none'] as const;
export type DecidedBy = (typeof DECIDED_BY)[number];

export type AttributionFacts = {
  model: 'customer' | 'transaction';
  /** The partner key of the event after enrichment, with where it was found. */
  partnerKey: { value: string; place: PartnerKeyPlace } | null;
  /** What the partner key names in this program, when it names anything. */
  keyReferrer: Referrer | null;
  /** The payer's identity for new records: customer key, else gateway id, else email, else the payment. */
  baseCustomerKey: string;
  /**
   * The same for a new per-partner record, when it differs: a gateway's customer is named with its
   * gateway (`stripe_cus_123`), as Partnero's seed names the record `stripe_cus_123__pkey_PARTNER_A`.
   */
  perPartnerBaseKey?: string;
  /** The payer's own stored record, and how it was matched. */
  customer: (StoredCustomer & { matchedBy: CustomerMatch }) | null;
  /** The per-partner record for keyReferrer (under its name or the older one), when it exists. */
  perPartnerCustomer: StoredCustomer | null;
  /** false: an unknown payer is recorded against nobody rather than created. */
  createCustomer: boolean;
  /**
   * Reported by a browser holding the public key (anyone can): its partner key credits that sale only;
   * it links no customer, new or existing (and the storage side never matches it by email).
   */
  fromBrowser: boolean;
  /**
   * A promotion code the payment used that a partner owns: it stands in for a partner key when no key
   * names anyone (the next step of the precedence), as `partner_key_place: coupon`.
   */
  coupon?: { code: string; referrer: Referrer } | null;
  /** The per-partner record of the coupon's partner (transaction-based), when it exists. */
  couponPerPartnerCustomer?: StoredCustomer | null;
};

export type CustomerDecision =
  | { action: 'use'; customer: StoredCustomer }
  /** A stored customer linked to nobody is linked now, for good, to the partner its payment names. */
  | { action: 'link'; customer: StoredCustomer; referrer: Referrer }
  | { action: 'create'; key: string; perPartner: boolean; referrer: Referrer | null }
  | { action: 'none' };

export type AttributionExplanation = {
  model: 'customer' | 'transaction';
  path: 'transaction' | 'customer';
  partner_key: string | null;
  partner_key_place: PartnerKeyPlace | null;
  /** How the payer's record was found, or that it was created, or that there is none. */
  customer_match: CustomerMatch | 'per_partner_record' | 'created' | 'none';
  /**
   * Why a transaction-based program fell back to customer-based attribution (`browser_reported`: a
   * browser's partner key never applies to a customer that exists).
   */
  fallback: 'no_partner_key' | 'unknown_partner_key' | 'browser_reported' | null;
  /**
   * A partner key the request or payment named that did not decide who earns: it names nobody (the
   * sale falls back to the customer's own link, or to nobody), or an existing link outranks it (links
   * are permanent), or a browser reported it for a customer that exists.
   */
  ignored_partner_key: string | null;
  credited: { kind: Referrer['kind']; key: string } | null;
  /** The step of the precedence that decided `credited` (DECIDED_BY). */
  decided_by: DecidedBy;
  /** The promotion code the payment used that a partner owns (whether or not it decided), or null. */
  coupon: string | null;
};

export type Attribution = {
  customer: CustomerDecision;
  credited: Referrer | null;
  /** The rewards start in review whatever the program says: the link they come through was made by a browser. */
  hold: boolean;
  explanation: AttributionExplanation;
};

/** The customer key of a transaction-based record. */
export function perPartnerKey(baseCustomerKey: string, partnerKey: string): string {
  return `${baseCustomerKey}__pkey_${partnerKey}`;
}

/**
 * The base of a payer's per-partner records, and the older one still to look under: a customer named
 * by key keeps its key; a gateway's customer known by its id is `{gateway}_{id}` (records made before
 * were named by the bare id, and are found under that name so no payer gets a second record).
 */
export function perPartnerBases(who: { key?: string; gatewayId?: string }, gateway: string, baseCustomerKey: string): { base: string; older: string | null } {
  if (who.key || !who.gatewayId) return { base: baseCustomerKey, older: null };
  return { base: `${gateway}_${who.gatewayId}`, older: baseCustomerKey };
}

export function attribute(f: AttributionFacts): Attribution {
  // A partner's promotion code is the next step after the payment's own key: with no key naming
  // anyone, it decides as a key naming that partner would (and a customer's existing link outranks it
  // in customer-based programs, as it outranks a key).
  const byCoupon = !f.keyReferrer && f.coupon ? f.coupon : null;
  const g: AttributionFacts = byCoupon
    ? {
        ...f,
        partnerKey: { value: byCoupon.referrer.key, place: 'coupon' },
        keyReferrer: byCoupon.referrer,
        perPartnerCustomer: f.couponPerPartnerCustomer ?? null,
      }
    : f;
  const decided = decide(g);
  // A named key that did not decide who earns is said so on every branch: an unknown key (with or
  // without a customer, created or not), a key another link outranks, a browser's key on a customer.
  const used = !!f.keyReferrer && decided.credited?.kind === f.keyReferrer.kind && decided.credited.id === f.keyReferrer.id;
  decided.explanation.ignored_partner_key = f.partnerKey && !used ? f.partnerKey.value : null;
  decided.explanation.decided_by = decidedBy(g, decided);
  decided.explanation.coupon = f.coupon?.code ?? null;
  return decided;
}

function decidedBy(f: AttributionFacts, a: Attribution): DecidedBy {
  const c = a.credited;
  if (!c) return 'none';
  // the first step of the precedence that names who is credited: the payment's key (or code) ...
  if (f.keyReferrer && f.keyReferrer.kind === c.kind && f.keyReferrer.id === c.id) return f.partnerKey?.place === 'coupon' ? 'coupon' : 'partner_key';
  // ... else the customer's stored link, made by a referral link's visit or otherwise
  const linked = a.customer.action === 'use' ? a.customer.customer : null;
  return linked?.linkedBy === 'referral_link' ? 'referral_link' : 'customer_link';
}

function decide(f: AttributionFacts): Attribution {
  const explain = (e: Partial<AttributionExplanation>): AttributionExplanation => ({
    model: f.model,
    path: 'customer',
    partner_key: f.partnerKey?.value ?? null,
    partner_key_place: f.partnerKey?.place ?? null,
    customer_match: 'none',
    fallback: null,
    ignored_partner_key: null,
    credited: null,
    decided_by: 'none',
    coupon: null,
    ...e,
  });
  const credit = (r: Referrer | null) => (r ? { kind: r.kind, key: r.key } : null);

  // Transaction-based: a key naming an existing partner credits that partner on this payment,
  // through the payer's per-partner record.
  if (f.model === 'transaction' && f.keyReferrer && !(f.fromBrowser && f.customer)) {
    const referrer = f.keyReferrer;
    const customer: CustomerDecision = f.perPartnerCustomer
      ? { action: 'use', customer: f.perPartnerCustomer }
      : { action: 'create', key: perPartnerKey(f.perPartnerBaseKey ?? f.baseCustomerKey, referrer.key), perPartner: true, referrer };
    return {
      customer,
      credited: referrer,
      hold: false,
      explanation: explain({
        path: 'transaction',
        customer_match: f.perPartnerCustomer ? 'per_partner_record' : 'created',
        credited: credit(referrer),
      }),
    };
  }
  const fallback =
    f.model !== 'transaction'
      ? null
      : !f.partnerKey
        ? 'no_partner_key'
        : f.keyReferrer
          ? 'browser_reported'
          : 'unknown_partner_key';

  // Customer-based: the stored link decides; a key links a customer that has none yet (seen first
  // before its partner existed, or without a key), never moves an existing link.
  if (f.customer) {
    if (!f.customer.referrer && f.keyReferrer && !f.fromBrowser && f.model === 'customer') {
      return {
        customer: { action: 'link', customer: f.customer, referrer: f.keyReferrer },
        credited: f.keyReferrer,
        hold: false,
        explanation: explain({ customer_match: f.customer.matchedBy, credited: credit(f.keyReferrer) }),
      };
    }
    const linked = f.customer.referrer;
    return {
      customer: { action: 'use', customer: f.customer },
      credited: linked,
      hold: !!linked && f.customer.fromBrowser,
      explanation: explain({
        customer_match: f.customer.matchedBy,
        fallback,
        credited: credit(linked),
      }),
    };
  }
  if (!f.createCustomer) {
    return {
      customer: { action: 'none' },
      credited: null,
      hold: false,
      explanation: explain({ fallback, customer_match: 'none' }),
    };
  }
  const referrer = f.keyReferrer;
  return {
    // a browser's partner key credits its own (held) sale but links nobody: a customer's partner is set
    // by a payment the merchant's side reports, or by a referral link visit, not by anyone with the page
    customer: { action: 'create', key: f.baseCustomerKey, perPartner: false, referrer: f.fromBrowser ? null : referrer },
    credited: referrer,
    hold: false,
    explanation: explain({ customer_match: 'created', fallback, credited: credit(referrer) }),
  };
}
