// Realistic payment webhooks for `send-test-webhook`: one paid payment per gateway, in the shape the
// gateway really sends (see test/fixtures/ for captured ones), and the headers that authenticate it.
import { createHmac, randomBytes } from 'node:crypto';
import type { GatewaySettings } from '../gateways/settings.js';

export const TEST_GATEWAYS = ['stripe', 'paddle', 'woocommerce', 'chargebee'] as const;
export type TestGateway = (typeof TEST_GATEWAYS)[number];

export type TestPayment = { partnerKey: string; minor: bigint; currency: string; email: string; now: Date };
export type SignedWebhook = { body: string; headers: Record<string, string>; transactionKey: string; eventId: string };

/** What is missing to sign for a gateway, in words, or null when its settings are there. */
export function missingSecret(gateway: TestGateway, settings: GatewaySettings): string | null {
  switch (gateway) {
    case 'stripe':
      return settings.stripe?.webhookSecrets.length ? null : 'STRIPE_WEBHOOK_SECRET';
    case 'paddle':
      return settings.paddle?.webhookSecrets.length ? null : 'PADDLE_WEBHOOK_SECRET';
    case 'woocommerce':
      return settings.woocommerce?.webhookSecrets.length ? null : 'WOOCOMMERCE_WEBHOOK_SECRET';
    case 'chargebee':
      return settings.chargebee?.username && settings.chargebee.password ? null : 'CHARGEBEE_WEBHOOK_USERNAME and CHARGEBEE_WEBHOOK_PASSWORD';
  }
}

const id = (n = 14) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n);
const hmac = (key: string, data: string, encoding: 'hex' | 'base64' = 'hex') => createHmac('sha256', key).update(data).digest(encoding);

/** A signed delivery of one paid payment; settings must hold the gateway's secret (see missingSecret). */
export function signedTestWebhook(gateway: TestGateway, p: TestPayment, settings: GatewaySettings): SignedWebhook {
  const unix = Math.floor(p.now.getTime() / 1000);
  const iso = p.now.toISOString();
  switch (gateway) {
    case 'stripe': {
      const pi = `pi_test_${id()}`;
      const eventId = `evt_test_${id()}`;
      const body = JSON.stringify({
        id: eventId,
        object: 'event',
        api_version: '2025-03-31.basil',
        created: unix,
        data: {
          object: {
            id: pi,
            object: 'payment_intent',
            amount: Number(p.minor),
            amount_received: Number(p.minor),
            capture_method: 'automatic_async',
            created: unix,
            currency: p.currency.toLowerCase(),
            customer: `cus_test_${id()}`,
            description: 'Partner Ledger test payment',
            latest_charge: `ch_test_${id()}`,
            livemode: false,
            metadata: { partner_key: p.partnerKey },
            payment_method_types: ['card'],
            receipt_email: p.email,
            status: 'succeeded',
          },
        },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type: 'payment_intent.succeeded',
      });
      const secret = settings.stripe!.webhookSecrets[0]!;
      return {
        body,
        eventId,
        transactionKey: pi,
        headers: {
          'stripe-signature': `t=${unix},v1=${hmac(secret, `${unix}.${body}`)}`,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
      };
    }
    case 'paddle': {
      const txn = `txn_test${id(20).toLowerCase()}`;
      const eventId = `evt_test${id(20).toLowerCase()}`;
      const minor = p.minor.toString();
      const totals = { subtotal: minor, tax: '0', discount: '0', total: minor, grand_total: minor, currency_code: p.currency };
      const body = JSON.stringify({
        event_id: eventId,
        event_type: 'transaction.completed',
        occurred_at: iso,
        notification_id: `ntf_test${id(20).toLowerCase()}`,
        data: {
          id: txn,
          status: 'completed',
          origin: 'web',
          items: [],
          details: { totals, line_items: [] },
          payments: [{ amount: minor, status: 'captured', created_at: iso, captured_at: iso }],
          billed_at: iso,
          created_at: iso,
          updated_at: iso,
          custom_data: { partner_key: p.partnerKey },
          customer_id: `ctm_test${id(20).toLowerCase()}`,
          currency_code: p.currency,
          collection_mode: 'automatic',
          subscription_id: null,
          invoice_id: null,
        },
      });
      const secret = settings.paddle!.webhookSecrets[0]!;
      return { body, eventId, transactionKey: txn, headers: { 'paddle-signature': `ts=${unix};h1=${hmac(secret, `${unix}:${body}`)}` } };
    }
    case 'woocommerce': {
      const orderId = 100_000 + Math.floor(Math.random() * 900_000_000);
      const local = iso.slice(0, 19);
      const total = (Number(p.minor) / 100).toFixed(2);
      const body = JSON.stringify({
        id: orderId,
        parent_id: 0,
        status: 'completed',
        currency: p.currency,
        version: '9.8.5',
        prices_include_tax: false,
        date_created: local,
        date_modified: local,
        total,
        total_tax: '0.00',
        customer_id: 0,
        order_key: `wc_order_${id(12)}`,
        billing: { first_name: 'Test', last_name: 'Buyer', email: p.email },
        payment_method: 'stripe',
        transaction_id: `pi_test_${id()}`,
        created_via: 'checkout',
        date_completed: local,
        date_paid: local,
        number: String(orderId),
        meta_data: [{ id: 1, key: 'partner_key', value: p.partnerKey }],
        line_items: [],
        refunds: [],
        date_created_gmt: local,
        date_modified_gmt: local,
        date_completed_gmt: local,
        date_paid_gmt: local,
      });
      const secret = settings.woocommerce!.webhookSecrets[0]!;
      return {
        body,
        eventId: `order ${orderId}`,
        transactionKey: `wc_order_${orderId}`,
        headers: {
          'x-wc-webhook-signature': hmac(secret, body, 'base64'),
          'x-wc-webhook-topic': 'order.updated',
          'x-wc-webhook-resource': 'order',
          'x-wc-webhook-event': 'updated',
          'x-wc-webhook-id': '1',
          'x-wc-webhook-delivery-id': randomBytes(16).toString('hex'),
          'x-wc-webhook-source': 'https://shop.example.com/',
          'user-agent': 'WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)',
        },
      };
    }
    case 'chargebee': {
      const txn = `txn_test${id()}`;
      const customer = `test${id()}`;
      const eventId = `ev_test${id()}`;
      const amount = Number(p.minor);
      const invoice = `INV-TEST-${id(6)}`;
      const body = JSON.stringify({
        id: eventId,
        occurred_at: unix,
        source: 'scheduled_job',
        object: 'event',
        api_version: 'v2',
        content: {
          transaction: {
            id: txn,
            customer_id: customer,
            payment_method: 'card',
            gateway: 'stripe',
            type: 'payment',
            date: unix,
            exchange_rate: 1,
            amount,
            status: 'success',
            updated_at: unix,
            deleted: false,
            object: 'transaction',
            currency_code: p.currency,
            linked_invoices: [{ invoice_id: invoice, applied_amount: amount, applied_at: unix, invoice_date: unix, invoice_total: amount, invoice_status: 'paid' }],
            linked_refunds: [],
          },
          customer: {
            id: customer,
            first_name: 'Test',
            last_name: 'Buyer',
            email: p.email,
            created_at: unix,
            deleted: false,
            object: 'customer',
            cf_partnero_partner: p.partnerKey,
          },
        },
        event_type: 'payment_succeeded',
        webhook_status: 'scheduled',
      });
      const { username, password } = settings.chargebee!;
      return {
        body,
        eventId,
        transactionKey: txn,
        headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
      };
    }
  }
}
