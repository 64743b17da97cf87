// Gateway deliveries as the gateways send them: a payment or its full refund, for Stripe, Paddle,
// WooCommerce and Chargebee, with the bytes signed the way each gateway signs (at send time, so a
// redelivery carries a fresh timestamp, as real retries do).
import { createHmac } from 'node:crypto';
import Stripe from 'stripe';

export const GATEWAYS = ['stripe', 'paddle', 'woocommerce', 'chargebee'] as const;
export type GatewayName = (typeof GATEWAYS)[number];

/** The secrets the service under test is configured with (see `gatewayEnv`). */
export const SECRETS = {
  stripe: 'whsec_reliability_7d1f0c9a5b',
  paddle: 'pdl_ntfset_reliability_3e8b2d',
  woocommerce: 'wc_reliability_secret_91fa',
  chargebeeUser: 'cb_reliability_hooks',
  chargebeePassword: 'cb-reliability-pass:6c2e',
} as const;

/** Environment variables that configure every gateway's webhook verification. */
export function gatewayEnv(): Record<string, string> {
  return {
    STRIPE_WEBHOOK_SECRET: SECRETS.stripe,
    PADDLE_WEBHOOK_SECRET: SECRETS.paddle,
    WOOCOMMERCE_WEBHOOK_SECRET: SECRETS.woocommerce,
    CHARGEBEE_WEBHOOK_USERNAME: SECRETS.chargebeeUser,
    CHARGEBEE_WEBHOOK_PASSWORD: SECRETS.chargebeePassword,
  };
}

const stripe = new Stripe('sk_test_unused', { telemetry: false });

export type SignOptions = {
  /** Another secret (a forgery); for Chargebee, the password. */
  secret?: string;
  /** Back-date the signature timestamp (Stripe, Paddle). */
  ageSeconds?: number;
};

/** The headers a gateway sends with these bytes (signature, topic ...). */
export function signedHeaders(gateway: GatewayName, body: Buffer, opts: SignOptions = {}): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000) - (opts.ageSeconds ?? 0);
  switch (gateway) {
    case 'stripe':
      return {
        'stripe-signature': stripe.webhooks.generateTestHeaderString({
          payload: body.toString('utf8'),
          secret: opts.secret ?? SECRETS.stripe,
          timestamp: ts,
        }),
      };
    case 'paddle': {
      const h1 = createHmac('sha256', opts.secret ?? SECRETS.paddle).update(`${ts}:`).update(body).digest('hex');
      return { 'paddle-signature': `ts=${ts};h1=${h1}` };
    }
    case 'woocommerce':
      return {
        'x-wc-webhook-topic': 'order.updated',
        'x-wc-webhook-resource': 'order',
        'x-wc-webhook-event': 'updated',
        'x-wc-webhook-id': '27',
        'x-wc-webhook-source': 'https://shop.example.com/',
        'x-wc-webhook-signature': createHmac('sha256', opts.secret ?? SECRETS.woocommerce).update(body).digest('base64'),
      };
    case 'chargebee': {
      const basic = Buffer.from(`${SECRETS.chargebeeUser}:${opts.secret ?? SECRETS.chargebeePassword}`).toString('base64');
      return { authorization: `Basic ${basic}` };
    }
  }
}

/** The header a gateway authenticates with (to send a delivery without it). */
export const SIGNATURE_HEADER: Record<GatewayName, string> = {
  stripe: 'stripe-signature',
  paddle: 'paddle-signature',
  woocommerce: 'x-wc-webhook-signature',
  chargebee: 'authorization',
};

export type Delivery = {
  gateway: GatewayName;
  /** The event id the inbox keys the delivery by. */
  eventId: string;
  body: Buffer;
  /** Signed headers, made now. */
  headers(opts?: SignOptions): Record<string, string>;
};

export function delivery(gateway: GatewayName, eventId: string, payload: unknown): Delivery {
  return signedDelivery(gateway, eventId, Buffer.from(JSON.stringify(payload)));
}

/** These exact bytes, signed as the gateway signs them. */
export function signedDelivery(gateway: GatewayName, eventId: string, body: Buffer): Delivery {
  return { gateway, eventId, body, headers: (opts) => ({ 'content-type': 'application/json', ...signedHeaders(gateway, body, opts) }) };
}

