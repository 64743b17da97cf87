// Promotion codes end to end, per gateway: a signed delivery of a payment that used a partner's code
// (fixtures built from each gateway's documented payloads) → the worker (reading codes the event names
// by id through the gateway's API, here a local fake behind the official SDK) → GET /v1/transactions
// shows the partner, `partner_key_place: coupon` and `decided_by: coupon`. A partner key on the payment
// beats a code; a code nobody owns credits nobody, or leaves the customer's own link to decide.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { signedDelivery, gatewayEnv, send, type GatewayName } from '../support/deliveries.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fakePaddleApi } from '../support/fake-paddle-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_coupons_e2e';
let svc: TestService;
let stripeApi: FakeGatewayApi;
let paddleApi: FakeGatewayApi;
const stripeObjects = new Map<string, Record<string, unknown>>();
const paddleObjects = new Map<string, Record<string, unknown>>();

const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
const transaction = async (key: string) => (await api('GET', `/v1/transactions/${encodeURIComponent(key)}`)).body.data;

/** Deliver these bytes as the gateway signs them and wait for the worker to settle the event. */
async function deliver(gateway: GatewayName, eventId: string, body: Buffer) {
  const res = await send(svc.url, signedDelivery(gateway, eventId, body));
  expect(res.status, res.text).toBe(200);
  const row = await svc.settled(gateway, eventId);
  expect(row.status, row.lastError ?? '').toBe('processed');
  return row;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const changed = (gateway: string, name: string, change: (o: any) => void, php = false) => {
  const o = fixtureJson(gateway, name);
  change(o);
  const text = JSON.stringify(o);
  return Buffer.from(php ? text.replace(/\//g, '\\/') : text);
};
const tag = () => randomBytes(3).toString('hex');

beforeAll(async () => {
  const invoice = fixtureJson('stripe', 'api/invoices.retrieve.expand_discounts.json');
  stripeObjects.set(invoice.id as string, invoice);
  stripeObjects.set(`invoice_payments:${invoice.id}`, { id: 'inpay_coupon', object: 'invoice_payment', status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_3RfC0uHk2QwLm9XaPi1Cp2Nv' } });
  const promo = fixtureJson('stripe', 'api/promotion_codes.retrieve.json');
  stripeObjects.set(promo.id as string, promo);
  const discount = fixtureJson<{ data: Record<string, unknown> }>('paddle', 'api/discounts.get.json').data;
  paddleObjects.set(discount.id as string, discount);
  stripeApi = await fakeStripeApi(stripeObjects).start();
  paddleApi = await fakePaddleApi(paddleObjects).start();
  svc = await startTestService({
    API_KEY: KEY,
    ...gatewayEnv(),
    STRIPE_API_KEY: 'sk_test_coupons',
    STRIPE_API_BASE: stripeApi.url,
    PADDLE_API_KEY: 'pdl_sdbx_apikey_coupons',
    PADDLE_API_BASE: paddleApi.url,
  });
  for (const key of ['ptn_nova_22bd', 'ptn_delta_3c9e', 'ptn_orbit_7f3k']) expect((await api('POST', '/v1/partners', { key })).status).toBe(201);
  // nova's codes, in any case: the gateways' codes match whatever their case
  for (const code of ['nova20', 'NOVA-SUMMER', 'NOVA15', 'NovaPaddle']) expect((await api('POST', '/v1/partners/ptn_nova_22bd/coupons', { code })).status).toBe(201);
});
afterAll(async () => {
  await svc?.stop();
  await stripeApi?.stop();
  await paddleApi?.stop();
});

describe('a payment that used a partner’s promotion code credits that partner', () => {
  it('Stripe invoice.paid naming its discount by id: the invoice and its promotion code are read through the API', async () => {
    await deliver('stripe', 'evt_1RfC0uHk2QwLm9XaCp1Qr2St', fixture('stripe', 'invoice.paid.coupon.basil.json'));
    const t = await transaction('pi_3RfC0uHk2QwLm9XaPi1Cp2Nv');
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd', rewards: [{ partner: 'ptn_nova_22bd' }] });
    expect(t.attribution).toMatchObject({ partner_key: 'ptn_nova_22bd', partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'NOVA20', ignored_partner_key: null });
    expect(t.attribution.lookups).toContainEqual({ place: 'coupon', id: 'in_1RfC0uHk2QwLm9XaCo3Up4Nv', result: 'found' });
    expect(stripeApi.requests.map((r) => r.path)).toEqual(expect.arrayContaining(['/v1/invoices/in_1RfC0uHk2QwLm9XaCo3Up4Nv', '/v1/promotion_codes/promo_1RfBzzHk2QwLm9XaPc1Nv2Aa']));
    expect(stripeApi.requests.find((r) => r.path === '/v1/invoices/in_1RfC0uHk2QwLm9XaCo3Up4Nv')?.query).toContain('expand');
  });

  it('Stripe checkout.session.completed with a promotion code', async () => {
    await deliver('stripe', 'evt_1RkV2cHk2QwLm9XaDt0Qq1Rr', fixture('stripe', 'checkout.session.completed.coupon.json'));
    const t = await transaction('pi_3RkV2bHk2QwLm9Xa1n2Oo3Pp');
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd', customer: 'cus_SZd4Si6hNz0YeQ' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'NOVA20', customer_match: 'created' });
    expect(t.attribution.lookups).toContainEqual({ place: 'coupon', id: 'promo_1RfBzzHk2QwLm9XaPc1Nv2Aa', result: 'found' });
  });

  it('Paddle transaction.completed with a discount_id: its code through the SDK’s discounts.get', async () => {
    await deliver('paddle', 'evt_01jz4k8m2n5p7r9t1v3x5z7b9d', fixture('paddle', 'transaction.completed.discount.json'));
    const t = await transaction('txn_01jz4k6h8c2e4g6j8l0n2q4s6u');
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'NOVAPADDLE' });
    expect(t.attribution.lookups).toContainEqual({ place: 'coupon', id: 'dsc_01jz3w9y1a3c5e7g9j1l3n5q7s', result: 'found' });
    expect(paddleApi.requests.map((r) => r.path)).toContain('/discounts/dsc_01jz3w9y1a3c5e7g9j1l3n5q7s');
  });

  it('WooCommerce coupon_lines[].code', async () => {
    await deliver('woocommerce', 'order-4851-20250726T181119-processing', fixture('woocommerce', 'order.created.coupon.json'));
    const t = await transaction('wc_order_4851');
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd' });
    expect(t.attribution).toMatchObject({ partner_key: 'ptn_nova_22bd', partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'nova-summer' });
  });

  it('Chargebee invoice discounts (a document-level coupon)', async () => {
    await deliver('chargebee', 'ev_DnoCf5Xt9Kp3Cp1', fixture('chargebee', 'payment_succeeded.coupon.json'));
    const t = await transaction('txn_DnoCf5Xt9Kp3Tx4');
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'NOVA15' });
  });
});

describe('Stripe reports a subscription payment twice, in either order', () => {
  // charge.succeeded and invoice.paid of one payment (2024-06-20 shapes); the first report decides
  it.each([['charge first', ['charge', 'invoice']], ['invoice first', ['invoice', 'charge']]] as const)('%s: the invoice’s promotion code credits its partner', async (_label, order) => {
    const s = tag();
    const ids = (text: string) => text.replace(/"((?:evt|pi|ch|in|sub|cus)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`);
    const invoiceId = `in_1RcA4kHk2QwLm9XaQw2Er3Ty${s}`;
    const discount = { id: `di_${s}`, object: 'discount', promotion_code: 'promo_1RfBzzHk2QwLm9XaPc1Nv2Aa', source: { coupon: 'Q4TENOFF', type: 'coupon' } };
    const invoice = JSON.parse(ids(fixture('stripe', 'invoice.paid.2024-06-20.json').toString()));
    Object.assign(invoice.data.object, { subscription_details: { metadata: {} }, discount, discounts: [`di_${s}`], customer_email: `payer_${s}@example.org` });
    // what GET /v1/invoices/{id}?expand[]=discounts answers
    stripeObjects.set(invoiceId, { ...invoice.data.object, discounts: [discount] });
    const charge = JSON.parse(ids(fixture('stripe', 'charge.succeeded.2024-06-20.json').toString()));
    Object.assign(charge.data.object, { receipt_email: `payer_${s}@example.org`, billing_details: { ...charge.data.object.billing_details, email: `payer_${s}@example.org` } });
    const events = { charge, invoice };
    for (const which of order) await deliver('stripe', events[which].id, Buffer.from(JSON.stringify(events[which])));
    const t = await transaction(`pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef${s}`);
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'coupon', decided_by: 'coupon', coupon: 'NOVA20', customer_match: 'created', event_type: order[0] === 'invoice' ? 'invoice.paid' : 'charge.succeeded' });
  });
});

