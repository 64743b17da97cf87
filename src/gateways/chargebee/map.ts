// Chargebee event → payment facts. Pure. Money comes as payment_succeeded / payment_refunded, each
// carrying its transaction; the customer's custom fields hold the partner key.
import { WebhookEventType } from 'chargebee';
import type { z } from 'zod';
import { exponent, isCurrencyCode } from '../../core/money.js';
import {
  ignored,
  type Ignored,
  type Lookup,
  type PartnerKeyPlace,
  type PaymentEventInput,
} from '../../core/payment-event.js';
import { PayloadError, parsePayload, compactIds } from '../gateway.js';
import { CreditNote, Customer, Envelope, Invoice, Subscription, Transaction } from './wire.js';

/**
 * Chargebee's integer amount in ISO 4217 minor units. Chargebee counts zero-decimal currencies (JPY,
 * KRW, XAF, XOF ...) in whole units and every other currency in hundredths of the major unit, so
 * three-decimal currencies (BHD, KWD ...) gain a digit: 1235 BHD hundredths are 12350 fils.
 */
export function chargebeeMinor(amount: number, currencyCode: string): { minor: string; currency: string } {
  const code = currencyCode.toUpperCase();
  if (!isCurrencyCode(code)) throw new PayloadError(`unknown currency code "${currencyCode}"`);
  const iso = exponent(code);
  const chargebee = Math.min(iso, 2);
  return { minor: (BigInt(amount) * 10n ** BigInt(iso - chargebee)).toString(), currency: code };
}

/**
 * An invoice as one of a payment's aliases. Chargebee numbers invoices per site ("1042" by default),
 * and a program's payment refs are shared by all its gateways: the prefix keeps them apart.
 */
export const invoiceRef = (invoiceId: string) => `chargebee_invoice_${invoiceId}`;

/** The custom fields (on the Chargebee customer) that may hold the partner key, in order. */
export const PARTNER_KEY_FIELDS = [
  ['cf_partnero_partner', 'chargebee_cf_partnero_partner'],
  ['cf_referral_code', 'chargebee_cf_referral_code'],
] as const satisfies readonly (readonly [keyof Customer, PartnerKeyPlace])[];

/** The event types to enable on the Chargebee webhook. */
export const CHARGEBEE_EVENT_TYPES: readonly string[] = [WebhookEventType.PaymentSucceeded, WebhookEventType.PaymentRefunded, WebhookEventType.TransactionDeleted];

const NOT_MONEY = 'carries no transaction: its money arrives as payment_succeeded';
const REASONS: Partial<Record<string, string>> = {
  [WebhookEventType.SubscriptionRenewed]: `subscription_renewed ${NOT_MONEY}`,
  [WebhookEventType.SubscriptionCreated]: `subscription_created ${NOT_MONEY}`,
  [WebhookEventType.InvoiceGenerated]: `invoice_generated ${NOT_MONEY}`,
  [WebhookEventType.InvoiceUpdated]: `invoice_updated ${NOT_MONEY}`,
  [WebhookEventType.PaymentFailed]: 'payment failed: nothing was paid',
  [WebhookEventType.PaymentInitiated]: 'payment initiated, not settled: payment_succeeded will follow',
  [WebhookEventType.RefundInitiated]: 'refund initiated, not settled: payment_refunded will follow',
  [WebhookEventType.TransactionCreated]: 'transaction events repeat payment_succeeded / payment_refunded',
  [WebhookEventType.TransactionUpdated]: 'transaction events repeat payment_succeeded / payment_refunded',
};

type Base = { gateway: 'chargebee'; eventId: string; eventType: string; occurredAt: string };

const parse = parsePayload;
const optional = <T extends z.ZodType>(schema: T, value: unknown, what: string) =>
  value === undefined || value === null ? undefined : parse(schema, value, what);
const compact = compactIds;

export function chargebeeToEvents(payload: unknown): PaymentEventInput[] | Ignored {
  const env = parse(Envelope, payload, 'event');
  const base: Base = {
    gateway: 'chargebee',
    eventId: env.id,
    eventType: env.event_type,
    occurredAt: new Date(env.occurred_at * 1000).toISOString(),
  };
  switch (env.event_type) {
    case WebhookEventType.PaymentSucceeded:
      return payment(env.content, base);
    case WebhookEventType.PaymentRefunded:
      return refund(env.content, base);
    case WebhookEventType.TransactionDeleted:
      return deletedRefund(env.content, base);
    default:
      return ignored(REASONS[env.event_type] ?? `not a payment event: ${env.event_type}`);
  }
}

/**
 * The invoices this transaction alone paid: their ids name this payment too. An invoice paid in
 * parts is no alias of either part (it would merge the second payment into the first).
 */
function soleInvoices(tx: Transaction, invoice: Invoice | undefined): string[] {
  const alone = (inv: Invoice) => !!inv.linked_payments?.length && inv.linked_payments.every((p) => p.txn_id === tx.id);
  if (!tx.linked_invoices) return invoice && alone(invoice) ? [invoice.id] : [];
  return tx.linked_invoices
    .filter((li) =>
      invoice?.id === li.invoice_id && invoice.linked_payments
        ? alone(invoice)
        : li.applied_amount != null && li.applied_amount === li.invoice_total,
    )
    .map((li) => li.invoice_id);
}

