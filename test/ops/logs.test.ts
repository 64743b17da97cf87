// The service as `npm start` runs it, logging at trace level: a full webhook and API flow (signed
// deliveries, a forged one, a gateway API lookup, a failure, REST calls, the dashboard, metrics),
// then every line it wrote is scanned for secrets, signatures, API keys and raw bodies. Worker lines
// carry the job and gateway event ids; HTTP lines carry the request id.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const r = () => randomBytes(8).toString('hex');
const secrets = {
  STRIPE_WEBHOOK_SECRET: `whsec_logscan_${r()}`,
  STRIPE_API_KEY: `sk_test_logscan_${r()}`,
  API_KEY: `pl_logscan_${r()}`,
  DASHBOARD_PASSWORD: `dash_${r()}`,
  PADDLE_WEBHOOK_SECRET: `pdl_logscan_${r()}`,
  PADDLE_API_KEY: `pdl_apikey_${r()}`,
  WOOCOMMERCE_WEBHOOK_SECRET: `wc_logscan_${r()}`,
  WOOCOMMERCE_CONSUMER_SECRET: `cs_logscan_${r()}`,
  CHARGEBEE_WEBHOOK_PASSWORD: `cb_logscan_${r()}`,
  CHARGEBEE_API_KEY: `cb_apikey_${r()}`,
};
const DB_PASSWORD = `pgpass_${r()}`;
const BODY_MARKER = `rawbody_marker_${r()}`;
const API_BODY_MARKER = `apibody_marker_${r()}`;

