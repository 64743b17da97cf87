// The Stripe API calls the enrich step makes, through the official SDK.
import Stripe from 'stripe';
import type { CouponLookup, Lookup, ObjectRef } from '../../core/payment-event.js';
import type { GatewaySettings } from '../settings.js';
import { EnrichmentError, type LookupClient, type LookupResult } from '../gateway.js';
import { PARTNER_KEY } from './map.js';

type Settings = NonNullable<GatewaySettings['stripe']>;

/** SDK options that point it at another host (tests, sandboxes) when the operator sets `apiBase`. */
export function stripeSdk(apiKey: string, apiBase?: string): Stripe {
  const options: Stripe.StripeConfig = { maxNetworkRetries: 0, timeout: 10_000, telemetry: false };
  if (apiBase) {
    const u = new URL(apiBase);
    options.host = u.hostname;
    options.protocol = u.protocol === 'http:' ? 'http' : 'https';
    if (u.port) options.port = Number(u.port);
  }
  return new Stripe(apiKey, options);
}

/** Run a Stripe call: 404 is "not there"; timeouts, 429 and 5xx are worth retrying; the rest is not. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { statusCode?: number; type?: string; message?: string };
    if (e.statusCode === 404) return null;
    const status = e.statusCode ?? 'unreachable';
    const transient = e.statusCode === undefined || e.statusCode === 429 || e.statusCode >= 500;
    throw new EnrichmentError(`partner lookup: Stripe API ${status} on ${what}`, transient);
  }
}

const partnerKeyOf = (metadata: Stripe.Metadata | null | undefined) => metadata?.[PARTNER_KEY]?.trim() || undefined;

export class StripeLookupClient implements LookupClient {
  constructor(private readonly stripe: Stripe) {}

  async lookup(l: Lookup): Promise<LookupResult | null> {
    switch (l.object) {
      case 'subscription': {
        const sub = await call(`GET /v1/subscriptions/${l.id}`, () => this.stripe.subscriptions.retrieve(l.id));
        return sub ? { partnerKey: partnerKeyOf(sub.metadata) } : null;
      }
      case 'customer': {
        const c = await call(`GET /v1/customers/${l.id}`, () => this.stripe.customers.retrieve(l.id));
        if (!c || c.deleted) return null;
        return { partnerKey: partnerKeyOf(c.metadata), email: c.email ?? undefined };
      }
      case 'invoice': {
        // an invoice's subscription: its metadata snapshot, else the subscription itself
        const inv = await call(`GET /v1/invoices/${l.id}`, () => this.stripe.invoices.retrieve(l.id));
        if (!inv) return null;
        const details = inv.parent?.subscription_details;
        const snapshot = partnerKeyOf(details?.metadata);
        if (snapshot) return { partnerKey: snapshot, email: inv.customer_email ?? undefined };
        const subId = typeof details?.subscription === 'string' ? details.subscription : details?.subscription?.id;
        if (!subId) return { email: inv.customer_email ?? undefined };
        const sub = await this.lookup({ ...l, object: 'subscription', id: subId });
        return { partnerKey: sub?.partnerKey, email: inv.customer_email ?? undefined };
      }
      default:
        return null;
    }
  }

  /**
   * The codes of a payment's discounts: a promotion code's `code` (`GET /v1/promotion_codes/{id}`), or
   * an invoice's discounts (`GET /v1/invoices/{id}?expand[]=discounts`): their promotion codes' codes
   * and their coupons' ids. null when the object does not exist.
   */
  async couponCodes(l: CouponLookup): Promise<string[] | null> {
    if (l.object === 'promotion_code') {
      const pc = await call(`GET /v1/promotion_codes/${l.id}`, () => this.stripe.promotionCodes.retrieve(l.id));
      return pc ? [pc.code] : null;
    }
    if (l.object !== 'invoice') return null;
    const inv = await call(`GET /v1/invoices/${l.id}`, () => this.stripe.invoices.retrieve(l.id, { expand: ['discounts'] }));
    if (!inv) return null;
    const codes: string[] = [];
    for (const d of inv.discounts ?? []) {
      if (typeof d === 'string' || ('deleted' in d && d.deleted)) continue;
      const pc = d.promotion_code;
      if (pc && typeof pc === 'object') codes.push(pc.code);
      else if (pc) {
        const found = await this.couponCodes({ ...l, object: 'promotion_code', id: pc });
        if (found) codes.push(...found);
      }
      // a coupon's id: `source.coupon` since 2025-09, `coupon` on older objects
      const coupon = (d.source?.coupon ?? (d as { coupon?: string | { id: string } | null }).coupon) as string | { id: string } | null | undefined;
      const couponId = typeof coupon === 'string' ? coupon : coupon?.id;
      if (couponId) codes.push(couponId);
    }
    return codes;
  }

  /** The PaymentIntent that paid an invoice (`GET /v1/invoice_payments?invoice=…`). */
  async paymentKey(ref: ObjectRef): Promise<string | null> {
    if (ref.object !== 'invoice') return null;
    const list = await call(`GET /v1/invoice_payments?invoice=${ref.id}`, () =>
      this.stripe.invoicePayments.list({ invoice: ref.id, limit: 10 }),
    );
    const paid = list?.data.find((p) => p.status === 'paid') ?? list?.data[0];
    const pi = paid?.payment?.payment_intent;
    return (typeof pi === 'string' ? pi : pi?.id) ?? null;
  }
}

export function stripeLookupClient(settings: Settings | undefined, apiBase?: string): StripeLookupClient | null {
  if (!settings?.apiKey) return null;
  return new StripeLookupClient(stripeSdk(settings.apiKey, apiBase));
}