describe('Paddle reports a transaction twice (paid, completed), in either order', () => {
  it.each([['paid first', ['transaction.paid', 'transaction.completed']], ['completed first', ['transaction.completed', 'transaction.paid']]] as const)(
    '%s: the discount’s code credits its partner once',
    async (_label, order) => {
      const s = tag();
      const ids = (text: string) => text.replace(/"((?:evt|ntf|txn|sub|ctm)_[a-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`);
      for (const type of order) {
        const e = JSON.parse(ids(fixture('paddle', 'transaction.completed.discount.json').toString()));
        Object.assign(e, { event_type: type, event_id: `${e.event_id}${type === 'transaction.paid' ? 'p' : 'c'}` });
        e.data.status = type === 'transaction.paid' ? 'paid' : 'completed';
        await deliver('paddle', e.event_id, Buffer.from(JSON.stringify(e)));
      }
      const t = await transaction(`txn_01jz4k6h8c2e4g6j8l0n2q4s6u${s}`);
      expect(t).toMatchObject({ partner: 'ptn_nova_22bd', rewards: [{ partner: 'ptn_nova_22bd' }] });
      expect(t.attribution).toMatchObject({ decided_by: 'coupon', coupon: 'NOVAPADDLE', event_type: order[0] });
    },
  );

  it('custom_data.partner_key beats the discount', async () => {
    const s = tag();
    const e = JSON.parse(fixture('paddle', 'transaction.completed.discount.json').toString().replace(/"((?:evt|ntf|txn|sub|ctm)_[a-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`));
    e.data.custom_data = { partner_key: 'ptn_delta_3c9e' };
    await deliver('paddle', e.event_id, Buffer.from(JSON.stringify(e)));
    const t = await transaction(`txn_01jz4k6h8c2e4g6j8l0n2q4s6u${s}`);
    expect(t).toMatchObject({ partner: 'ptn_delta_3c9e' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'paddle_transaction_custom_data', decided_by: 'partner_key', coupon: 'NOVAPADDLE' });
  });
});

describe('precedence: the partner key first, then the code, then the customer’s link', () => {
  it('Stripe: a partner key in the session metadata beats the promotion code', async () => {
    const s = tag();
    const body = changed('stripe', 'checkout.session.completed.coupon.json', (e) => {
      e.id = `evt_key_${s}`;
      e.data.object.customer_details.email = `key_${s}@example.com`;
      Object.assign(e.data.object, { id: `cs_test_key_${s}`, payment_intent: `pi_key_${s}`, customer: `cus_key_${s}`, metadata: { partner_key: 'ptn_delta_3c9e' } });
    });
    await deliver('stripe', `evt_key_${s}`, body);
    const t = await transaction(`pi_key_${s}`);
    expect(t).toMatchObject({ partner: 'ptn_delta_3c9e' });
    expect(t.attribution).toMatchObject({ partner_key: 'ptn_delta_3c9e', partner_key_place: 'stripe_checkout_session_metadata', decided_by: 'partner_key', coupon: 'NOVA20' });
  });

  it('Stripe: a partner key naming nobody falls back to the code (and is said ignored)', async () => {
    const s = tag();
    const body = changed('stripe', 'checkout.session.completed.coupon.json', (e) => {
      e.id = `evt_ghost_${s}`;
      e.data.object.customer_details.email = `ghost_${s}@example.com`;
      Object.assign(e.data.object, { id: `cs_test_ghost_${s}`, payment_intent: `pi_ghost_${s}`, customer: `cus_ghost_${s}`, metadata: { partner_key: 'ptn_ghost' } });
    });
    await deliver('stripe', `evt_ghost_${s}`, body);
    const t = await transaction(`pi_ghost_${s}`);
    expect(t).toMatchObject({ partner: 'ptn_nova_22bd' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'coupon', decided_by: 'coupon', ignored_partner_key: 'ptn_ghost' });
  });

  it('Stripe: a promotion code the API does not know credits nobody', async () => {
    const s = tag();
    const body = changed('stripe', 'checkout.session.completed.coupon.json', (e) => {
      e.id = `evt_unknown_${s}`;
      e.data.object.customer_details.email = `unknown_${s}@example.com`;
      Object.assign(e.data.object, { id: `cs_test_unknown_${s}`, payment_intent: `pi_unknown_${s}`, customer: `cus_unknown_${s}`, discounts: [{ coupon: null, promotion_code: `promo_gone_${s}` }] });
    });
    await deliver('stripe', `evt_unknown_${s}`, body);
    const t = await transaction(`pi_unknown_${s}`);
    expect(t).toMatchObject({ partner: null, rewards: [] });
    expect(t.attribution).toMatchObject({ decided_by: 'none', coupon: null, reward_reason: 'no_partner' });
    expect(t.attribution.lookups).toContainEqual({ place: 'coupon', id: `promo_gone_${s}`, result: 'not_found' });
  });

  it('WooCommerce: a partner key in the order meta beats the coupon', async () => {
    const body = changed('woocommerce', 'order.created.coupon.json', (o) => {
      Object.assign(o, { id: 4852, order_key: 'wc_order_Kd8tQ4eZs0Nl3', customer_id: 132 });
      o.billing.email = 'ravi.menon@example.com';
      o.meta_data.push({ id: 90640, key: 'partner_key', value: 'ptn_delta_3c9e' });
    }, true);
    await deliver('woocommerce', 'order-4852-20250726T181119-processing', body);
    const t = await transaction('wc_order_4852');
    expect(t).toMatchObject({ partner: 'ptn_delta_3c9e' });
    expect(t.attribution).toMatchObject({ partner_key_place: 'woocommerce_meta_data', decided_by: 'partner_key', coupon: 'nova-summer' });
  });

  it('WooCommerce: a code nobody owns leaves the customer’s existing link to decide', async () => {
    const email = 'mara.olsen@example.com';
    expect((await api('POST', '/v1/customers', { key: 'mara', email, partner: { key: 'ptn_orbit_7f3k' } })).status).toBe(201);
    const body = changed('woocommerce', 'order.created.coupon.json', (o) => {
      Object.assign(o, { id: 4853, order_key: 'wc_order_Le9uR5fAt1Om4', customer_id: 0 });
      o.billing.email = email;
      o.coupon_lines = [{ id: 790, code: 'summer-sale', discount: '10.00', discount_tax: '0.83', meta_data: [] }];
    }, true);
    await deliver('woocommerce', 'order-4853-20250726T181119-processing', body);
    const t = await transaction('wc_order_4853');
    expect(t).toMatchObject({ partner: 'ptn_orbit_7f3k', customer: 'mara' });
    expect(t.attribution).toMatchObject({ customer_match: 'email', decided_by: 'customer_link', coupon: null, partner_key_place: null });
  });

  it('Chargebee: a coupon nobody owns credits nobody; once given to a partner, the next payment credits it', async () => {
    const body = (n: string, coupon: string) =>
      changed('chargebee', 'payment_succeeded.coupon.json', (e) => {
        e.id = `ev_${n}`;
        e.content.transaction.id = `txn_${n}`;
        e.content.transaction.customer_id = `cust_${n}`;
        e.content.customer.id = `cust_${n}`;
        e.content.customer.email = `${n}@example.org`;
        e.content.invoice.linked_payments = [];
        e.content.transaction.linked_invoices = [];
        e.content.invoice.discounts[0].entity_id = coupon;
        e.content.subscription.coupons = [];
      });
    const n1 = `cbnone${tag()}`;
    await deliver('chargebee', `ev_${n1}`, body(n1, 'SPRING5'));
    expect(await transaction(`txn_${n1}`)).toMatchObject({ partner: null, attribution: { decided_by: 'none', coupon: null } });
    expect((await api('POST', '/v1/partners/ptn_delta_3c9e/coupons', { code: 'spring5' })).status).toBe(201);
    const n2 = `cbdelta${tag()}`;
    await deliver('chargebee', `ev_${n2}`, body(n2, 'SPRING5'));
    expect(await transaction(`txn_${n2}`)).toMatchObject({ partner: 'ptn_delta_3c9e', attribution: { decided_by: 'coupon', coupon: 'SPRING5' } });
  });
});