const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let db: TestDatabase;
const prefix = testPrefix();
let output = '';
let exit: Promise<number | null>;
let child: ReturnType<typeof spawn>;
let url = '';
const sent: string[] = []; // header values sent that must not be logged

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  db = await createTestDatabase();
  const dbUrl = new URL(db.url);
  dbUrl.password = DB_PASSWORD; // the local server trusts: the password is only there to be hidden
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'trace',
      // a port of its own choosing, read from its log: one found free here could be taken meanwhile
      PORT: '0',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      STRIPE_API_BASE: api.url,
      DASHBOARD_USER: 'ops',
      WOOCOMMERCE_URL: 'https://shop.example',
      WOOCOMMERCE_CONSUMER_KEY: `ck_logscan_${r()}`,
      CHARGEBEE_WEBHOOK_USERNAME: 'chargebee',
      CHARGEBEE_SITE: 'logscan',
      ...secrets,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const started = Date.now();
  // a start on two loaded cores took over 30 s in a slow hour (see SpawnOptions.readyTimeoutMs): the
  // wait is for the service to be ready, bounded; how fast it starts is main.test.ts's to judge
  for (;;) {
    const listening = /"port":(\d+),"msg":"api listening"/.exec(output);
    if (listening) url = `http://127.0.0.1:${listening[1]}`;
    const res = url ? await fetch(`${url}/readyz`).catch(() => null) : null;
    if (res?.status === 200) break;
    if (child.exitCode !== null) throw new Error(`the service exited before it was ready:\n${output}`);
    if (Date.now() - started > 120_000) throw new Error(`the service did not become ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 150_000);
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await api?.stop();
  await db?.drop();
  await removePrefix(prefix);
});

const bearer = { authorization: `Bearer ${secrets.API_KEY}`, 'content-type': 'application/json' };
async function post(path: string, body: string, headers: Record<string, string>) {
  return fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}
async function waitFor<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - started > 15_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('logs', () => {
  it('never contain a secret, a signature, an API key or a raw body, and name the request, job and event', async () => {
    const s = r().slice(0, 6);
    const stripe = new Stripe('sk_test_unused');
    expect((await post('/v1/partners', JSON.stringify({ key: 'ptn_logscan' }), bearer)).status).toBe(201);

    // a signed payment whose key is on the customer (a Stripe API call with the API key)
    const text = fixture('stripe', 'charge.succeeded.2024-06-20.json')
      .toString('utf8')
      .replace(/"((?:evt|pi|ch|in)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`);
    const event = JSON.parse(text);
    Object.assign(event.data.object, { invoice: null, customer: `cus_log${s}`, description: BODY_MARKER });
    objects.set(`cus_log${s}`, { id: `cus_log${s}`, object: 'customer', email: 'l@example.com', metadata: { partner_key: 'ptn_logscan' } });
    const body = JSON.stringify(event);
    const signature = stripe.webhooks.generateTestHeaderString({ payload: body, secret: secrets.STRIPE_WEBHOOK_SECRET });
    sent.push(signature, signature.split('v1=')[1]!);
    expect((await post('/webhooks/stripe', body, { 'stripe-signature': signature })).status).toBe(200);
    const key: string = event.data.object.payment_intent;
    await waitFor('the transaction', async () => ((await fetch(`${url}/v1/transactions/${key}`, { headers: bearer })).status === 200 ? true : undefined));

    // the same while Stripe is down (a failure is logged), and a forged delivery
    const down = JSON.parse(text.replaceAll(s, `${s}d`));
    Object.assign(down.data.object, { invoice: null, customer: `cus_down${s}`, description: BODY_MARKER });
    const downBody = JSON.stringify(down);
    api.outage = 503;
    const downSig = stripe.webhooks.generateTestHeaderString({ payload: downBody, secret: secrets.STRIPE_WEBHOOK_SECRET });
    sent.push(downSig.split('v1=')[1]!);
    expect((await post('/webhooks/stripe', downBody, { 'stripe-signature': downSig })).status).toBe(200);
    await waitFor('a worker failure line', async () => (output.includes('"msg":"payment job failed, will retry"') ? true : undefined));
    api.outage = null;
    const forged = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_forged_logscan' });
    sent.push(forged.split('v1=')[1]!);
    expect((await post('/webhooks/stripe', body, { 'stripe-signature': forged })).status).toBe(400);
    // a Chargebee delivery with the wrong password
    const badBasic = `Basic ${Buffer.from(`chargebee:wrong_${secrets.CHARGEBEE_WEBHOOK_PASSWORD}`).toString('base64')}`;
    sent.push(badBasic);
    expect((await post('/webhooks/chargebee', '{}', { authorization: badBasic })).status).toBe(401);

    // the REST API with a body, the dashboard with its password, metrics, integration status
    const created = await post(
      '/v1/transactions',
      JSON.stringify({ key: `api_${s}`, amount: 10, amount_units: 'USD', customer: { key: `cus_api_${s}`, name: API_BODY_MARKER, partner: { key: 'ptn_logscan' } }, options: { create_customer: true } }),
      bearer,
    );
    expect(created.status).toBe(201);
    expect((await fetch(`${url}/v1/integrations`, { headers: bearer })).status).toBe(200);
    expect((await fetch(`${url}/v1/transactions/nope`, { headers: { authorization: 'Bearer pl_wrong_key_logscan' } })).status).toBe(401);
    const dashboardAuth = `Basic ${Buffer.from(`ops:${secrets.DASHBOARD_PASSWORD}`).toString('base64')}`;
    sent.push(dashboardAuth, dashboardAuth.slice(6));
    expect((await fetch(`${url}/admin/queues/api/queues`, { headers: { authorization: dashboardAuth } })).status).toBe(200);
    expect((await fetch(`${url}/admin/queues`, { headers: { authorization: 'Basic b3BzOndyb25n' } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exit).toBe(0);

    const lines = output.trim().split('\n');
    expect(lines.length).toBeGreaterThan(20);
    const leaks = [...Object.entries(secrets), ['DB_PASSWORD', DB_PASSWORD], ['raw webhook body', BODY_MARKER], ['API request body', API_BODY_MARKER], ...sent.map((v, i) => [`sent header ${i}`, v])]
      .filter(([, value]) => output.includes(value!))
      .map(([name]) => name);
    expect(leaks).toEqual([]);
    // (the scan sees what is there: the event ids and the refusals are logged)
    expect(output).toContain(event.id);

    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // HTTP lines carry the request id; worker lines the job and the gateway event
    const requests = parsed.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(8);
    expect(requests.every((l) => typeof l.reqId === 'string')).toBe(true);
    const done = parsed.find((l) => l.msg === 'payment job done' && l.eventId === event.id);
    expect(done).toMatchObject({ jobId: expect.stringContaining(event.id), gateway: 'stripe', eventType: 'charge.succeeded', source: 'webhook' });
    expect(parsed.filter((l) => l.msg === 'webhook rejected').map((l) => l.code)).toEqual(['invalid_signature', 'invalid_credentials']);
    const failed = parsed.find((l) => String(l.msg).startsWith('payment job failed') && l.eventId === down.id);
    expect(failed).toMatchObject({ jobId: expect.stringContaining(down.id), reason: expect.stringMatching(/^partner lookup: Stripe API 503/) });
  }, 60_000);
});
