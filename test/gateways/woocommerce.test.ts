import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PaymentEvent, type PaymentEventInput } from '../../src/core/payment-event.js';
import { woocommerceAdapter } from '../../src/gateways/woocommerce/index.js';
import { orderEventId } from '../../src/gateways/woocommerce/map.js';
import { normalize } from '../../src/ingest/normalize.js';
import { gatewayContract } from '../gateway-contract.js';
import { fixture, fixtureJson } from '../support/fixtures.js';

const sign = (body: Buffer, secret: string) => ({
  'X-WC-Webhook-Signature': createHmac('sha256', secret).update(body).digest('base64'),
});
/** The headers WooCommerce sends with a delivery (SIGNING.md), without the signature. */
const delivery = (topic: string, deliveryId = '0b6e4f3c9a2d41e7b58c1f0a93d2e6b4') => ({
  'Content-Type': 'application/json',
  'User-Agent': 'WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)',
  'X-WC-Webhook-Source': 'https://shop.example.com/',
  'X-WC-Webhook-Topic': topic,
  'X-WC-Webhook-Resource': topic.split('.')[0]!,
  'X-WC-Webhook-Event': topic.split('.')[1]!,
  'X-WC-Webhook-ID': '27',
  'X-WC-Webhook-Delivery-ID': deliveryId,
});