export const EXPONENT: Record<string, number> = { USD: 2, EUR: 2, GBP: 2, JPY: 0, KWD: 3 };

/** One sale: a payment of `amountMinor` (ISO 4217 minor units) credited to `partnerKey`. */
export type Sale = {
  gateway: GatewayName;
  /** Unique within the run: every gateway id of the sale is derived from it. */
  id: string;
  /** A positive integer, unique among WooCommerce sales (WooCommerce ids are numbers). */
  n: number;
  amountMinor: bigint;
  currency: 'USD' | 'EUR' | 'JPY';
  partnerKey: string;
  /** The payer, shared by several sales when the same customer pays again. */
  customer: number;
};

const major = (minor: bigint, currency: string) => {
  const e = EXPONENT[currency] ?? 2;
  if (e === 0) return minor.toString();
  const s = minor.toString().padStart(e + 1, '0');
  return `${s.slice(0, -e)}.${s.slice(-e)}`;
};

/** The key the ledger stores the sale's transaction under. */
export function transactionKey(sale: Sale): string {
  switch (sale.gateway) {
    case 'stripe':
      return `pi_${sale.id}`;
    case 'paddle':
      return `txn_pd${sale.id}`;
    case 'woocommerce':
      return `wc_order_${sale.n}`;
    case 'chargebee':
      return `txn_cb${sale.id}`;
  }
}

const PAID_AT = 1_785_000_000; // 2026-07-25, a fixed moment: the same sale is the same bytes

/** The gateway's notification that the sale was paid. */
export function paymentDelivery(sale: Sale): Delivery {
  const email = `buyer${sale.customer}@example.com`;
  switch (sale.gateway) {
    case 'stripe':
      return delivery('stripe', `evt_p${sale.id}`, {
        id: `evt_p${sale.id}`,
        object: 'event',
        api_version: '2025-03-31.basil',
        created: PAID_AT,
        livemode: false,
        type: 'payment_intent.succeeded',
        data: {
          object: {
            id: `pi_${sale.id}`,
            object: 'payment_intent',
            amount: Number(sale.amountMinor),
            amount_received: Number(sale.amountMinor),
            currency: sale.currency.toLowerCase(),
            customer: `cus_${sale.customer}`,
            latest_charge: `ch_${sale.id}`,
            receipt_email: email,
            status: 'succeeded',
            metadata: { partner_key: sale.partnerKey },
          },
        },
      });
    case 'paddle':
      return delivery('paddle', `evt_p${sale.id}`, {
        event_id: `evt_p${sale.id}`,
        event_type: 'transaction.completed',
        occurred_at: new Date(PAID_AT * 1000).toISOString(),
        notification_id: `ntf_p${sale.id}`,
        data: {
          id: `txn_pd${sale.id}`,
          status: 'completed',
          customer_id: `ctm_${sale.customer}`,
          currency_code: sale.currency,
          custom_data: { partner_key: sale.partnerKey },
          items: [],
          details: { totals: { grand_total: sale.amountMinor.toString(), tax: '0', currency_code: sale.currency } },
        },
      });
    case 'woocommerce': {
      const order = wooOrder(sale, 'completed');
      return delivery('woocommerce', `order-${sale.n}-20260725T100000-completed`, order);
    }
    case 'chargebee':
      return delivery('chargebee', `ev_p${sale.id}`, {
        id: `ev_p${sale.id}`,
        occurred_at: PAID_AT,
        event_type: 'payment_succeeded',
        api_version: 'v2',
        object: 'event',
        content: {
          transaction: {
            id: `txn_cb${sale.id}`,
            type: 'payment',
            status: 'success',
            amount: Number(sale.amountMinor),
            currency_code: sale.currency,
            customer_id: `cbc_${sale.customer}`,
          },
          customer: { id: `cbc_${sale.customer}`, email, cf_partnero_partner: sale.partnerKey },
        },
      });
  }
}

