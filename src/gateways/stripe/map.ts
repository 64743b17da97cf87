// Stripe event → payment facts. Pure. Reads both the 2024 and the 2025-03-31.basil object shapes.
import type { z } from 'zod';
import { exponent, isCurrencyCode } from '../../core/money.js';
import {
  ignored,
  type Ignored,
  type CouponLookup,
  type Lookup,
  type PaymentEventInput,
  type PartnerKeyPlace,
} from '../../core/payment-event.js';
import { PayloadError, parsePayload, compactIds } from '../gateway.js';
import { Charge, CheckoutSession, Dispute, Envelope, Invoice, PaymentIntent, Refund, refId, type Discount } from './wire.js';

/** Where merchants put the partner key in Stripe metadata. */
export const PARTNER_KEY = 'partner_key';

// Stripe counts these in whole units; ISO 4217 agrees for all but MGA (ISO: 2 decimals).
const STRIPE_ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);

/** Stripe's integer amount in ISO 4217 minor units (as a digit string). */
export function stripeMinor(amount: number, currency: string): { minor: string; currency: string } {
  const code = currency.toUpperCase();
  if (!isCurrencyCode(code)) throw new PayloadError(`unknown currency code "${currency}"`);
  const iso = exponent(code);
  const stripe = STRIPE_ZERO_DECIMAL.has(code) ? 0 : iso;
  return { minor: (BigInt(amount) * 10n ** BigInt(iso - stripe)).toString(), currency: code };
}

const parse = parsePayload;

const key = (metadata: Record<string, string> | null | undefined, place: PartnerKeyPlace) => {
  const value = metadata?.[PARTNER_KEY]?.trim();
  return value ? { value, place } : undefined;
};
/**
 * The merchant's own customer key (`metadata.customer_key`), the one its site gave po.js at signup:
 * a customer a referral link's visit linked is found by it (docs/attribution.md).
 */
export const CUSTOMER_KEY = 'customer_key';
const customerKey = (...metadata: (Record<string, string> | null | undefined)[]) => {
  for (const m of metadata) {
    const value = m?.[CUSTOMER_KEY]?.trim();
    if (value) {
      if (value.length > 255) throw new PayloadError('metadata.customer_key: longer than 255 characters');
      return value;
    }
  }
  return undefined;
};
const first = <T>(...values: (T | undefined)[]) => values.find((v) => v !== undefined);
const compact = compactIds;

function lookups(subscription: string | undefined, customer: string | undefined, invoice?: string): Lookup[] {
  const l: Lookup[] = [];
  if (subscription) l.push({ gateway: 'stripe', object: 'subscription', id: subscription, place: 'stripe_subscription_metadata' });
  else if (invoice) l.push({ gateway: 'stripe', object: 'invoice', id: invoice, place: 'stripe_subscription_metadata' });
  if (customer) l.push({ gateway: 'stripe', object: 'customer', id: customer, place: 'stripe_customer_metadata' });
  return l;
}

/**
 * The codes a payment's discounts carry: a promotion code's `code` when expanded (else its id, to read
 * through the API), and the coupon's id (a merchant may give a partner a coupon without promotion codes).
 */
function discountCodes(discounts: { coupon?: unknown; source?: { coupon?: unknown } | null; promotion_code?: Discount['promotion_code'] }[]) {
  const coupons: string[] = [];
  const couponLookups: CouponLookup[] = [];
  for (const d of discounts) {
    const pc = d.promotion_code;
    if (pc && typeof pc === 'object' && pc.code) coupons.push(pc.code);
    else if (pc) couponLookups.push({ gateway: 'stripe', object: 'promotion_code', id: refId(pc)! });
    const coupon = refId((d.source?.coupon ?? d.coupon) as Parameters<typeof refId>[0]);
    if (coupon) coupons.push(coupon);
  }
  return { coupons, couponLookups };
}

/** The discount facts of a payment: at most what the payment event allows, undefined when none. */
function discountFacts(found: { coupons: string[]; couponLookups: CouponLookup[] }) {
  const coupons = [...new Set(found.coupons.map((c) => c.trim()).filter((c) => c && c.length <= 255))].slice(0, 20);
  const seen = new Set<string>();
  const couponLookups = found.couponLookups.filter((l) => !seen.has(`${l.object}|${l.id}`) && seen.add(`${l.object}|${l.id}`)).slice(0, 10);
  return { coupons: coupons.length ? coupons : undefined, couponLookups: couponLookups.length ? couponLookups : undefined };
}

function invoiceDiscounts(inv: z.infer<typeof Invoice>) {
  const objects = [...(inv.discounts ?? []).filter((d): d is Discount => typeof d === 'object'), ...(inv.discount ? [inv.discount] : [])];
  const found = discountCodes(objects);
  // discounts named by id only (the default): the invoice read with its discounts expanded
  if ((inv.discounts ?? []).some((d) => typeof d === 'string')) found.couponLookups.push({ gateway: 'stripe', object: 'invoice', id: inv.id });
  return discountFacts(found);
}

