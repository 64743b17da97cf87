// Paddle Billing notification → payment facts. Pure: no I/O, no clock.
import type { AdjustmentAction, EventName } from '@paddle/paddle-node-sdk';
import { isCurrencyCode } from '../../core/money.js';
import {
  ignored,
  type DisputeFact,
  type Ignored,
  type Lookup,
  type PartnerKeyPlace,
  type PaymentEventInput,
} from '../../core/payment-event.js';
import { PayloadError, parsePayload } from '../gateway.js';
import { Adjustment, Envelope, Transaction } from './wire.js';

/** Where merchants put the partner key in Paddle `custom_data`. */
export const PARTNER_KEY = 'partner_key';

/**
 * The notifications read here, by the SDK's names for them (checked against its EventName enum). Only
 * its types are imported: loading the SDK costs about 0.3 s of every start, and only the lookup
 * client needs it (src/gateways/paddle/client.ts loads it on the first lookup).
 */
const EVENT = {
  TransactionPaid: 'transaction.paid',
  TransactionCompleted: 'transaction.completed',
  AdjustmentCreated: 'adjustment.created',
  AdjustmentUpdated: 'adjustment.updated',
} as const satisfies { [K in keyof typeof EventName]?: `${(typeof EventName)[K]}` };

/** The event types to enable on the Paddle notification destination. */
export const PADDLE_EVENT_TYPES: readonly string[] = Object.values(EVENT);

/**
 * Paddle's amount string as ISO 4217 minor units. Paddle already counts in the currency's ISO
 * minor unit (pence for GBP, whole yen for JPY), so only the code is checked and the digits normalized.
 */
export function paddleMinor(amount: string, currencyCode: string): { minor: string; currency: string } {
  const code = currencyCode.toUpperCase();
  if (!isCurrencyCode(code)) throw new PayloadError(`unknown currency code "${currencyCode}"`);
  return { minor: BigInt(amount).toString(), currency: code };
}

