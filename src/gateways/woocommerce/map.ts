// WooCommerce order → payment facts. Pure. Webhook deliveries and the reconcile command both come
// through here, so an order gives the same facts (and the same event id) whichever way it arrived.
import { isCurrencyCode, MoneyError, toMinorUnits } from '../../core/money.js';
import { ignored, type Ignored, type PaymentEventInput } from '../../core/payment-event.js';
import { PayloadError } from '../gateway.js';
import { looksLikeOrder, Order } from './wire.js';

/** The order meta key (`meta_data[].key`) the partner plugin stores the partner key under. */
export const PARTNER_KEY = 'partner_key';
/** Statuses of an order whose payment went through. */
export const PAID_STATUSES: readonly string[] = ['processing', 'completed'];
/** The webhook topics to enable in WooCommerce. */
export const WOOCOMMERCE_TOPICS: readonly string[] = ['order.created', 'order.updated'];

/** One order, one payment: `wc_order_{order id}` (the order id is stable; the order number may not be). */
export const transactionKeyOf = (orderId: number) => `wc_order_${orderId}`;
/** Each entry of an order's `refunds[]` is a refund of its own, by its id. */
export const refundIdOf = (refundId: number) => `wc_refund_${refundId}`;
/** Status `refunded`: the whole order, whatever its refund entries add up to. */
export const fullRefundIdOf = (orderId: number) => `wc_refund_full_${orderId}`;

// a job carries at most 20 events: the payment, the full refund, the list of refunds standing and
// this many refund entries
const MAX_REFUND_FACTS = 17;
/** The prefix of the refund ids an order's list accounts for (its entries and its full refund). */
const REFUND_PREFIX = 'wc_refund_';

const WAITING: Record<string, string> = {
  pending: 'not paid yet',
  'on-hold': 'awaiting payment confirmation',
  failed: 'the payment failed',
  cancelled: 'cancelled without a refund entry',
  'checkout-draft': 'checkout not finished',
  trash: 'in the trash',
};

/**
 * The dedupe key of an order delivery: the order's state, not the delivery. WooCommerce has no event
 * id, and its delivery id is new for every delivery, so it would not dedupe the same state sent by two
 * webhooks (order.created and order.updated) or fetched again by the reconcile command. The state is
 * the order id, its `date_modified_gmt` (changes on every save) and status, and its refund entries
 * (count and newest id), in case a refund lands within the same second:
 * `order-4817-20250721T132045-completed`, `order-4817-20250802T150537-refunded-r1-4901`.
 */
export function orderEventId(order: { id: number; status: string; date_modified_gmt?: unknown; refunds?: unknown }): string {
  const modified =
    typeof order.date_modified_gmt === 'string' && order.date_modified_gmt
      ? order.date_modified_gmt.replace(/[^0-9T]/g, '').slice(0, 32)
      : 'undated';
  const status = order.status.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'unknown';
  const ids = (Array.isArray(order.refunds) ? order.refunds : [])
    .map((r) => (r && typeof r === 'object' ? (r as { id?: unknown }).id : undefined))
    .filter((id): id is number => typeof id === 'number');
  const refunds = ids.length ? `-r${ids.length}-${Math.max(...ids)}` : '';
  return `order-${order.id}-${modified}-${status}${refunds}`;
}

function parse(value: unknown): Order {
  const r = Order.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new PayloadError(`order.${issue?.path.join('.') || ''}: ${issue?.message ?? 'invalid'}`);
}

/** A decimal string in major units → minor units, exactly; "59.000" USD is 5900, "12.345" USD an error. */
function minor(value: string, currency: string, field: string): bigint {
  try {
    return toMinorUnits(value, currency);
  } catch (err) {
    if (err instanceof MoneyError) throw new PayloadError(`${field}: ${err.message} for ${currency}`);
    throw err;
  }
}