/**
 * An intent or charge naming its invoice (up to 2025-02-24.acacia) may be the first report of a
 * subscription payment, and the first report decides its attribution: the invoice's discounts are
 * read then, unless the payment names its partner key itself (which outranks any code).
 */
function invoiceCoupons(invoice: string | undefined, metadata: Record<string, string> | null | undefined): CouponLookup[] | undefined {
  return invoice && !metadata?.[PARTNER_KEY]?.trim() ? [{ gateway: 'stripe', object: 'invoice', id: invoice }] : undefined;
}

function sessionDiscounts(cs: z.infer<typeof CheckoutSession>) {
  const breakdown = (cs.total_details?.breakdown?.discounts ?? []).map((d) => d.discount);
  return discountFacts(discountCodes([...(cs.discounts ?? []), ...breakdown]));
}

type Base = { gateway: 'stripe'; eventId: string; eventType: string; occurredAt: string; livemode: boolean };

const PAYMENT_TYPES = [
  'payment_intent.succeeded',
  'charge.succeeded',
  'charge.captured',
  'invoice.paid',
  'invoice.payment_succeeded',
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.refund.updated',
  'charge.dispute.created',
  'charge.dispute.closed',
  'charge.dispute.funds_reinstated',
] as const;
/** The event types to enable on the Stripe endpoint. */
export const STRIPE_EVENT_TYPES: readonly string[] = PAYMENT_TYPES;

export function stripeToEvents(payload: unknown): PaymentEventInput[] | Ignored {
  const env = parse(Envelope, payload, 'event');
  const base: Base = {
    gateway: 'stripe',
    eventId: env.id,
    eventType: env.type,
    occurredAt: new Date(env.created * 1000).toISOString(),
    livemode: env.livemode,
  };
  const obj = env.data.object;
  switch (env.type) {
    case 'payment_intent.succeeded':
      return [paymentIntent(parse(PaymentIntent, obj, 'payment_intent'), base)];
    case 'charge.succeeded':
    case 'charge.captured':
      return charge(parse(Charge, obj, 'charge'), base);
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
      return invoice(parse(Invoice, obj, 'invoice'), base);
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return checkoutSession(parse(CheckoutSession, obj, 'checkout.session'), base);
    case 'charge.refunded':
      return chargeRefunded(parse(Charge, obj, 'charge'), base);
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
    case 'charge.refund.updated':
      return refund(parse(Refund, obj, 'refund'), base);
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_reinstated':
      return dispute(parse(Dispute, obj, 'dispute'), base);
    default:
      return ignored(`not a payment event: ${env.type}`);
  }
}

function paymentIntent(pi: z.infer<typeof PaymentIntent>, base: Base): PaymentEventInput {
  const customer = refId(pi.customer);
  const inv = refId(pi.invoice);
  return {
    ...base,
    kind: 'payment',
    transactionKey: pi.id,
    aliases: compact([refId(pi.latest_charge), inv]),
    amount: stripeMinor(pi.amount_received ?? pi.amount, pi.currency),
    customer: { key: customerKey(pi.metadata), id: customer, email: pi.receipt_email ?? undefined },
    partnerKey: key(pi.metadata, 'stripe_payment_intent_metadata'),
    lookups: lookups(undefined, customer, inv),
    couponLookups: invoiceCoupons(inv, pi.metadata),
  };
}

function charge(ch: z.infer<typeof Charge>, base: Base): PaymentEventInput[] | Ignored {
  if (ch.status !== 'succeeded') return ignored(`charge ${ch.status}`);
  const captured = ch.amount_captured ?? ch.amount;
  if (captured === 0) return ignored('charge authorized, not captured yet');
  const customer = refId(ch.customer);
  const pi = refId(ch.payment_intent);
  const inv = refId(ch.invoice);
  return [
    {
      ...base,
      kind: 'payment',
      transactionKey: pi ?? ch.id,
      aliases: compact([ch.id, inv]),
      amount: stripeMinor(captured, ch.currency),
      customer: { key: customerKey(ch.metadata), id: customer, email: ch.billing_details?.email ?? ch.receipt_email ?? undefined },
      partnerKey: key(ch.metadata, 'stripe_charge_metadata'),
      lookups: lookups(undefined, customer, inv),
      couponLookups: invoiceCoupons(inv, ch.metadata),
    },
  ];
}

function productOf(lines: z.infer<typeof Invoice>['lines']) {
  const line = lines?.data[0];
  if (!line) return undefined;
  const id = refId(line.price?.product) ?? line.pricing?.price_details?.product ?? undefined;
  const type = line.price?.recurring?.interval ?? undefined;
  return id || type ? { id, type } : undefined;
}