/** Compact JSON as PHP's json_encode writes it: escaped slashes, \uXXXX for non-ASCII. */
const php = (value: unknown) =>
  Buffer.from(
    JSON.stringify(value)
      .replace(/\//g, '\\/')
      .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
const customerCreated = php({
  id: 131,
  date_created: '2025-07-29T10:00:00',
  date_created_gmt: '2025-07-29T14:00:00',
  date_modified: '2025-07-29T10:00:00',
  date_modified_gmt: '2025-07-29T14:00:00',
  email: 'new.customer@example.com',
  first_name: 'Noor',
  last_name: 'Ali',
  role: 'customer',
  username: 'noor.ali',
  billing: { email: 'new.customer@example.com' },
  is_paying_customer: false,
  avatar_url: 'https://secure.gravatar.com/avatar/0?s=96&d=mm&r=g',
  meta_data: [],
});

// one kind of fact per delivery; order.updated.partial_refund.json carries a payment and a refund,
// which the contract's one-kind check cannot express: it is checked below, schema included
const fixtures = [
  ['order.updated.completed.json', 'payment', 'order.updated'],
  ['order.updated.bhd.json', 'payment', 'order.updated'],
  ['order.updated.refunded.json', 'refund', 'order.updated'],
  ['order.created.processing.json', 'payment', 'order.created'],
  ['order.created.guest.json', 'payment', 'order.created'],
  ['order.updated.jpy.json', 'payment', 'order.updated'],
  ['order.updated.pending.json', 'ignore', 'order.updated'],
  ['product.updated.json', 'ignore', 'product.updated'],
] as const;

gatewayContract({
  adapter: woocommerceAdapter,
  settings: (secrets) => ({ webhookSecrets: secrets }),
  sign,
  signatureHeader: 'X-WC-Webhook-Signature',
  signsBody: true,
  // nothing in a WooCommerce signature is dated: no staleness to test
  fixtures: fixtures.map(([name, kind, topic]) => ({ name, kind, body: fixture('woocommerce', name), headers: delivery(topic) })),
  unknownEvent: customerCreated,
});

const SECRET = 'wc_unit_secret';
const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
const verify = (body: Buffer, headers: Record<string, string>, secrets: string[] | null = [SECRET]) =>
  woocommerceAdapter.verify({ rawBody: body, headers: lower(headers), now: new Date() }, secrets ? { webhookSecrets: secrets } : undefined);
const signed = (body: Buffer, topic = 'order.updated', secret = SECRET) => verify(body, { ...delivery(topic), ...sign(body, secret) });

type Loose = PaymentEventInput & Record<string, unknown>;
const allEventsOf = (payload: unknown) => {
  const r = woocommerceAdapter.toEvents(payload);
  if (!Array.isArray(r)) throw new Error(`ignored: ${r.reason}`);
  return r as Loose[];
};
/** The payment and refund facts (the list of refunds standing that ends each order is tested apart). */
const eventsOf = (payload: unknown) => allEventsOf(payload).filter((e) => e.kind !== 'refunds_standing');
const events = (name: string) => eventsOf(fixtureJson('woocommerce', name));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const order = (name: string, change: (o: any) => void) => {
  const o = fixtureJson('woocommerce', name);
  change(o);
  return o;
};

describe('WooCommerce verification', () => {
  it('matches WooCommerce\'s own signature on the exact bytes (SIGNING.md worked example)', () => {
    const body = fixture('woocommerce', 'order.updated.completed.json');
    const v = verify(body, { ...delivery('order.updated'), 'X-WC-Webhook-Signature': 'di295is9WvjQ11ahZYCvxU0rNcejKv9FigKFLKqL6ZM=' }, [
      'wc_fixture_secret_docs_only_9f3k',
    ]);
    expect(v).toEqual({
      kind: 'verified',
      payload: fixtureJson('woocommerce', 'order.updated.completed.json'),
      eventId: 'order-4817-20250721T132045-completed',
      eventType: 'order.updated',
      meta: {
        'x-wc-webhook-topic': 'order.updated',
        'x-wc-webhook-delivery-id': '0b6e4f3c9a2d41e7b58c1f0a93d2e6b4',
        'x-wc-webhook-id': '27',
      },
    });
  });

  it('acknowledges the unsigned creation ping, and nothing else unsigned', () => {
    const ping = fixture('woocommerce', 'ping.webhook_id.txt');
    const headers = { 'User-Agent': 'WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)', 'Content-Type': 'application/x-www-form-urlencoded' };
    expect(verify(ping, headers)).toEqual({ kind: 'acknowledged', reason: 'WooCommerce webhook 27 creation ping' });
    // before the program is set up, the ping already says so (the merchant sees it when saving the webhook)
    expect(verify(ping, headers, null)).toMatchObject({ kind: 'rejected', code: 'gateway_not_configured' });
    // a ping-like body with delivery headers, or an unsigned order, is not a ping
    expect(verify(ping, delivery('order.updated'))).toMatchObject({ kind: 'rejected', code: 'missing_signature' });
    expect(verify(fixture('woocommerce', 'order.updated.completed.json'), {})).toMatchObject({ kind: 'rejected', code: 'missing_signature' });
  });

  it('accepts a delivery signed with any active secret (rotation), refuses a retired one', () => {
    const body = fixture('woocommerce', 'order.created.processing.json');
    for (const secret of ['wc_old', 'wc_new']) {
      expect(verify(body, { ...delivery('order.created'), ...sign(body, secret) }, ['wc_old', 'wc_new']).kind).toBe('verified');
    }
    expect(verify(body, { ...delivery('order.created'), ...sign(body, 'wc_old') }, ['wc_new'])).toMatchObject({
      kind: 'rejected',
      code: 'invalid_signature',
    });
  });

  it('refuses a malformed signature header', () => {
    const body = fixture('woocommerce', 'order.updated.completed.json');
    for (const bad of ['not base64!', 'abc=', createHmac('sha256', SECRET).update(body).digest('hex')]) {
      expect(verify(body, { ...delivery('order.updated'), 'X-WC-Webhook-Signature': bad })).toMatchObject({
        kind: 'rejected',
        code: 'invalid_signature',
      });
    }
  });

  it('refuses a signed body that is not a JSON order', () => {
    for (const text of ['not json', '[1,2]', '"text"']) {
      expect(signed(Buffer.from(text))).toMatchObject({ kind: 'rejected', code: 'invalid_payload' });
    }
    // an order topic whose body is a product
    expect(signed(fixture('woocommerce', 'product.updated.json'), 'order.updated')).toMatchObject({
      kind: 'rejected',
      code: 'invalid_payload',
      message: 'the body of an order.updated delivery is not a WooCommerce order',
    });
  });

  it('order.deleted (only the id) and other resources are verified, then ignored', () => {
    const deleted = signed(Buffer.from('{"id":4817}'), 'order.deleted');
    expect(deleted).toMatchObject({ kind: 'verified', eventType: 'order.deleted', eventId: 'delivery-0b6e4f3c9a2d41e7b58c1f0a93d2e6b4' });
    if (deleted.kind === 'verified') expect(woocommerceAdapter.toEvents(deleted.payload)).toMatchObject({ kind: 'ignore' });
    const product = signed(fixture('woocommerce', 'product.updated.json'), 'product.updated');
    expect(product).toMatchObject({ kind: 'verified', eventType: 'product.updated' });
    if (product.kind === 'verified') {
      expect(woocommerceAdapter.toEvents(product.payload)).toEqual({ kind: 'ignore', reason: 'not an order: only order deliveries carry payments' });
    }
  });

  it('without a topic header the event type is the order status', () => {
    const body = fixture('woocommerce', 'order.updated.refunded.json');
    expect(verify(body, sign(body, SECRET))).toMatchObject({
      kind: 'verified',
      eventType: 'order.refunded',
      eventId: 'order-4817-20250802T150537-refunded-r1-4901',
      meta: {},
    });
  });
});

describe('WooCommerce event ids', () => {
  it('are the order state, whichever delivery brought it', () => {
    const body = fixture('woocommerce', 'order.created.processing.json');
    const a = signed(body, 'order.created');
    const b = verify(body, { ...delivery('order.updated', 'ffffeeee0000111122223333aaaabbbb'), ...sign(body, SECRET) });
    expect(a.kind === 'verified' && b.kind === 'verified' && a.eventId === b.eventId).toBe(true);
    expect(a).toMatchObject({ eventId: 'order-4830-20250724T200341-processing' });
    // the facts carry the same id as the inbox row, and so does an order read from the REST API
    expect(events('order.created.processing.json')[0]?.eventId).toBe('order-4830-20250724T200341-processing');
    expect(orderEventId(fixtureJson('woocommerce', 'order.created.processing.json') as never)).toBe('order-4830-20250724T200341-processing');
  });

  it('change with the modification time, the status and the refund entries', () => {
    const base = fixtureJson<Record<string, unknown>>('woocommerce', 'order.updated.completed.json') as never as {
      id: number;
      status: string;
      date_modified_gmt: string;
      refunds: { id: number }[];
    };
    const id = orderEventId(base);
    expect(orderEventId({ ...base, date_modified_gmt: '2025-07-21T13:20:46' })).not.toBe(id);
    expect(orderEventId({ ...base, status: 'processing' })).not.toBe(id);
    expect(orderEventId({ ...base, refunds: [{ id: 4890 }] })).toBe('order-4817-20250721T132045-completed-r1-4890');
    expect(orderEventId({ ...base, refunds: [{ id: 4890 }, { id: 4893 }] })).toBe('order-4817-20250721T132045-completed-r2-4893');
    expect(orderEventId({ ...base, date_modified_gmt: undefined as never })).toBe('order-4817-undated-completed');
  });
});

describe('WooCommerce normalization', () => {
  it('a completed order: one payment keyed by the order id, partner key from meta_data', () => {
    expect(events('order.updated.completed.json')).toEqual([
      {
        gateway: 'woocommerce',
        eventId: 'order-4817-20250721T132045-completed',
        eventType: 'order.completed',
        kind: 'payment',
        occurredAt: '2025-07-21T13:14:09.000Z',
        transactionKey: 'wc_order_4817',
        aliases: ['wc_order_Qm4xT9vLp2Rz8'],
        amount: { minor: '5900', currency: 'USD' },
        tax: '0',
        customer: { id: '112', email: 'rosa.delgado@example.com' },
        product: { id: '58' },
        partnerKey: { value: 'ptn_orbit_7f3k', place: 'woocommerce_meta_data' },
        details: { payment_method: 'stripe', payment_transaction_id: 'pi_3RnV2aHk2QwLm9Xa0e5Fg6Hi' },
      },
    ]);
  });

  it('a processing order is paid: tax from total_tax, product from the first line item', () => {
    expect(events('order.created.processing.json')).toEqual([
      expect.objectContaining({
        kind: 'payment',
        eventType: 'order.processing',
        transactionKey: 'wc_order_4830',
        amount: { minor: '10791', currency: 'USD' },
        tax: '891',
        customer: { id: '118', email: 'minjun.park@example.com' },
        product: { id: '64' },
        partnerKey: { value: 'ptn_seoul_91ac', place: 'woocommerce_meta_data' },
        occurredAt: '2025-07-24T20:03:41.000Z',
      }),
    ]);
  });

  it('a guest order (customer_id 0) is known by its billing email only', () => {
    const [e] = events('order.created.guest.json');
    expect(e).toMatchObject({ transactionKey: 'wc_order_4835', amount: { minor: '2400', currency: 'EUR' } });
    expect(e?.customer).toEqual({ email: 'Lena.Vogel@Example.org' });
    expect(e?.customer).not.toHaveProperty('id', expect.anything());
  });

  it('three-decimal and zero-decimal currencies: 12.345 BHD is 12345 fils, 4800 JPY is ¥4,800', () => {
    expect(events('order.updated.bhd.json')[0]).toMatchObject({ amount: { minor: '12345', currency: 'BHD' }, tax: '0', customer: { email: 'fatima.k@example.org' } });
    expect(events('order.updated.jpy.json')[0]).toMatchObject({ amount: { minor: '4800', currency: 'JPY' }, tax: '436' });
  });

  it('the store\'s decimals setting may differ from ISO 4217: exact trailing zeros pass, lost precision does not', () => {
    expect(eventsOf(order('order.updated.completed.json', (o) => (o.total = '59.000')))[0]?.amount).toEqual({ minor: '5900', currency: 'USD' });
    expect(eventsOf(order('order.updated.jpy.json', (o) => (o.total = '4800.00')))[0]?.amount).toEqual({ minor: '4800', currency: 'JPY' });
    expect(eventsOf(order('order.updated.bhd.json', (o) => (o.total = '12.35')))[0]?.amount).toEqual({ minor: '12350', currency: 'BHD' });
    expect(() => woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.total = '59.005')))).toThrow(
      'payload: total: "59.005" has more than 2 decimal places for USD',
    );
    expect(() => woocommerceAdapter.toEvents(order('order.updated.jpy.json', (o) => (o.total = '4800.50')))).toThrow(
      'payload: total: "4800.50" has more than 0 decimal places for JPY',
    );
  });

  it('a payload WooCommerce never sends this way is a payload error, kept as failed, not a crash', () => {
    expect(() => woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.currency = 'ZZZ')))).toThrow(
      'payload: unknown currency code "ZZZ"',
    );
    expect(() => woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.total = 59)))).toThrow(/^payload: order\.total: /);
    expect(() => woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.total = '-59.00')))).toThrow(
      'payload: total: "-59.00" is negative',
    );
    const n = normalize(woocommerceAdapter, order('order.updated.completed.json', (o) => (o.total = '59.005')), { livemode: null }, undefined);
    expect(n).toEqual({ status: 'failed', reason: 'payload: total: "59.005" has more than 2 decimal places for USD' });
  });

  it('partner_key: the first non-empty entry, trimmed; none is no key', () => {
    const withKey = (meta: unknown[]) => eventsOf(order('order.updated.completed.json', (o) => (o.meta_data = meta)))[0]?.partnerKey;
    expect(withKey([{ id: 1, key: '_partner_key', value: 'hidden' }])).toBeUndefined();
    expect(withKey([{ id: 1, key: 'partner_key', value: '' }, { id: 2, key: 'partner_key', value: ' ptn_nova_22bd ' }])).toEqual({
      value: 'ptn_nova_22bd',
      place: 'woocommerce_meta_data',
    });
    expect(withKey([{ id: 1, key: 'partner_key', value: { nested: true } }])).toBeUndefined();
  });

  it('status refunded: each refund entry by its id, and the whole order', () => {
    expect(events('order.updated.refunded.json')).toEqual([
      {
        gateway: 'woocommerce',
        eventId: 'order-4817-20250802T150537-refunded-r1-4901',
        eventType: 'order.refunded',
        kind: 'refund',
        occurredAt: '2025-08-02T15:05:37.000Z',
        refundId: 'wc_refund_4901',
        paymentRefs: ['wc_order_4817'],
        amount: { minor: '5900', currency: 'USD' },
      },
      {
        gateway: 'woocommerce',
        eventId: 'order-4817-20250802T150537-refunded-r1-4901',
        eventType: 'order.refunded',
        kind: 'refund',
        occurredAt: '2025-08-02T15:05:37.000Z',
        refundId: 'wc_refund_full_4817',
        paymentRefs: ['wc_order_4817'],
      },
    ]);
  });

  it('every order ends with the list of refunds it has now: a refund deleted in the store leaves it', () => {
    const standing = (payload: unknown) => allEventsOf(payload).filter((e) => e.kind === 'refunds_standing');
    expect(standing(fixtureJson('woocommerce', 'order.updated.refunded.json'))).toEqual([
      {
        gateway: 'woocommerce',
        eventId: 'order-4817-20250802T150537-refunded-r1-4901',
        eventType: 'order.refunded',
        kind: 'refunds_standing',
        occurredAt: '2025-08-02T15:05:37.000Z',
        paymentRefs: ['wc_order_4817'],
        prefix: 'wc_refund_',
        refundIds: ['wc_refund_4901', 'wc_refund_full_4817'],
      },
    ]);
    // the refund deleted: the order is completed again with no refund entries
    const back = order('order.updated.partial_refund.json', (o) => (o.refunds = []));
    expect(standing(back)).toMatchObject([{ kind: 'refunds_standing', refundIds: [] }]);
    // an order with nothing booked says nothing
    expect(woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.status = 'pending')))).toMatchObject({ kind: 'ignore' });
  });

  it('a partial refund (status unchanged, refunds[] grown): the payment first, then each refund entry', () => {
    const r = events('order.updated.partial_refund.json');
    expect(r).toEqual([
      expect.objectContaining({ kind: 'payment', transactionKey: 'wc_order_4817', amount: { minor: '5900', currency: 'USD' } }),
      {
        gateway: 'woocommerce',
        eventId: 'order-4817-20250728T140211-completed-r1-4890',
        eventType: 'order.completed',
        kind: 'refund',
        occurredAt: '2025-07-28T14:02:11.000Z',
        refundId: 'wc_refund_4890',
        paymentRefs: ['wc_order_4817'],
        amount: { minor: '2000', currency: 'USD' },
      },
    ]);
    for (const e of r) expect(PaymentEvent.safeParse(e).success).toBe(true);
    const v = signed(fixture('woocommerce', 'order.updated.partial_refund.json'));
    expect(v).toMatchObject({ kind: 'verified', eventId: 'order-4817-20250728T140211-completed-r1-4890' });
  });

  it('more refund entries than a job holds become one running total', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ id: 5000 + i, reason: '', total: '-1.00' }));
    const r = eventsOf(order('order.updated.completed.json', (o) => (o.refunds = many)));
    expect(r).toHaveLength(2);
    expect(r[1]).toMatchObject({ kind: 'refund', refundId: 'wc_refunds_4817@2500', amount: { minor: '2500', currency: 'USD' }, cumulative: true });
    expect(normalize(woocommerceAdapter, order('order.updated.completed.json', (o) => (o.refunds = many)), { livemode: null }, undefined).status).toBe('queued');
  });

  it('orders not paid are ignored with the reason', () => {
    expect(woocommerceAdapter.toEvents(fixtureJson('woocommerce', 'order.updated.pending.json'))).toEqual({
      kind: 'ignore',
      reason: 'order 4844 is pending: not paid yet',
    });
    for (const [status, why] of [
      ['on-hold', 'awaiting payment confirmation'],
      ['failed', 'the payment failed'],
      ['cancelled', 'cancelled without a refund entry'],
      ['checkout-draft', 'checkout not finished'],
      ['shipped', 'not a paid status (processing, completed) nor refunded'],
    ]) {
      expect(woocommerceAdapter.toEvents(order('order.updated.pending.json', (o) => (o.status = status)))).toEqual({
        kind: 'ignore',
        reason: `order 4844 is ${status}: ${why}`,
      });
    }
    expect(woocommerceAdapter.toEvents(order('order.updated.completed.json', (o) => (o.total = '0.00')))).toEqual({
      kind: 'ignore',
      reason: 'order 4817 is completed but nothing was paid (total 0.00)',
    });
  });

  it('a cancelled order with a refund entry still books the refund', () => {
    const r = eventsOf(order('order.updated.refunded.json', (o) => (o.status = 'cancelled')));
    expect(r.map((e) => [e.kind, (e as { refundId?: string }).refundId])).toEqual([['refund', 'wc_refund_4901']]);
  });
});
