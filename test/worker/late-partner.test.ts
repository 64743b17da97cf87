// A customer first seen before its partner exists is linked by its first later payment that names an
// existing partner (customer-based attribution), through signed Stripe deliveries and the worker, on
// the batch path and the one-by-one path alike; a merchant can set the partner of a customer that has
// none, never change one that has one.
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { fixture } from '../support/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_late_partner';
const SECRET = 'whsec_late_partner';
const stripe = new Stripe('sk_test_unused');

describe.each([
  ['the batch path', {}],
  ['the one-by-one path', { WORKER_BATCH_SIZE: '1' }],
])('a customer seen before its partner, through %s', (_path, env: Record<string, string>) => {
  let svc: TestService;
  const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
  async function pay(customer: string, partnerKey: string | null) {
    const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
    event.id = `evt_${randomBytes(6).toString('hex')}`;
    const id = `pi_${randomBytes(6).toString('hex')}`;
    Object.assign(event.data.object, { id, latest_charge: `ch_${id}`, customer, receipt_email: `${customer}@example.com`, metadata: partnerKey ? { partner_key: partnerKey } : {} });
    const body = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
    expect((await svc.post('/webhooks/stripe', body, { 'stripe-signature': header })).status).toBe(200);
    expect((await svc.settled('stripe', event.id)).status).toBe('processed');
    return (await api('GET', `/v1/transactions/${id}`)).body.data;
  }

  beforeAll(async () => {
    svc = await startTestService({ API_KEY: KEY, STRIPE_WEBHOOK_SECRET: SECRET, ...env });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('the first payment after the partner exists links the customer, and the link then holds', async () => {
    const s = randomBytes(3).toString('hex');
    const partner = `ptn_orbit_${s}`;
    const customer = `cus_late${s}`;
    const early = await pay(customer, partner);
    expect(early).toMatchObject({ partner: null, attribution: { customer_match: 'created', partner_key: partner } });

    expect((await api('POST', '/v1/partners', { key: partner, email: `${partner}@example.com` })).status).toBe(201);
    const later = await pay(customer, partner);
    expect(later).toMatchObject({ partner, attribution: { customer_match: 'gateway_id', ignored_partner_key: null } });
    expect(later.rewards).toHaveLength(1);
    // the link is the customer's now: a payment naming no partner is credited through it
    expect(await pay(customer, null)).toMatchObject({ partner });
    // and another partner's key does not move it
    expect((await api('POST', '/v1/partners', { key: `other_${s}`, email: `other_${s}@example.com` })).status).toBe(201);
    expect(await pay(customer, `other_${s}`)).toMatchObject({ partner, attribution: { ignored_partner_key: `other_${s}` } });
  });

  it('a merchant sets the partner of a customer that has none, never changes one that has one', async () => {
    const s = randomBytes(3).toString('hex');
    const customer = `cus_unlinked${s}`;
    await pay(customer, null);
    const stored = (await api('GET', '/v1/customers?limit=250')).body.data.find((c: { key: string }) => c.key === customer);
    expect(stored).toMatchObject({ partner: null });
    expect((await api('POST', '/v1/partners', { key: `set_${s}`, email: `set_${s}@example.com` })).status).toBe(201);
    expect((await api('POST', '/v1/partners', { key: `else_${s}`, email: `else_${s}@example.com` })).status).toBe(201);

    const set = await api('PATCH', `/v1/customers/${customer}`, { partner: { key: `set_${s}` } });
    expect(set).toMatchObject({ status: 200, body: { data: { partner: `set_${s}` } } });
    expect(await pay(customer, null)).toMatchObject({ partner: `set_${s}` });
    const moved = await api('PATCH', `/v1/customers/${customer}`, { partner: { key: `else_${s}` } });
    expect(moved).toMatchObject({ status: 422, body: { error: { fields: { partner: 'cannot be changed once set' } } } });
    // naming the partner it has changes nothing and is fine
    expect((await api('PATCH', `/v1/customers/${customer}`, { partner: { key: `set_${s}` } })).status).toBe(200);
    expect((await api('PATCH', `/v1/customers/${customer}`, { partner: { key: 'nobody_at_all' } })).status).toBe(422);
  });
});
