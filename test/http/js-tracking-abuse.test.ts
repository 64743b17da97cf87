// The public browser key is public: anyone can read it off the merchant's page. What a request holding
// it may not do: steer a real payment's commission (by squatting a victim's email, by naming a real
// payment's id, by claiming an existing customer). Each case is a browser call through
// /v1/js/transactions followed by a signed Stripe delivery or a server-side API call, read back
// through the REST API; run through the worker's batch path and its one-by-one path alike.
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_js_abuse_key';
const SECRET = 'whsec_js_abuse';
const stripe = new Stripe('sk_test_unused');

describe.each([
  ['the batch path', {}],
  ['the one-by-one path', { WORKER_BATCH_SIZE: '1' }],
])('the public browser key, through %s', (_path, env: Record<string, string>) => {
  let svc: TestService;
  let publicKey = '';
  const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
  async function track(body: unknown) {
    const res = await fetch(`${svc.url}/v1/js/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-public-key': publicKey, origin: 'https://shop.example.com' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  /** A Stripe PaymentIntent paid, signed as Stripe signs it, processed by the worker. */
  async function stripePayment(over: { id: string; email: string; customer: string; partnerKey?: string }) {
    const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
    event.id = `evt_${randomBytes(8).toString('hex')}`;
    Object.assign(event.data.object, {
      id: over.id,
      latest_charge: `ch_${over.id}`,
      customer: over.customer,
      receipt_email: over.email,
      metadata: over.partnerKey ? { partner_key: over.partnerKey } : {},
    });
    const body = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
    expect((await svc.post('/webhooks/stripe', body, { 'stripe-signature': header })).status).toBe(200);
    expect((await svc.settled('stripe', event.id)).status).toBe('processed');
    return (await api('GET', `/v1/transactions/${over.id}`)).body.data;
  }
  const unique = () => randomBytes(4).toString('hex');

  beforeAll(async () => {
    svc = await startTestService({ API_KEY: KEY, STRIPE_WEBHOOK_SECRET: SECRET, JS_RATE_LIMIT_PER_MINUTE: '1000', ...env });
    for (const key of ['good_partner', 'evil_affiliate']) await createPartner(svc.db.db, svc.programId, key);
    const program = await api('PATCH', '/v1/program', { js_tracking: true, review_period_days: 0 });
    expect(program.status).toBe(200);
    publicKey = program.body.data.public_key;
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("a customer squatted with a victim's email does not take the victim's payment", async () => {
    const s = unique();
    const victim = `victim-${s}@example.com`;
    const squat = await track({ key: `squat-sale-${s}`, amount: 1, options: { create_customer: true }, customer: { key: `squat-${s}`, email: victim, partner: { key: 'evil_affiliate' } } });
    expect(squat.status).toBe(201);

    const paid = await stripePayment({ id: `pi_victim${s}`, email: victim, customer: `cus_victim${s}`, partnerKey: 'good_partner' });
    expect(paid).toMatchObject({ partner: 'good_partner', attribution: { customer_match: 'created' } });
    expect(paid.rewards).toMatchObject([{ status: 'ok' }]);
    expect(paid.customer.key).not.toBe(`squat-${s}`);

    // without a partner key of its own, the victim's payment credits nobody rather than the squatter
    const bare = await stripePayment({ id: `pi_bare${s}`, email: `other-${victim}`, customer: `cus_bare${s}` });
    await track({ key: `squat2-sale-${s}`, amount: 1, options: { create_customer: true }, customer: { key: `squat2-${s}`, email: `late-${victim}`, partner: { key: 'evil_affiliate' } } });
    const late = await stripePayment({ id: `pi_late${s}`, email: `late-${victim}`, customer: `cus_late${s}` });
    expect(bare.partner).toBeNull();
    expect(late.partner).toBeNull();
    expect(late.attribution.customer_match).toBe('created');
  });

  it("a browser sale named after a real payment's id does not take that payment over", async () => {
    const s = unique();
    const intent = `pi_known${s}`; // a PaymentIntent's id is in the page (its client secret) before it is paid
    const claimed = await track({ key: intent, amount: 49, options: { create_customer: true }, customer: { key: `claim-${s}`, partner: { key: 'evil_affiliate' } } });
    expect(claimed).toMatchObject({ status: 201, body: { data: { key: `js_${intent}` } } });
    const paid = await stripePayment({ id: intent, email: `buyer-${s}@example.com`, customer: `cus_buyer${s}`, partnerKey: 'good_partner' });
    expect(paid).toMatchObject({ key: intent, amount: 49, partner: 'good_partner' });
    expect(paid.rewards).toMatchObject([{ status: 'ok' }]);
  });

  it("a browser call never sets or changes an existing customer's partner", async () => {
    const s = unique();
    // the merchant's server knows one customer unlinked, one linked
    const plain = { key: `plain-sale-${s}`, amount: 1, options: { create_customer: true }, customer: { key: `plain-${s}` } };
    expect((await api('POST', '/v1/transactions', plain)).status).toBe(201);
    expect((await api('POST', '/v1/customers', { key: `linked-${s}`, partner: { key: 'good_partner' } })).status).toBe(201);

    const onPlain = await track({ key: `p-${s}`, amount: 10, options: { create_customer: true }, customer: { key: `plain-${s}`, partner: { key: 'evil_affiliate' } } });
    const onLinked = await track({ key: `l-${s}`, amount: 10, options: { create_customer: true }, customer: { key: `linked-${s}`, partner: { key: 'evil_affiliate' } } });
    expect([onPlain.status, onLinked.status]).toEqual([201, 201]);

    const plainSale = (await api('GET', `/v1/transactions/js_p-${s}`)).body.data;
    const linkedSale = (await api('GET', `/v1/transactions/js_l-${s}`)).body.data;
    expect(plainSale).toMatchObject({ partner: null, attribution: { ignored_partner_key: 'evil_affiliate', customer_match: 'key' } });
    expect(linkedSale).toMatchObject({ partner: 'good_partner', attribution: { ignored_partner_key: 'evil_affiliate' } });
    expect((await api('GET', `/v1/customers/plain-${s}`)).body.data.partner).toBeNull();
    expect((await api('GET', `/v1/customers/linked-${s}`)).body.data.partner).toBe('good_partner');

    // nor through a transaction-based program's per-partner records
    expect((await api('PATCH', '/v1/program', { attribution_model: 'transaction' })).status).toBe(200);
    try {
      const tb = await track({ key: `tb-${s}`, amount: 10, options: { create_customer: true }, customer: { key: `plain-${s}`, partner: { key: 'evil_affiliate' } } });
      expect(tb.status).toBe(201);
      const sale = (await api('GET', `/v1/transactions/js_tb-${s}`)).body.data;
      expect(sale).toMatchObject({ partner: null, attribution: { path: 'customer', fallback: 'browser_reported' } });
      expect((await api('GET', `/v1/customers/plain-${s}__pkey_evil_affiliate`)).status).toBe(404);
    } finally {
      await api('PATCH', '/v1/program', { attribution_model: 'customer' });
    }
  });

  it("a customer a browser creates is linked to no partner; the server finds it by key only", async () => {
    const s = unique();
    const made = await track({ key: `mk-${s}`, amount: 5, options: { create_customer: true }, customer: { key: `member-${s}`, email: `member-${s}@example.com`, partner: { key: 'evil_affiliate' } } });
    expect(made.status).toBe(201);
    // the browser's own sale is credited as it says, held for review
    const sale = (await api('GET', `/v1/transactions/js_mk-${s}`)).body.data;
    expect(sale).toMatchObject({ partner: 'evil_affiliate', rewards: [{ status: 'review_period' }] });
    // but the customer it made has no partner: a later payment the merchant's backend reports credits nobody
    expect((await api('GET', `/v1/customers/member-${s}`)).body.data.partner).toBeNull();
    const server = await api('POST', '/v1/transactions', { key: `srv-${s}`, amount: 100, customer: { key: `member-${s}` } });
    expect(server.status).toBe(201);
    expect(server.body.data).toMatchObject({ partner: null, attribution: { customer_match: 'key' } });
    // by email only: not that customer
    const byEmail = await api('POST', '/v1/transactions', { key: `srv2-${s}`, amount: 100, options: { create_customer: true }, customer: { email: `member-${s}@example.com` } });
    expect(byEmail.status).toBe(201);
    expect(byEmail.body.data).toMatchObject({ partner: null, attribution: { customer_match: 'created' } });
  });

});