/** `*_gmt` dates carry no zone designator: they are UTC. */
function utc(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const text = /(Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function partnerKey(order: Order) {
  for (const m of order.meta_data) {
    if (m.key !== PARTNER_KEY) continue;
    const value = typeof m.value === 'string' || typeof m.value === 'number' ? String(m.value).trim() : '';
    if (value && value.length <= 255) return { value, place: 'woocommerce_meta_data' as const };
  }
  return undefined;
}

/** The coupon codes the order used, in its order (a partner's one credits it after the partner key). */
function couponCodes(order: Order): string[] | undefined {
  const codes = [...new Set(order.coupon_lines.map((c) => c.code?.trim()).filter((c): c is string => !!c && c.length <= 255))].slice(0, 20);
  return codes.length ? codes : undefined;
}

function details(order: Order): Record<string, string> | undefined {
  const d: Record<string, string> = {};
  if (order.number && order.number !== String(order.id)) d.order_number = order.number;
  if (order.payment_method) d.payment_method = order.payment_method;
  if (order.transaction_id) d.payment_transaction_id = order.transaction_id;
  return Object.keys(d).length ? d : undefined;
}

type Base = { gateway: 'woocommerce'; eventId: string; eventType: string };

export function wooToEvents(payload: unknown): PaymentEventInput[] | Ignored {
  if (!looksLikeOrder(payload)) return ignored('not an order: only order deliveries carry payments');
  const order = parse(payload);
  const currency = order.currency.toUpperCase();
  if (!isCurrencyCode(currency)) throw new PayloadError(`unknown currency code "${order.currency}"`);
  const base: Base = { gateway: 'woocommerce', eventId: orderEventId(order), eventType: `order.${order.status}` };
  const key = transactionKeyOf(order.id);
  const created = utc(order.date_created_gmt) ?? utc(order.date_modified_gmt);
  if (!created) throw new PayloadError('order.date_created_gmt: missing');
  const modified = utc(order.date_modified_gmt) ?? created;
  const events: PaymentEventInput[] = [];

  if (PAID_STATUSES.includes(order.status)) {
    const amount = minor(order.total, currency, 'total');
    if (amount < 0n) throw new PayloadError(`total: "${order.total}" is negative`);
    if (amount === 0n) return ignored(`order ${order.id} is ${order.status} but nothing was paid (total ${order.total})`);
    const tax = order.total_tax ? minor(order.total_tax, currency, 'total_tax') : undefined;
    const productId = order.line_items[0]?.product_id;
    const email = order.billing?.email?.trim() || undefined;
    events.push({
      ...base,
      kind: 'payment',
      occurredAt: utc(order.date_paid_gmt) ?? utc(order.date_completed_gmt) ?? created,
      transactionKey: key,
      aliases: order.order_key && order.order_key !== key ? [order.order_key] : [],
      amount: { minor: amount.toString(), currency },
      tax: tax !== undefined && tax >= 0n ? tax.toString() : undefined,
      // a guest (customer_id 0) is known by the billing email alone
      customer: { id: order.customer_id > 0 ? String(order.customer_id) : undefined, email },
      product: productId ? { id: String(productId) } : undefined,
      partnerKey: partnerKey(order),
      coupons: couponCodes(order),
      details: details(order),
    });
  }

  // refund entries, whatever the status: each is applied once, by its id, so repeats are harmless
  const entries = order.refunds
    .map((r) => ({ id: r.id, amount: minor(r.total, currency, `refunds.${r.id}.total`) }))
    .map((r) => ({ ...r, amount: r.amount < 0n ? -r.amount : r.amount }))
    .filter((r) => r.amount > 0n);
  if (entries.length > MAX_REFUND_FACTS) {
    // too many for one job: their running total instead (it never adds to refunds known by id)
    const total = entries.reduce((sum, r) => sum + r.amount, 0n);
    events.push({
      ...base,
      kind: 'refund',
      occurredAt: modified,
      refundId: `wc_refunds_${order.id}@${total}`,
      paymentRefs: [key],
      amount: { minor: total.toString(), currency },
      cumulative: true,
    });
  } else {
    for (const r of entries) {
      events.push({
        ...base,
        kind: 'refund',
        occurredAt: modified,
        refundId: refundIdOf(r.id),
        paymentRefs: [key],
        amount: { minor: r.amount.toString(), currency },
      });
    }
  }
  if (order.status === 'refunded') {
    events.push({ ...base, kind: 'refund', occurredAt: modified, refundId: fullRefundIdOf(order.id), paymentRefs: [key] });
  }
  if (events.length && entries.length <= MAX_REFUND_FACTS) {
    // a refund deleted in the store leaves the order's list: one stored before this state and missing
    // from it is reversed (the order's later states come with later modified times)
    const standing = entries.map((r) => refundIdOf(r.id));
    if (order.status === 'refunded') standing.push(fullRefundIdOf(order.id));
    events.push({ ...base, kind: 'refunds_standing', occurredAt: modified, paymentRefs: [key], prefix: REFUND_PREFIX, refundIds: standing });
  }

  if (events.length) return events;
  const why = WAITING[order.status] ?? 'not a paid status (processing, completed) nor refunded';
  return ignored(`order ${order.id} is ${order.status}: ${why}`);
}