/** The partner key in a `custom_data` object: a non-empty string, trimmed. */
export function partnerKeyOf(customData: Record<string, unknown> | null | undefined): string | undefined {
  const value = customData?.[PARTNER_KEY];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/**
 * The merchant's own customer key in `custom_data.customer_key`, the one its site gave po.js at
 * signup (a signup under Paddle's customer id, ctm_…, is found by that id instead).
 */
function customerKeyOf(customData: Record<string, unknown> | null | undefined): string | undefined {
  const value = customData?.customer_key;
  if (typeof value !== 'string' || !value.trim()) return undefined;
  if (value.trim().length > 255) throw new PayloadError('transaction.custom_data.customer_key: longer than 255 characters');
  return value.trim();
}

const parse = parsePayload;

type Base = { gateway: 'paddle'; eventId: string; eventType: string; occurredAt: string };

export function paddleToEvents(payload: unknown): PaymentEventInput[] | Ignored {
  const env = parse(Envelope, payload, 'notification');
  // Paddle notifications say nothing about sandbox or live, so livemode stays unknown
  const base: Base = {
    gateway: 'paddle',
    eventId: env.event_id,
    eventType: env.event_type,
    occurredAt: new Date(env.occurred_at).toISOString(),
  };
  switch (env.event_type) {
    case EVENT.TransactionPaid:
    case EVENT.TransactionCompleted:
      return transaction(parse(Transaction, env.data, 'transaction'), base);
    case EVENT.AdjustmentCreated:
    case EVENT.AdjustmentUpdated:
      return adjustment(parse(Adjustment, env.data, 'adjustment'), base);
    default:
      return ignored(`not a payment event: ${env.event_type}`);
  }
}

// ---- payments ----

function partnerKey(txn: Transaction): { value: string; place: PartnerKeyPlace } | undefined {
  const value = partnerKeyOf(txn.custom_data);
  if (!value) return undefined;
  if (value.length > 255) throw new PayloadError('transaction.custom_data.partner_key: longer than 255 characters');
  return { value, place: 'paddle_transaction_custom_data' };
}

function productOf(txn: Transaction) {
  const price = txn.items[0]?.price;
  const id = price?.product_id ?? txn.details.line_items?.[0]?.product?.id ?? undefined;
  const type = price?.billing_cycle?.interval ?? undefined;
  return id || type ? { id, type } : undefined;
}

function lookups(txn: Transaction, wantKey: boolean, wantEmail: boolean): Lookup[] {
  const l: Lookup[] = [];
  if (wantKey && txn.subscription_id) {
    l.push({ gateway: 'paddle', object: 'subscription', id: txn.subscription_id, place: 'paddle_subscription_custom_data' });
  }
  // Only for the payer's email: the client never reads a partner key off a Paddle customer. There
  // is no customer place for Paddle; the transaction's is the closest (this is its customer_id).
  if (wantEmail && txn.customer_id) {
    l.push({ gateway: 'paddle', object: 'customer', id: txn.customer_id, place: 'paddle_transaction_custom_data' });
  }
  return l;
}

function transaction(txn: Transaction, base: Base): PaymentEventInput[] | Ignored {
  const { grand_total, tax } = txn.details.totals;
  // a trial start or a fully discounted checkout completes a transaction of 0
  if (BigInt(grand_total) === 0n) return ignored('nothing was paid (grand_total 0)');
  const key = partnerKey(txn);
  // A checkout for a recurring price is paid before Paddle creates its subscription: transaction.paid
  // then names none, so a key that only the subscription will hold would be missed for good (the
  // first report of a payment decides its attribution). transaction.completed names it; book that one.
  const recurring = txn.items.some((i) => i.price?.billing_cycle);
  if (base.eventType === EVENT.TransactionPaid && !key && !txn.subscription_id && recurring) {
    return ignored('transaction.paid before its subscription exists: booked from transaction.completed');
  }
  const email = txn.customer?.email?.trim() || undefined;
  return [
    {
      ...base,
      kind: 'payment',
      // transaction.paid and transaction.completed report the same transaction: one key, so they merge
      transactionKey: txn.id,
      amount: paddleMinor(grand_total, txn.currency_code),
      tax: tax ? paddleMinor(tax, txn.currency_code).minor : undefined,
      customer: { key: customerKeyOf(txn.custom_data), id: txn.customer_id ?? undefined, email },
      product: productOf(txn),
      partnerKey: key,
      lookups: lookups(txn, !key, !email),
      // the discount's code: in the payload when the transaction was read with its discount, else by the API
      coupons: txn.discount?.code?.trim() ? [txn.discount.code.trim()] : undefined,
      couponLookups: txn.discount_id && !txn.discount?.code?.trim() ? [{ gateway: 'paddle', object: 'discount', id: txn.discount_id }] : undefined,
    },
  ];
}

// ---- adjustments: refunds and chargebacks ----

type DisputeAction = { dispute: 'chargeback' | 'chargeback_warning'; status: DisputeFact['status'] };

/**
 * Chargeback adjustments as disputes. A warning holds the rewards and its reversal releases them; a
 * chargeback deletes, and a chargeback reversed (Paddle won it) counts as won. Warnings and
 * chargebacks are separate disputes of the transaction, so a warning that was reversed never stops
 * a later chargeback, and a reversal that arrives first still wins over its chargeback.
 */
const DISPUTE_ACTIONS = new Map<string, DisputeAction>([
  ['chargeback_warning', { dispute: 'chargeback_warning', status: 'opened' }],
  ['chargeback_warning_reverse', { dispute: 'chargeback_warning', status: 'won' }],
  ['chargeback', { dispute: 'chargeback', status: 'lost' }],
  ['chargeback_reverse', { dispute: 'chargeback', status: 'won' }],
] satisfies [AdjustmentAction, DisputeAction][]);

const REFUND: AdjustmentAction = 'refund';

function adjustment(adj: Adjustment, base: Base): PaymentEventInput[] | Ignored {
  const dispute = DISPUTE_ACTIONS.get(adj.action);
  if (adj.action !== REFUND && !dispute) {
    // credits lower what an invoice still owes or add to the customer's balance (later payments
    // are then smaller): no money goes back, so nothing is booked
    return ignored(`${adj.action} adjustment: not a refund or chargeback`);
  }
  // Paddle sets `reversed` on an approved adjustment when a reversal adjustment is made for it
  // (a chargeback_reverse for a chargeback): what it took comes back
  const reversed = adj.status === 'reversed';
  if (adj.status !== 'approved' && !reversed) {
    return ignored(
      adj.status === 'pending_approval'
        ? `${adj.action} adjustment pending_approval: booked once Paddle approves it`
        : `${adj.action} adjustment ${adj.status}: only approved adjustments are booked`,
    );
  }
  const paymentRefs = [adj.transaction_id];
  if (dispute) {
    // a chargeback (or warning) reversed counts as its reverse adjustment does: won
    const status = reversed && dispute.status !== 'won' ? 'won' : dispute.status;
    return [{ ...base, kind: 'dispute', disputeId: `${dispute.dispute}/${adj.transaction_id}`, paymentRefs, status }];
  }
  const flag = reversed ? { reversed } : {};
  // `full` refunds the transaction's grand total: leave the amount out and the whole payment is
  // refunded, whatever credits or rounding make the totals differ from what was stored
  if (adj.type === 'full') return [{ ...base, kind: 'refund', refundId: adj.id, paymentRefs, ...flag }];
  if (!adj.totals) throw new PayloadError('adjustment.totals: a partial refund without totals');
  const amount = paddleMinor(adj.totals.total, adj.currency_code);
  if (amount.minor === '0') return ignored('refund adjustment of 0');
  return [{ ...base, kind: 'refund', refundId: adj.id, paymentRefs, amount, ...flag }];
}