function invoice(inv: z.infer<typeof Invoice>, base: Base): PaymentEventInput[] | Ignored {
  if (inv.amount_paid === 0) return ignored('nothing was paid (amount_paid 0)');
  const details = inv.parent?.subscription_details ?? inv.subscription_details;
  const subscription = refId(details?.subscription) ?? refId(inv.subscription);
  const customer = refId(inv.customer);
  const pi = refId(inv.payment_intent);
  return [
    {
      ...base,
      kind: 'payment',
      transactionKey: pi ?? inv.id,
      aliases: compact([inv.id, refId(inv.charge)]),
      // basil invoices name no payment intent: the enrich step asks Stripe for it
      keyFrom: pi ? undefined : { gateway: 'stripe', object: 'invoice', id: inv.id },
      amount: stripeMinor(inv.amount_paid, inv.currency),
      customer: { key: customerKey(inv.metadata, details?.metadata, inv.lines?.data[0]?.metadata), id: customer, email: inv.customer_email ?? undefined },
      product: productOf(inv.lines),
      partnerKey: first(
        key(inv.metadata, 'stripe_invoice_metadata'),
        key(details?.metadata, 'stripe_subscription_metadata'),
        key(inv.lines?.data[0]?.metadata, 'stripe_subscription_metadata'),
      ),
      lookups: lookups(subscription, customer),
      ...invoiceDiscounts(inv),
    },
  ];
}

function checkoutSession(cs: z.infer<typeof CheckoutSession>, base: Base): PaymentEventInput[] | Ignored {
  if (cs.payment_status !== 'paid') return ignored(`checkout session ${cs.payment_status}: its payment is not made yet`);
  if (!cs.amount_total || !cs.currency) return ignored('checkout session with nothing to pay');
  const pi = refId(cs.payment_intent);
  const inv = refId(cs.invoice);
  const customer = refId(cs.customer);
  return [
    {
      ...base,
      kind: 'payment',
      transactionKey: pi ?? inv ?? cs.id,
      aliases: compact([cs.id, inv]),
      keyFrom: !pi && inv ? { gateway: 'stripe', object: 'invoice', id: inv } : undefined,
      amount: stripeMinor(cs.amount_total, cs.currency),
      customer: { key: customerKey(cs.metadata), id: customer, email: cs.customer_details?.email ?? cs.customer_email ?? undefined },
      product: productOf(cs.line_items),
      partnerKey: key(cs.metadata, 'stripe_checkout_session_metadata'),
      lookups: lookups(refId(cs.subscription), customer),
      ...sessionDiscounts(cs),
    },
  ];
}

function chargeRefunded(ch: z.infer<typeof Charge>, base: Base): PaymentEventInput[] | Ignored {
  const total = ch.amount_refunded ?? 0;
  if (total === 0) return ignored('no amount refunded');
  return [
    {
      ...base,
      kind: 'refund',
      // a running total: keyed by it, so a redelivery is a duplicate and a new refund a new fact
      refundId: `${ch.id}@${total}`,
      paymentRefs: compact([refId(ch.payment_intent), ch.id]),
      amount: stripeMinor(total, ch.currency),
      cumulative: true,
    },
  ];
}

/** A refund that failed (the money came back to the merchant) or was canceled: what it took is restored. */
const REVERSED_REFUND = new Set(['failed', 'canceled']);

function refund(re: z.infer<typeof Refund>, base: Base): PaymentEventInput[] | Ignored {
  const reversed = REVERSED_REFUND.has(re.status ?? '');
  if (re.status !== 'succeeded' && !reversed) return ignored(`refund ${re.status ?? 'without status'}: not settled`);
  const refs = compact([refId(re.payment_intent), refId(re.charge)]);
  if (!refs.length) return ignored('refund names no charge or payment intent');
  return [{ ...base, kind: 'refund', refundId: re.id, paymentRefs: refs, amount: stripeMinor(re.amount, re.currency), ...(reversed ? { reversed } : {}) }];
}

function dispute(dp: z.infer<typeof Dispute>, base: Base): PaymentEventInput[] | Ignored {
  const status =
    base.eventType === 'charge.dispute.created'
      ? 'opened'
      : // the funds a dispute withdrew came back: Stripe decided it for the merchant
        base.eventType === 'charge.dispute.funds_reinstated'
        ? 'won'
      : dp.status === 'lost'
        ? 'lost'
        : dp.status === 'won' || dp.status === 'warning_closed'
          ? 'won'
          : null;
  if (!status) return ignored(`dispute closed as ${dp.status}`);
  const refs = compact([refId(dp.payment_intent), refId(dp.charge)]);
  if (!refs.length) return ignored('dispute names no charge or payment intent');
  return [{ ...base, kind: 'dispute', disputeId: dp.id, paymentRefs: refs, status }];
}