function wooOrder(sale: Sale, status: 'completed' | 'refunded') {
  const total = major(sale.amountMinor, sale.currency);
  return {
    id: sale.n,
    parent_id: 0,
    number: String(sale.n),
    order_key: `wc_order_key${sale.id}`,
    status,
    currency: sale.currency,
    total,
    total_tax: major(0n, sale.currency),
    customer_id: sale.customer + 1,
    billing: { email: `buyer${sale.customer}@example.com` },
    payment_method: 'stripe',
    meta_data: [{ id: 1, key: 'partner_key', value: sale.partnerKey }],
    line_items: [{ id: 1, product_id: 58, quantity: 1 }],
    refunds: status === 'refunded' ? [{ id: sale.n + 500_000_000, reason: 'requested', total: `-${total}` }] : [],
    date_created_gmt: '2026-07-25T09:59:00',
    date_modified_gmt: status === 'refunded' ? '2026-07-26T10:00:00' : '2026-07-25T10:00:00',
    date_paid_gmt: '2026-07-25T10:00:00',
  };
}

/** The gateway's notification that the whole sale was refunded. */
export function refundDelivery(sale: Sale): Delivery {
  const refundedAt = PAID_AT + 86_400;
  switch (sale.gateway) {
    case 'stripe':
      return delivery('stripe', `evt_r${sale.id}`, {
        id: `evt_r${sale.id}`,
        object: 'event',
        api_version: '2025-03-31.basil',
        created: refundedAt,
        livemode: false,
        type: 'refund.created',
        data: {
          object: {
            id: `re_${sale.id}`,
            object: 'refund',
            amount: Number(sale.amountMinor),
            currency: sale.currency.toLowerCase(),
            charge: `ch_${sale.id}`,
            payment_intent: `pi_${sale.id}`,
            status: 'succeeded',
          },
        },
      });
    case 'paddle':
      return delivery('paddle', `evt_r${sale.id}`, {
        event_id: `evt_r${sale.id}`,
        event_type: 'adjustment.updated',
        occurred_at: new Date(refundedAt * 1000).toISOString(),
        notification_id: `ntf_r${sale.id}`,
        data: {
          id: `adj_${sale.id}`,
          action: 'refund',
          type: 'full',
          status: 'approved',
          transaction_id: `txn_pd${sale.id}`,
          currency_code: sale.currency,
          totals: { total: sale.amountMinor.toString(), currency_code: sale.currency },
        },
      });
    case 'woocommerce': {
      const order = wooOrder(sale, 'refunded');
      return delivery('woocommerce', `order-${sale.n}-20260726T100000-refunded-r1-${sale.n + 500_000_000}`, order);
    }
    case 'chargebee':
      return delivery('chargebee', `ev_r${sale.id}`, {
        id: `ev_r${sale.id}`,
        occurred_at: refundedAt,
        event_type: 'payment_refunded',
        api_version: 'v2',
        object: 'event',
        content: {
          transaction: {
            id: `txn_cbr${sale.id}`,
            type: 'refund',
            status: 'success',
            amount: Number(sale.amountMinor),
            currency_code: sale.currency,
            customer_id: `cbc_${sale.customer}`,
            refunded_txn_id: `txn_cb${sale.id}`,
          },
        },
      });
  }
}

/** A small seeded PRNG (mulberry32): a failing run can be repeated with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** `count` sales spread over the gateways and currencies, with amounts and partners from `random`. */
export function makeSales(count: number, opts: { tag: string; random: () => number; partners: string[]; customers?: number }): Sale[] {
  const currencies = ['USD', 'EUR', 'JPY'] as const;
  return Array.from({ length: count }, (_, i) => {
    const currency = currencies[Math.floor(opts.random() * currencies.length)]!;
    // 1.00 … 999.99 (or ¥100 … ¥99,999): amounts whose 20% needs every decimal
    const amountMinor = BigInt(100 + Math.floor(opts.random() * 99_900));
    return {
      gateway: GATEWAYS[i % GATEWAYS.length]!,
      id: `${opts.tag}x${i}`,
      n: 1_000_000 + i,
      amountMinor,
      currency,
      partnerKey: opts.partners[Math.floor(opts.random() * opts.partners.length)]!,
      customer: Math.floor(opts.random() * (opts.customers ?? count)),
    };
  });
}

/** HTTP POST of a delivery; the status and the body text. Never throws: a network error is status 0. */
export async function send(
  baseUrl: string,
  d: Delivery,
  opts: SignOptions & { path?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(`${baseUrl}${opts.path ?? `/webhooks/${d.gateway}`}`, {
      method: 'POST',
      body: new Uint8Array(d.body),
      headers: opts.headers ?? d.headers(opts),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: (err as Error).message };
  }
}

/** Run `fn` over `items` with at most `concurrency` at once; results in input order. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}