function partnerKey(customer: Customer | undefined) {
  for (const [field, place] of PARTNER_KEY_FIELDS) {
    const value = customer?.[field];
    if (value) return { value, place };
  }
  return undefined;
}

/** The customer as the API has it now, field by field: a lookup reports one place. */
function lookups(customerId: string | undefined): Lookup[] {
  if (!customerId) return [];
  return PARTNER_KEY_FIELDS.map(([, place]) => ({ gateway: 'chargebee', object: 'customer', id: customerId, place }));
}

const COUPON_TYPES = new Set(['item_level_coupon', 'document_level_coupon']);

/**
 * The coupon codes a payment used: the invoice's coupon discounts (a coupon-set code as typed, else the
 * coupon's id), its line items' coupons, then the subscription's coupons. A partner's one credits it.
 */
function couponCodes(invoice: Invoice | undefined, subscription: Subscription | undefined): string[] | undefined {
  const codes: (string | null | undefined)[] = [];
  for (const d of invoice?.discounts ?? []) if (COUPON_TYPES.has(d.entity_type ?? '')) codes.push(d.coupon_set_code, d.entity_id);
  for (const d of invoice?.line_item_discounts ?? []) if (COUPON_TYPES.has(d.discount_type ?? '')) codes.push(d.coupon_id ?? d.entity_id);
  for (const c of subscription?.coupons ?? []) codes.push(c.coupon_code, c.coupon_id);
  const list = compactIds(codes.map((c) => c?.trim())).slice(0, 20);
  return list.length ? list : undefined;
}

function payment(content: Record<string, unknown>, base: Base): PaymentEventInput[] | Ignored {
  const tx = parse(Transaction, content.transaction, 'transaction');
  if (tx.type !== 'payment') return ignored(`transaction type ${tx.type}: not a payment`);
  if (tx.status !== 'success') return ignored(`payment ${tx.status ?? 'without status'}: not settled`);
  if (!tx.amount) return ignored('nothing was paid (amount 0)');
  const invoice = optional(Invoice, content.invoice, 'invoice');
  const customer = optional(Customer, content.customer, 'customer');
  const subscription = optional(Subscription, content.subscription, 'subscription');
  const amount = chargebeeMinor(tx.amount, tx.currency_code);
  const invoices = soleInvoices(tx, invoice);
  const paidInvoice = invoice && invoices.includes(invoice.id) ? invoice : undefined;
  const line = invoice?.line_items?.[0];
  const customerId = customer?.id ?? tx.customer_id ?? undefined;
  const subscriptionId = tx.subscription_id ?? invoice?.subscription_id ?? undefined;
  return [
    {
      ...base,
      kind: 'payment',
      transactionKey: tx.id,
      aliases: invoices.slice(0, 10).map(invoiceRef),
      amount,
      tax:
        paidInvoice?.tax != null && (paidInvoice.currency_code ?? tx.currency_code).toUpperCase() === amount.currency
          ? chargebeeMinor(paidInvoice.tax, amount.currency).minor
          : undefined,
      customer: { id: customerId, email: customer?.email?.trim() || undefined },
      product: line?.entity_id || line?.entity_type ? { id: line.entity_id ?? undefined, type: line.entity_type ?? undefined } : undefined,
      partnerKey: partnerKey(customer),
      lookups: lookups(customerId),
      coupons: couponCodes(invoice, subscription),
      details: {
        ...(invoice ? { invoice_id: invoice.id } : {}),
        ...(subscriptionId ? { subscription_id: subscriptionId } : {}),
      },
    },
  ];
}

/** A refund transaction deleted (offline ones can be): it never happened, what it took comes back. */
function deletedRefund(content: Record<string, unknown>, base: Base): PaymentEventInput[] | Ignored {
  const tx = parse(Transaction, content.transaction, 'transaction');
  if (tx.type !== 'refund') return ignored(`transaction_deleted of a ${tx.type}: only a deleted refund is booked`);
  return refund(content, base, true);
}

function refund(content: Record<string, unknown>, base: Base, deleted = false): PaymentEventInput[] | Ignored {
  const tx = parse(Transaction, content.transaction, 'transaction');
  if (tx.type !== 'refund') return ignored(`transaction type ${tx.type}: not a refund`);
  // a voided refund was canceled before it settled: it takes nothing back (restores what it took)
  const reversed = deleted || tx.status === 'voided';
  if (tx.status !== 'success' && !reversed) return ignored(`refund ${tx.status ?? 'without status'}: not settled`);
  if (tx.amount === 0) return ignored('nothing was refunded (amount 0)');
  // refunded_txn_id names the payment; reference_transaction_id does for offline refunds
  let paymentRefs = compact([tx.refunded_txn_id, tx.reference_transaction_id]);
  if (!paymentRefs.length) {
    // no transaction named: the invoice its credit note refunds (an alias when one payment paid it)
    const note = optional(CreditNote, content.credit_note, 'credit_note');
    paymentRefs = compact([note?.reference_invoice_id, ...(tx.linked_credit_notes ?? []).map((cn) => cn.cn_reference_invoice_id)]).map(invoiceRef);
  }
  if (!paymentRefs.length) return ignored('refund names no payment transaction or invoice');
  return [
    {
      ...base,
      kind: 'refund',
      refundId: tx.id,
      paymentRefs: paymentRefs.slice(0, 10),
      amount: tx.amount == null ? undefined : chargebeeMinor(tx.amount, tx.currency_code),
      ...(reversed ? { reversed } : {}),
    },
  ];
}
