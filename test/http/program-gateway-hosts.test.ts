// Where the service sends requests is never a program's to choose: a program's API key sets its own
// gateway keys and secrets, while gateway API hosts are the operator's (environment) and a store URL
// is held to the outbound URL policy. Otherwise a key holder could point the worker at an internal
// address, with the program's gateway key as bearer, and read the answers back through the API.
import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_hosts_key';
const SECRET = 'whsec_hosts';
const stripe = new Stripe('sk_test_unused');
let operatorApi: FakeGatewayApi;
let internal: FakeGatewayApi;
let svc: TestService;
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

beforeAll(async () => {
  const customer = fixtureJson('stripe', 'api/customers.retrieve.json');
  operatorApi = await fakeStripeApi(new Map([[customer.id as string, customer]])).start();
  // an "internal service" that answers like Stripe, with an email it should never leak
  internal = await fakeStripeApi(new Map([[customer.id as string, { ...customer, email: 'root@internal.example', metadata: {} }]])).start();
  svc = await startTestService({ API_KEY: KEY, STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_hosts', STRIPE_API_BASE: operatorApi.url });
  await createPartner(svc.db.db, svc.programId, 'ptn_lumen_5e0a');
});
afterAll(async () => {
  await svc?.stop();
  await operatorApi?.stop();
  await internal?.stop();
});

describe("a program's gateway settings never choose where requests go", () => {
  it.each([
    ['stripe', 'STRIPE_API_BASE'],
    ['paddle', 'PADDLE_API_BASE'],
    ['woocommerce', 'WOOCOMMERCE_API_BASE'],
    ['chargebee', 'CHARGEBEE_API_BASE'],
  ])('%s api_base is refused (the operator sets %s)', async (gateway, variable) => {
    for (const target of ['http://127.0.0.1:39999', 'http://169.254.169.254/latest/meta-data', 'https://api.stripe.com']) {
      const r = await api('PATCH', '/v1/program', { gateways: { [gateway]: { api_base: target } } });
      expect(r.status, target).toBe(422);
      expect(r.body.error.code).toBe('validation_failed');
      expect(r.body.error.fields[`gateways.${gateway}.api_base`]).toContain(variable);
    }
    const program = await api('GET', '/v1/program');
    expect(program.body.data.gateways[gateway]).not.toHaveProperty('api_base');
  });

  it('a Chargebee site is a site name, not a host', async () => {
    for (const site of ['127.0.0.1:39999#', 'evil.example.com/x?', 'Acme', 'acme test', 'x'.repeat(101)]) {
      const r = await api('PATCH', '/v1/program', { gateways: { chargebee: { site } } });
      expect(r.status, site).toBe(422);
      expect(r.body.error.fields['gateways.chargebee.site']).toMatch(/site name/);
    }
    const r = await api('PATCH', '/v1/program', { gateways: { chargebee: { site: 'acme-test' } } });
    expect(r.status).toBe(200);
    expect(r.body.data.gateways.chargebee.site).toBe('acme-test');
  });

  it('a WooCommerce store URL must be on a public address', async () => {
    for (const url of ['http://127.0.0.1:8080', 'http://10.0.0.5/', 'http://169.254.169.254/', 'http://[::1]/', 'http://[fd00::1]/']) {
      const r = await api('PATCH', '/v1/program', { gateways: { woocommerce: { url } } });
      expect(r.status, url).toBe(422);
      expect(r.body.error.code, url).toBe('url_not_allowed');
      expect(r.body.error.fields['gateways.woocommerce.url']).toMatch(/resolves to/);
    }
    const ok = await api('PATCH', '/v1/program', { gateways: { woocommerce: { url: 'https://93.184.215.14/shop' } } });
    expect(ok.status).toBe(200);
    expect(ok.body.data.gateways.woocommerce.url).toBe('https://93.184.215.14/shop');
  });

  it('a host stored before this rule is never used: lookups go to the operator\'s API base', async () => {
    // as a program could have stored it earlier
    await svc.db.db.execute(sql`update programs set gateways = jsonb_set(gateways, '{stripe,apiBase}', to_jsonb(${internal.url}::text)) where id = ${svc.programId}`);
    expect((await api('PATCH', '/v1/program', { name: 'Hosts test' })).status).toBe(200); // drops the cached settings

    const event = JSON.parse(fixture('stripe', 'charge.succeeded.2024-06-20.json').toString('utf8'));
    event.id = 'evt_hosts_1';
    Object.assign(event.data.object, { id: 'ch_hosts_1', payment_intent: 'pi_hosts_1', invoice: null });
    event.data.object.billing_details.email = null;
    const body = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
    expect((await svc.post('/webhooks/stripe', body, { 'stripe-signature': header })).status).toBe(200);
    expect((await svc.settled('stripe', 'evt_hosts_1')).status).toBe('processed');

    expect(internal.requests).toHaveLength(0);
    expect(operatorApi.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/customers/cus_SXa9Pf3eKw7VbM']);
    const t = await stored(svc.db.db, svc.programId, 'pi_hosts_1');
    expect(t?.partnerKey).toBe('ptn_lumen_5e0a');
    const customers = await api('GET', '/v1/customers');
    expect(JSON.stringify(customers.body)).not.toContain('root@internal.example');
  });

  it('a webhook secret changed through the API holds from the very next delivery', async () => {
    const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
    const send = async (id: string, secret: string) => {
      const body = JSON.stringify({ ...event, id, data: { object: { ...event.data.object, id: `pi_${id}` } } });
      return (await svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret }) })).status;
    };
    expect(await send('evt_rotate_0', SECRET)).toBe(200); // the receiver has the program cached now
    expect((await api('PATCH', '/v1/program', { gateways: { stripe: { webhook_secrets: ['whsec_rotated'] } } })).status).toBe(200);
    expect(await send('evt_rotate_1', 'whsec_rotated')).toBe(200);
    expect(await send('evt_rotate_2', SECRET)).toBe(400);
  });
});
