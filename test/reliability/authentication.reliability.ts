// Authentication: unsigned, tampered, wrong-secret and stale deliveries are refused by every gateway
// receiver and leave nothing behind; a captured delivery sent again changes nothing; a missing, wrong or
// revoked API key reads nothing, and a key never reads or writes another program's data, on every
// endpoint under /v1; the queue dashboard refuses without its credentials; and the logs (at trace
// level) carry none of the secret values.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import {
  GATEWAYS,
  makeSales,
  paymentDelivery,
  prng,
  send,
  SECRETS,
  SIGNATURE_HEADER,
  signedDelivery,
  type Delivery,
  type GatewayName,
} from '../support/deliveries.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { stopAllServices } from '../support/processes.js';
import { deploy, inboxCounts, PARTNERS, report, type Deployment } from './harness.js';

const KEY_A = `pl_rel_key_a_${randomBytes(12).toString('hex')}`;
const DASHBOARD_USER = 'ops';
const DASHBOARD_PASSWORD = `dash-${randomBytes(12).toString('hex')}`;
const STRIPE_API_KEY = `sk_test_rel_${randomBytes(12).toString('hex')}`;
/** Program B's own gateway settings (set through the API with B's key). */
const B = {
  stripe: `whsec_b_${randomBytes(10).toString('hex')}`,
  paddle: `pdl_ntfset_b_${randomBytes(10).toString('hex')}`,
  woocommerce: `wc_b_${randomBytes(10).toString('hex')}`,
  chargebeeUser: 'cb_b_user',
  chargebeePassword: `cb-b-${randomBytes(10).toString('hex')}`,
};

let d: Deployment;
let stripeApi: FakeGatewayApi;
let sink: http.Server;
let sinkUrl = '';
let programB = { id: '', apiKey: '' };
/** Every secret value the service was given or handed out: none may appear in a log line. */
const secrets: string[] = [];
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  sink = http.createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`;
  stripeApi = await fakeStripeApi(new Map([['cus_rel_1', { id: 'cus_rel_1', object: 'customer', email: 'a@example.com', metadata: { partner_key: PARTNERS[0]! } }]])).start();
  d = await deploy({
    workers: 1,
    env: {
      API_KEY: KEY_A,
      DASHBOARD_USER,
      DASHBOARD_PASSWORD,
      STRIPE_API_KEY,
      STRIPE_API_BASE: stripeApi.url,
      WEBHOOKS_ALLOW_LOOPBACK: 'true',
      WEBHOOKS_DISPATCH_INTERVAL_MS: '200',
      LOG_LEVEL: 'trace',
    },
  });
  programB = await createProgram(d.db.db, { name: 'Program B' });
  secrets.push(
    KEY_A,
    programB.apiKey,
    DASHBOARD_PASSWORD,
    STRIPE_API_KEY,
    SECRETS.stripe,
    SECRETS.paddle,
    SECRETS.woocommerce,
    SECRETS.chargebeePassword,
    B.stripe,
    B.paddle,
    B.woocommerce,
    B.chargebeePassword,
    Buffer.from(`${SECRETS.chargebeeUser}:${SECRETS.chargebeePassword}`).toString('base64'),
    Buffer.from(`${B.chargebeeUser}:${B.chargebeePassword}`).toString('base64'),
    Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64'),
  );
  const signing = (await d.db.db.execute(sql`select signing_secret from programs`)).rows as { signing_secret: string }[];
  secrets.push(...signing.map((r) => r.signing_secret));
  const gateways = { stripe: { webhook_secrets: [B.stripe] }, paddle: { webhook_secrets: [B.paddle] }, woocommerce: { webhook_secrets: [B.woocommerce] }, chargebee: { username: B.chargebeeUser, password: B.chargebeePassword } };
  expect((await asB('PATCH', '/v1/program', { name: 'Program B', gateways })).status).toBe(200);
});
afterAll(async () => {
  await d?.stop();
  await stripeApi?.stop();
  sink?.closeAllConnections();
  await new Promise<void>((r) => (sink ? sink.close(() => r()) : r()));
  await stopAllServices();
});

async function call(method: string, path: string, opts: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  const key = opts.key === undefined ? KEY_A : opts.key;
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${d.api.url}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let json: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, text, json };
}
const asB = (method: string, path: string, body?: unknown) => call(method, path, { key: programB.apiKey, body });
const asA = (method: string, path: string, body?: unknown) => call(method, path, { key: KEY_A, body });

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- webhook receivers ----

function tamper(body: Buffer): Buffer {
  // one digit of the amount changed, as an attacker raising a sale would
  const text = body.toString();
  const i = text.search(/\d(?=[^\d]*$)/);
  return Buffer.from(`${text.slice(0, i)}${(Number(text[i]) + 1) % 10}${text.slice(i + 1)}`);
}

describe('webhook authentication', () => {
  it.each(GATEWAYS)('%s: unsigned, tampered, wrong-secret and stale deliveries are refused, and nothing is stored', async (gateway) => {
    const [sale] = makeSales(1, { tag: `au${gateway}${randomBytes(3).toString('hex')}`, random: prng(7), partners: PARTNERS });
    const good = paymentDelivery({ ...sale!, gateway, n: 700_000_000 + Math.floor(Math.random() * 1e6) });
    const before = await inboxCounts(d.db.db);
    const answers: Record<string, string> = {};
    const refuse = async (name: string, res: Promise<{ status: number; text: string }>) => {
      const r = await res;
      answers[name] = `${r.status} ${(JSON.parse(r.text) as { error?: { code?: string } }).error?.code ?? r.text}`;
    };
    const headers = good.headers();
    const unsigned = { ...headers };
    delete unsigned[SIGNATURE_HEADER[gateway]];
    await refuse('unsigned', send(d.api.url, good, { headers: unsigned }));
    await refuse('wrong secret', send(d.api.url, good, { secret: 'not-the-secret' }));
    if (gateway !== 'chargebee') {
      // Chargebee signs nothing: its Basic credentials prove the sender, not the body
      await refuse('tampered', send(d.api.url, { ...good, body: tamper(good.body) }, { headers }));
    } else {
      await refuse('wrong user', send(d.api.url, good, { headers: { ...headers, authorization: `Basic ${Buffer.from(`intruder:${SECRETS.chargebeePassword}`).toString('base64')}` } }));
      await refuse('not basic', send(d.api.url, good, { headers: { ...headers, authorization: `Bearer ${SECRETS.chargebeePassword}` } }));
    }
    if (gateway === 'stripe' || gateway === 'paddle') {
      await refuse('stale', send(d.api.url, good, { ageSeconds: 400 }));
      await refuse('from the future', send(d.api.url, good, { ageSeconds: -400 }));
    }
    // signed with the other program's secret, or sent to the other program's endpoint
    await refuse("program B's endpoint", send(d.api.url, good, { path: `/webhooks/${gateway}/${programB.id}` }));
    figures[`refused ${gateway}`] = answers;

    const expected: Record<GatewayName, RegExp> = {
      stripe: /^400 (missing_signature|invalid_signature|stale_timestamp|gateway_not_configured)$/,
      paddle: /^400 (missing_signature|invalid_signature|stale_timestamp|gateway_not_configured)$/,
      woocommerce: /^400 (missing_signature|invalid_signature|gateway_not_configured)$/,
      chargebee: /^(401 (missing_credentials|invalid_credentials)|400 gateway_not_configured)$/,
    };
    for (const [name, a] of Object.entries(answers)) expect(a, name).toMatch(expected[gateway]);
    expect(await inboxCounts(d.db.db)).toEqual(before);
  });

  it.each(GATEWAYS)('%s: a captured delivery sent again changes nothing', async (gateway) => {
    const [sale] = makeSales(1, { tag: `rp${gateway}${randomBytes(3).toString('hex')}`, random: prng(11), partners: PARTNERS });
    const captured = paymentDelivery({ ...sale!, gateway, n: 710_000_000 + Math.floor(Math.random() * 1e6) });
    const headers = captured.headers();
    expect((await send(d.api.url, captured, { headers })).status).toBe(200);
    await until('processed', async () => (await d.db.pool.query(`select 1 from webhook_events where event_id = $1 and status = 'processed'`, [captured.eventId])).rowCount);
    const snapshot = () => ledgerSnapshot();
    const before = await snapshot();
    const again = await Promise.all([1, 2, 3].map(() => send(d.api.url, captured, { headers })));
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(again.every((a) => a.text.includes('"duplicate":true'))).toBe(true);
    expect(await snapshot()).toEqual(before);
  });
});

/** Everything a replay could change: counts and sums of the whole ledger. */
async function ledgerSnapshot() {
  const rows = (
    await d.db.db.execute(sql`select
      (select count(*)::int from webhook_events) as inbox,
      (select count(*)::int from transactions) as transactions,
      (select coalesce(sum(amount_minor), 0)::text from transactions) as amounts,
      (select count(*)::int from rewards) as rewards,
      (select coalesce(sum(amount), 0)::text from rewards) as reward_total,
      (select count(*)::int from customers) as customers,
      (select count(*)::int from refunds) as refunds`)
  ).rows;
  return rows[0];
}

// ---- API keys ----

/** Program B's data, read straight from the database: a write by A would show here. */
async function programBData() {
  const q = (table: string, order = 'id') => d.db.pool.query(`select * from ${table} where program_id = $1 order by ${order}`, [programB.id]).then((r) => r.rows);
  const [program] = (await d.db.pool.query('select * from programs where id = $1', [programB.id])).rows;
  return {
    program,
    transactions: await q('transactions'),
    rewards: await q('rewards'),
    partners: await q('partners'),
    customers: await q('customers'),
    refs: await q('transaction_refs', 'ref'),
    runs: await q('bulk_runs'),
    webhooks: await q('webhook_subscriptions'),
    keys: await q('api_keys'),
    coupons: await q('coupons'),
    promotionCodes: await q('promotion_codes'),
  };
}

describe('API keys', () => {
  let openapi: { method: string; template: string }[] = [];
  const b = { partner: 'ptn_b_only', customer: 'cus_b_only', transaction: 'txn_b_only', run: '', webhook: '', delivery: '', eventId: '', link: 'ref_b_only', reward: '', payout: '', code: 'B_CODE_ONLY', coupon: 'b_coupon_only', waitingKey: `ptn_b_waiting_${randomBytes(3).toString('hex')}` };
  let aWebhook = '';

  beforeAll(async () => {
    const doc = (await call('GET', '/v1/openapi.json', { key: null })).json as { paths: Record<string, Record<string, unknown>> };
    openapi = Object.entries(doc.paths).flatMap(([template, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), template })));
    // program B: gateway secrets, a partner, a customer, transactions, a bulk run, an outbound webhook
    expect((await asB('POST', '/v1/partners', { key: b.partner, email: 'b@example.com' })).status).toBe(201);
    expect((await asB('POST', '/v1/partners', { key: 'ptn_b_second', email: 'b2@example.com' })).status).toBe(201);
    expect((await asB('POST', '/v1/customers', { key: b.customer, email: 'cb@example.com', partner: { key: b.partner } })).status).toBe(201);
    const wh = await asB('POST', '/v1/webhooks', { url: sinkUrl, events: ['transaction.created'] });
    expect(wh.status).toBe(201);
    b.webhook = wh.json.data.key;
    secrets.push(wh.json.data.signature);
    const whA = await asA('POST', '/v1/webhooks', { url: sinkUrl, events: ['transaction.created'] });
    aWebhook = whA.json.data.key;
    secrets.push(whA.json.data.signature);
    expect((await asB('POST', '/v1/transactions', { key: b.transaction, amount: 100, customer: { key: b.customer } })).status).toBe(201);
    const run = await asB('POST', '/v1/transactions/bulk', { transactions: [{ cid: b.customer, tid: 'txn_b_bulk', total: 2500 }] });
    b.run = run.json.runId;
    // a gateway event for B (what /v1/integrations reports)
    const [sale] = makeSales(1, { tag: `ib${randomBytes(3).toString('hex')}`, random: prng(3), partners: [b.partner] });
    const event = paymentDelivery({ ...sale!, gateway: 'stripe' });
    b.eventId = event.eventId;
    const res = await send(d.api.url, event, { secret: B.stripe, path: `/webhooks/stripe/${programB.id}` });
    expect(res.status).toBe(200);
    await until('B run completed', async () => (await asB('GET', `/v1/runs/${b.run}`)).json?.data?.status === 'completed');
    b.delivery = await until('B delivery', async () => (await asB('GET', `/v1/webhooks/${b.webhook}/deliveries`)).json?.data?.[0]?.id as string | undefined);
    await until('B event processed', async () => (await d.db.pool.query(`select 1 from webhook_events where event_id = $1 and status = 'processed'`, [b.eventId])).rowCount);
    // a payment of B's naming a partner key no partner has (POST /v1/partners/{key}/reattribute's check)
    const [waiting] = makeSales(1, { tag: `rb${randomBytes(3).toString('hex')}`, random: prng(5), partners: [b.waitingKey] });
    // (a customer of its own: one linked to B's partner would keep its payment out of any re-attribution)
    const waitingEvent = paymentDelivery({ ...waiting!, gateway: 'stripe', customer: 900_000 + Math.floor(Math.random() * 99_999) });
    expect((await send(d.api.url, waitingEvent, { secret: B.stripe, path: `/webhooks/stripe/${programB.id}` })).status).toBe(200);
    await until('B waiting payment processed', async () => (await d.db.pool.query(`select 1 from webhook_events where event_id = $1 and status = 'processed'`, [waitingEvent.eventId])).rowCount);
    // a referral link, a reward and a payout request of B's
    const link = await asB('POST', '/v1/partner_referral_links', { key: b.link, partner: { key: b.partner } });
    expect(link.status, link.text).toBe(201);
    b.reward = (await asB('GET', `/v1/transactions/${b.transaction}`)).json.data.rewards[0].key;
    const payout = await asB('POST', '/v1/payout_requests', { partner: { key: b.partner }, amount_units: 'USD' });
    expect(payout.status, payout.text).toBe(201);
    b.payout = String(payout.json.data.id);
    // a coupon and a partner's promotion code of B's
    const coupon = await asB('POST', '/v1/coupons', { uuid_code: b.coupon, coupon_discount_type: 'percent', coupon_discount_amount: 10, coupon_duration_type: 'once' });
    expect(coupon.status, coupon.text).toBe(201);
    const code = await asB('POST', `/v1/partners/${b.partner}/coupons`, { code: b.code, coupon_uuid: b.coupon });
    expect(code.status, code.text).toBe(201);
  });

  it('every endpoint under /v1 refuses a request without a key, with a wrong key, with a revoked key, and with Basic auth', async () => {
    // a key of program A that worked, revoked through the API of the running service
    const created = await asA('POST', '/v1/api-keys', { name: 'revoked in the test' });
    expect(created.status).toBe(201);
    const revoked = created.json.data as { id: string; key: string };
    secrets.push(revoked.key);
    expect((await call('GET', '/v1/partners', { key: revoked.key })).status).toBe(200);
    expect((await asA('DELETE', `/v1/api-keys/${revoked.id}`)).json?.data?.revoked_at).toEqual(expect.any(String));
    // what an answer that leaked would carry: either program's ids, keys and records
    const data = [d.programId, programB.id, revoked.id, b.partner, b.customer, b.transaction, 'txn_b_bulk', PARTNERS[0]!, ...secrets].filter((v) => v.length >= 8);
    const extra = [{ method: 'DELETE', template: '/v1/transactions' }];
    const refused: Record<string, number> = {};
    const leaks: string[] = [];
    for (const { method, template } of [...openapi, ...extra]) {
      const path = template.replace(/\{runId\}/, '00000000-0000-4000-8000-000000000000').replace(/\{id\}/, '1').replace(/\{[^}]+\}/g, 'x');
      for (const [name, headers] of [
        ['none', {}],
        ['wrong', { authorization: 'Bearer pl_not_a_key' }],
        ['revoked', { authorization: `Bearer ${revoked.key}` }],
        ['basic', { authorization: `Basic ${Buffer.from(`x:${KEY_A}`).toString('base64')}` }],
        ['empty', { authorization: 'Bearer ' }],
      ] as const) {
        const res = await call(method, path, { key: null, headers, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
        refused[res.status] = (refused[res.status] ?? 0) + 1;
        if (res.status !== 401) leaks.push(`${method} ${path} (${name}): ${res.status}`);
        if (res.json?.status !== 0 || 'data' in (res.json ?? {})) leaks.push(`${method} ${path} (${name}): not an error envelope: ${res.text.slice(0, 200)}`);
        const shown = data.filter((v) => res.text.includes(v));
        if (shown.length) leaks.push(`${method} ${path} (${name}): shows ${shown.map((v) => `${v.slice(0, 6)}…`).join(', ')}`);
      }
    }
    figures.endpointsChecked = openapi.length + extra.length;
    figures.refusedWithoutValidKey = refused;
    expect(leaks).toEqual([]);
  });

  it("program A's key never reads or writes program B's data, on every endpoint", async () => {
    /** Program A's public key header, browser tracking on. */
    const aPublic = async () => {
      const program = await asA('PATCH', '/v1/program', { js_tracking: true });
      return { 'x-public-key': program.json.data.public_key as string };
    };
    const before = await programBData();
    const checks: Record<string, () => Promise<unknown>> = {
      'POST /v1/transactions': async () => {
        // naming B's partner or customer finds nothing (an unknown partner key falls back to customer-based
        // attribution: credited to nobody); B's transaction key makes an A transaction
        const namedB = await asA('POST', '/v1/transactions', { key: 'txn_a_1', amount: 10, customer: { key: 'cus_a_1' }, partner: { key: b.partner } });
        expect(namedB.status).toBe(201);
        expect(namedB.json.data.partner).toBeNull();
        expect((await asA('POST', '/v1/transactions', { key: 'txn_a_2', amount: 10, customer: { key: b.customer } })).json?.data?.customer ?? null).not.toBe(b.customer);
        const same = await asA('POST', '/v1/transactions', { key: b.transaction, amount: 999, customer: { key: 'cus_a_2' }, options: { create_customer: true } });
        expect(same.status).toBe(201);
        expect(same.json.data.amount).toBe(999);
      },
      'GET /v1/transactions': async () => {
        const list = await asA('GET', '/v1/transactions?limit=250&status=all');
        expect(list.text).not.toContain('txn_b_bulk');
        expect((list.json.data as { key: string; amount: number }[]).filter((t) => t.key === b.transaction).map((t) => t.amount)).toEqual([999]);
        expect((await asA('GET', `/v1/transactions?customer=${b.customer}`)).json.data).toEqual([]);
        expect((await asA('GET', `/v1/transactions?partner_key=${b.partner}`)).json.data).toEqual([]);
      },
      'GET /v1/transactions/{key}': async () => expect((await asA('GET', '/v1/transactions/txn_b_bulk')).status).toBe(404),
      'DELETE /v1/transactions/{key}': async () => expect((await asA('DELETE', '/v1/transactions/txn_b_bulk')).status).toBe(404),
      'DELETE /v1/transactions': async () => expect((await asA('DELETE', '/v1/transactions', { key: 'txn_b_bulk' })).status).toBe(404),
      'POST /v1/transactions/{key}/archive': async () => expect((await asA('POST', '/v1/transactions/txn_b_bulk/archive')).status).toBe(404),
      'POST /v1/transactions/{key}/revoke-archive': async () => expect((await asA('POST', '/v1/transactions/txn_b_bulk/revoke-archive')).status).toBe(404),
      'POST /v1/transactions/bulk': async () => {
        const run = await asA('POST', '/v1/transactions/bulk', { transactions: [{ cid: b.customer, tid: 'txn_b_bulk', total: 1 }] });
        expect(run.status).toBe(200);
        await until('A run', async () => (await asA('GET', `/v1/runs/${run.json.runId}`)).json?.data?.status === 'completed');
      },
      'GET /v1/runs/{runId}': async () => expect((await asA('GET', `/v1/runs/${b.run}`)).status).toBe(404),
      'POST /v1/partners': async () => expect((await asA('POST', '/v1/partners', { key: b.partner, email: 'a-side@example.com' })).status).toBe(201),
      'GET /v1/partners': async () => expect((await asA('GET', '/v1/partners?limit=250')).text).not.toMatch(/b2?@example\.com|ptn_b_second/),
      'GET /v1/partners/{key}': async () => expect((await asA('GET', `/v1/partners/${b.partner}`)).json?.data?.email).toBe('a-side@example.com'),
      'PATCH /v1/partners/{key}': async () => expect((await asA('PATCH', `/v1/partners/${b.partner}`, { name: 'changed by A' })).json?.data?.email).toBe('a-side@example.com'),
      'DELETE /v1/partners/{key}': async () => expect((await asA('DELETE', '/v1/partners/ptn_b_second')).status).toBe(404),
      'POST /v1/customers': async () => expect((await asA('POST', '/v1/customers', { key: 'cus_a_9', partner: { key: 'ptn_b_second' } })).status).toBe(422),
      'GET /v1/customers': async () => expect((await asA('GET', '/v1/customers?limit=250')).text).not.toContain('cb@example.com'),
      'GET /v1/customers/{key}': async () => expect((await asA('GET', `/v1/customers/${b.customer}`)).status).toBe(404),
      'PATCH /v1/customers/{key}': async () => expect((await asA('PATCH', `/v1/customers/${b.customer}`, { name: 'x' })).status).toBe(404),
      'DELETE /v1/customers/{key}': async () => expect((await asA('DELETE', `/v1/customers/${b.customer}`)).status).toBe(404),
      'GET /v1/program': async () => expect((await asA('GET', '/v1/program')).json.data.id).not.toBe(programB.id),
      'PATCH /v1/program': async () => expect((await asA('PATCH', '/v1/program', { name: 'A renamed' })).json.data.id).not.toBe(programB.id),
      'GET /v1/integrations': async () => {
        const text = (await asA('GET', '/v1/integrations')).text;
        expect(text).not.toContain(b.eventId);
        expect(text).not.toContain(programB.id);
      },
      'POST /v1/webhooks': async () => expect((await asA('POST', '/v1/webhooks', { url: sinkUrl, events: ['transaction.deleted'] })).status).toBe(201),
      'GET /v1/webhooks': async () => expect((await asA('GET', '/v1/webhooks')).text).not.toContain(b.webhook),
      'GET /v1/webhooks/{key}': async () => expect((await asA('GET', `/v1/webhooks/${b.webhook}`)).status).toBe(404),
      'PATCH /v1/webhooks/{key}': async () => expect((await asA('PATCH', `/v1/webhooks/${b.webhook}`, { is_active: false })).status).toBe(404),
      'DELETE /v1/webhooks/{key}': async () => expect((await asA('DELETE', `/v1/webhooks/${b.webhook}`)).status).toBe(404),
      'GET /v1/webhooks/{key}/deliveries': async () => expect((await asA('GET', `/v1/webhooks/${b.webhook}/deliveries`)).status).toBe(404),
      'POST /v1/api-keys': async () => {
        const made = await asA('POST', '/v1/api-keys', { name: 'made by A' });
        expect(made.status).toBe(201);
        secrets.push(made.json.data.key);
        expect((await call('GET', '/v1/program', { key: made.json.data.key })).json.data.id).toBe(d.programId);
      },
      'GET /v1/api-keys': async () => {
        const text = (await asA('GET', '/v1/api-keys?limit=250')).text;
        for (const k of before.keys as { id: string }[]) expect(text).not.toContain(k.id);
      },
      // B's key stays as it was: programBData below compares its row
      'DELETE /v1/api-keys/{id}': async () => {
        for (const k of before.keys as { id: string }[]) expect((await asA('DELETE', `/v1/api-keys/${k.id}`)).status).toBe(404);
      },
      // Partnero's client routes: aliases and lookups by key, id, email or a body, each within the key's program
      'GET /v1/test': async () => expect((await asA('GET', '/v1/test')).text).not.toContain(programB.id),
      'GET /v1/partner': async () => {
        expect((await asA('GET', '/v1/partner?key=ptn_b_second')).status).toBe(404);
        expect((await asA('GET', '/v1/partner?email=b2@example.com')).status).toBe(404);
      },
      'GET /v1/partners:search': async () => {
        // (the links repeat the query: the found rows are what matters)
        expect((await asA('GET', '/v1/partners:search?email=b2@example.com')).json.data).toEqual([]);
        expect((await asA('GET', '/v1/partners:search?key=ptn_b_second')).json.data).toEqual([]);
      },
      'PUT /v1/partners': async () => expect((await asA('PUT', '/v1/partners', { key: 'ptn_b_second', update: { name: 'x' } })).status).toBe(404),
      'PUT /v1/partner': async () => expect((await asA('PUT', '/v1/partner', { key: 'ptn_b_second', update: { name: 'x' } })).status).toBe(404),
      'PUT /v1/partners/{key}': async () => expect((await asA('PUT', '/v1/partners/ptn_b_second', { name: 'x' })).status).toBe(404),
      'POST /v1/partners/{key}/archive': async () => expect((await asA('POST', '/v1/partners/ptn_b_second/archive')).status).toBe(404),
      'POST /v1/partners/{key}/revoke-archive': async () => expect((await asA('POST', '/v1/partners/ptn_b_second/revoke-archive')).status).toBe(404),
      'POST /v1/partners/{key}/reattribute': async () => {
        expect((await asA('POST', '/v1/partners/ptn_b_second/reattribute', { dry_run: true })).status).toBe(404);
        // B's payment naming a key no partner of B's has (made before): a partner of A's with that key is not credited with it
        const waiting = b.waitingKey;
        const created = await asA('POST', '/v1/partners', { key: waiting });
        expect(created.status).toBe(201);
        expect(created.json.data.pending_attribution).toBe(0);
        expect((await asA('POST', `/v1/partners/${waiting}/reattribute`, {})).json.data.summary).toMatchObject({ listed: 0, credited: 0 });
        // (B's payment may be credited to B's own partner through its customer's link: never to A's)
        const rows = await d.db.pool.query(`select partner_id from transactions where program_id = $1 and attribution->>'partner_key' = $2`, [programB.id, waiting]);
        expect(rows.rows).toHaveLength(1);
        expect(rows.rows[0].partner_id).not.toBe(created.json.data.id);
        expect((await d.db.pool.query(`select 1 from rewards where partner_id = $1`, [created.json.data.id])).rowCount).toBe(0);
      },
      'DELETE /v1/partners': async () => {
        expect((await asA('DELETE', '/v1/partners', { key: 'ptn_b_second' })).status).toBe(404);
        expect((await asA('DELETE', '/v1/partners', { email: 'b2@example.com' })).status).toBe(404);
      },
      'DELETE /v1/partner': async () => expect((await asA('DELETE', '/v1/partner', { key: 'ptn_b_second' })).status).toBe(404),
      // B's email is free in A: a partner of A's own
      'POST /v1/partner': async () => expect((await asA('POST', '/v1/partner', { key: 'ptn_a_singular', email: 'b2@example.com' })).status).toBe(201),
      'GET /v1/customer': async () => {
        expect((await asA('GET', `/v1/customer?key=${b.customer}`)).status).toBe(404);
        expect((await asA('GET', '/v1/customer?email=cb@example.com')).status).toBe(404);
      },
      'GET /v1/customers:search': async () => expect((await asA('GET', '/v1/customers:search?email=cb@example.com')).json.data).toEqual([]),
      'PUT /v1/customers': async () => expect((await asA('PUT', '/v1/customers', { key: b.customer, update: { name: 'x' } })).status).toBe(404),
      'PUT /v1/customer': async () => expect((await asA('PUT', '/v1/customer', { key: b.customer, update: { name: 'x' } })).status).toBe(404),
      'PUT /v1/customers/{key}': async () => expect((await asA('PUT', `/v1/customers/${b.customer}`, { name: 'x' })).status).toBe(404),
      'POST /v1/customers/{key}/archive': async () => expect((await asA('POST', `/v1/customers/${b.customer}/archive`)).status).toBe(404),
      'POST /v1/customers/{key}/revoke-archive': async () => expect((await asA('POST', `/v1/customers/${b.customer}/revoke-archive`)).status).toBe(404),
      'DELETE /v1/customers': async () => expect((await asA('DELETE', '/v1/customers', { key: b.customer })).status).toBe(404),
      'DELETE /v1/customer': async () => expect((await asA('DELETE', '/v1/customer', { key: b.customer })).status).toBe(404),
      // (the older singular route: the customer under `customer`, its partner beside it)
      'POST /v1/customer': async () => expect((await asA('POST', '/v1/customer', { customer: { key: 'cus_a_singular', email: 'cb@example.com' }, partner: { key: 'ptn_a_singular' } })).status).toBe(201),
      'GET /v1/customers/{key}/transactions': async () => {
        const r = await asA('GET', `/v1/customers/${b.customer}/transactions`);
        expect(r.status).toBe(404);
        expect(r.text).not.toContain(b.transaction);
      },
      'PUT /v1/settings': async () => expect((await asA('PUT', '/v1/settings', { settings: { name: 'A via settings' } })).json.data.id).not.toBe(programB.id),
      'GET /v1/webhooks/events': async () => expect((await asA('GET', '/v1/webhooks/events')).text).not.toContain(b.webhook),
      'PUT /v1/webhooks/{key}': async () => expect((await asA('PUT', `/v1/webhooks/${b.webhook}`, { is_active: false })).status).toBe(404),
      // a partner's money and links: B's partner is not found by A's key
      'POST /v1/partners/{key}/reward': async () => expect((await asA('POST', '/v1/partners/ptn_b_second/reward', { amount: 5 })).status).toBe(404),
      'GET /v1/partners/{key}/rewards': async () => expect((await asA('GET', '/v1/partners/ptn_b_second/rewards')).status).toBe(404),
      'GET /v1/partners/{key}/earnings': async () => expect((await asA('GET', '/v1/partners/ptn_b_second/earnings')).status).toBe(404),
      'GET /v1/partners/{key}/balance': async () => expect((await asA('GET', '/v1/partners/ptn_b_second/balance')).status).toBe(404),
      'GET /v1/partners/{key}/referral_links': async () => expect((await asA('GET', '/v1/partners/ptn_b_second/referral_links')).status).toBe(404),
      'GET /v1/partner_referral_links': async () => expect((await asA('GET', '/v1/partner_referral_links?limit=250')).text).not.toContain(b.link),
      'GET /v1/partner_referral_links:search': async () => expect((await asA('GET', `/v1/partner_referral_links:search?key=${b.link}`)).json.data).toEqual([]),
      'POST /v1/partner_referral_links': async () => expect((await asA('POST', '/v1/partner_referral_links', { key: 'ref_a_on_b', partner: { key: 'ptn_b_second' } })).status).not.toBe(201),
      'GET /v1/partner_referral_links/{id}': async () => expect((await asA('GET', `/v1/partner_referral_links/${b.link}`)).status).toBe(404),
      'PUT /v1/partner_referral_links/{id}': async () => expect((await asA('PUT', `/v1/partner_referral_links/${b.link}`, { url: 'https://a.example.com' })).status).toBe(404),
      'PATCH /v1/partner_referral_links/{id}': async () => expect((await asA('PATCH', `/v1/partner_referral_links/${b.link}`, { url: 'https://a.example.com' })).status).toBe(404),
      'DELETE /v1/partner_referral_links/{id}': async () => expect((await asA('DELETE', `/v1/partner_referral_links/${b.link}`)).status).toBe(404),
      // promotion codes and coupons: B's are neither seen nor touched, B's partners own nothing of A's
      'GET /v1/partners/{key}/coupons': async () => expect((await asA('GET', '/v1/partners/ptn_b_second/coupons')).status).toBe(404),
      'POST /v1/partners/{key}/coupons': async () => {
        expect((await asA('POST', '/v1/partners/ptn_b_second/coupons', { code: 'A_ON_B' })).status).toBe(404);
        // A's partner with B's coupon
        expect((await asA('POST', `/v1/partners/${PARTNERS[0]}/coupons`, { code: 'A_WITH_B_COUPON', coupon_uuid: b.coupon })).status).toBe(404);
      },
      'DELETE /v1/partners/{key}/coupons/{code}': async () => expect((await asA('DELETE', `/v1/partners/${b.partner}/coupons/${b.code}`)).status).toBe(404),
      'GET /v1/promotion-codes': async () => expect((await asA('GET', '/v1/promotion-codes?limit=250')).text).not.toContain(b.code),
      'POST /v1/promotion-codes': async () => {
        expect((await asA('POST', '/v1/promotion-codes', { code: 'A_ON_B2', coupon_specific_partners: { id: 'ptn_b_second' } })).status).toBe(404);
        expect((await asA('POST', '/v1/promotion-codes', { code: 'A_ON_B3', coupon_uuid: b.coupon })).status).toBe(404);
      },
      'PUT /v1/promotion-codes': async () => expect((await asA('PUT', '/v1/promotion-codes', { code: b.code, metadata: { a: 1 } })).status).toBe(404),
      'DELETE /v1/promotion-codes': async () => expect((await asA('DELETE', '/v1/promotion-codes', { code: b.code })).status).toBe(404),
      'GET /v1/promotion-codes/{code}': async () => expect((await asA('GET', `/v1/promotion-codes/${b.code}`)).status).toBe(404),
      'PUT /v1/promotion-codes/{code}': async () => expect((await asA('PUT', `/v1/promotion-codes/${b.code}`, { limit_to_specific_partner: false })).status).toBe(404),
      'DELETE /v1/promotion-codes/{code}': async () => expect((await asA('DELETE', `/v1/promotion-codes/${b.code}`)).status).toBe(404),
      'GET /v1/coupons': async () => expect((await asA('GET', '/v1/coupons?limit=250')).text).not.toContain(b.coupon),
      'POST /v1/coupons': async () =>
        expect((await asA('POST', '/v1/coupons', { uuid_code: 'a_coupon_on_b', coupon_discount_type: 'static', coupon_discount_amount: 1, coupon_duration_type: 'once', promotion_codes: [{ code: 'A_ON_B4', partner_key: 'ptn_b_second' }] })).status).toBe(404),
      'PUT /v1/coupons': async () => expect((await asA('PUT', '/v1/coupons', { uuid_code: b.coupon, name: 'x' })).status).toBe(404),
      'GET /v1/coupons/{uuid_code}': async () => expect((await asA('GET', `/v1/coupons/${b.coupon}`)).status).toBe(404),
      'PUT /v1/coupons/{uuid_code}': async () => expect((await asA('PUT', `/v1/coupons/${b.coupon}`, { name: 'x' })).status).toBe(404),
      'DELETE /v1/coupons/{uuid_code}': async () => expect((await asA('DELETE', `/v1/coupons/${b.coupon}`)).status).toBe(404),
      'POST /v1/payout_requests': async () => expect((await asA('POST', '/v1/payout_requests', { partner: { key: 'ptn_b_second' } })).status).not.toBe(201),
      'GET /v1/payout_requests': async () => {
        const ids = ((await asA('GET', '/v1/payout_requests?limit=250')).json.data as { id: number }[]).map((r) => String(r.id));
        expect(ids).not.toContain(b.payout);
      },
      'GET /v1/payout_requests:search': async () => {
        const ids = ((await asA('GET', '/v1/payout_requests:search?limit=250')).json.data as { id: number }[]).map((r) => String(r.id));
        expect(ids).not.toContain(b.payout);
      },
      'GET /v1/payout_requests/{id}': async () => expect((await asA('GET', `/v1/payout_requests/${b.payout}`)).status).toBe(404),
      'POST /v1/payout_requests/{id}/approve': async () => expect((await asA('POST', `/v1/payout_requests/${b.payout}/approve`)).status).toBe(404),
      'POST /v1/payout_requests/{id}/reject': async () => expect((await asA('POST', `/v1/payout_requests/${b.payout}/reject`)).status).toBe(404),
      'POST /v1/payout_requests/{id}/mark_as_paid': async () => expect((await asA('POST', `/v1/payout_requests/${b.payout}/mark_as_paid`, {})).status).toBe(404),
      'POST /v1/rewards/{key}/release': async () => expect((await asA('POST', `/v1/rewards/${b.reward}/release`)).status).toBe(404),
      'POST /v1/rewards/{key}/reject': async () => expect((await asA('POST', `/v1/rewards/${b.reward}/reject`)).status).toBe(404),
      // resources this service does not have: the same 404 for every program
      ...Object.fromEntries(
        ['GET /v1/leads', 'POST /v1/leads', 'GET /v1/leads/{id}', 'DELETE /v1/leads/{id}', 'POST /v1/leads/convert', 'POST /v1/leads/reject', 'POST /v1/partners:sign-in-url'].map((e) => [
          e,
          async () => {
            const [method, template] = e.split(' ') as [string, string];
            const r = await asA(method, template.replace('{id}', '1'), method === 'GET' || method === 'DELETE' ? undefined : {});
            expect([r.status, r.json?.error?.code]).toEqual([404, 'not_supported']);
          },
        ]),
      ),
      // the public-key doors: A's public key names B's partner, link and customer, and reaches none of them
      'POST /v1/js/customers': async () => {
        const js = await aPublic();
        // (A has a partner of its own named b.partner by now: B's second partner and B's link are B's only)
        for (const code of ['ptn_b_second', b.link]) {
          const key = `cus_a_js_${code}`;
          expect((await call('POST', '/v1/js/customers', { key: null, headers: js, body: { key, email: 'cb@example.com', referral_code: code } })).status).toBe(201);
          expect((await asA('GET', `/v1/customers/${key}`)).json.data.partner).toBe(null);
        }
      },
      'POST /v1/js/visits': async () => {
        const js = await aPublic();
        const clicks = async () => (await asB('GET', `/v1/partner_referral_links/${b.link}`)).json.data.clicks as number;
        const before = await clicks();
        expect((await call('POST', '/v1/js/visits', { key: null, headers: js, body: { referral_code: b.link } })).status).toBe(202);
        expect(await clicks()).toBe(before);
      },
      'POST /v1/js/transactions': async () => {
        const js = await aPublic();
        const r = await call('POST', '/v1/js/transactions', { key: null, headers: js, body: { key: 'txn_a_js', amount: 10, customer: { key: b.customer }, partner: { key: 'ptn_b_second' } } });
        expect(r.status).toBe(201);
        expect((await asA('GET', '/v1/transactions/js_txn_a_js')).json.data).toMatchObject({ partner: null });
      },
      'POST /v1/webhooks/{key}/deliveries/{id}/retry': async () => {
        expect((await asA('POST', `/v1/webhooks/${b.webhook}/deliveries/${b.delivery}/retry`)).status).toBe(404);
        // A's own subscription with B's delivery id
        expect((await asA('POST', `/v1/webhooks/${aWebhook}/deliveries/${b.delivery}/retry`)).status).toBe(404);
      },
    };
    // every endpoint of the API has its check here: a new endpoint must say how it keeps programs apart
    const missing = [...openapi.map((o) => `${o.method} ${o.template}`), 'DELETE /v1/transactions'].filter((e) => !checks[e]);
    expect(missing).toEqual([]);
    for (const [endpoint, check] of Object.entries(checks)) {
      try {
        await check();
      } catch (err) {
        throw new Error(`${endpoint}: ${(err as Error).message}`, { cause: err });
      }
    }
    figures.isolationChecks = Object.keys(checks).length;
    // program B is exactly as it was
    expect(await programBData()).toEqual(before);
  });
});

describe('queue dashboard', () => {
  it('refuses without its credentials (and a program API key does not open it); opens with them', async () => {
    const path = '/admin/queues';
    const statuses = {
      none: (await call('GET', path, { key: null })).status,
      apiKey: (await call('GET', path, { key: KEY_A })).status,
      wrongPassword: (await call('GET', path, { key: null, headers: { authorization: `Basic ${Buffer.from(`${DASHBOARD_USER}:nope`).toString('base64')}` } })).status,
      wrongUser: (await call('GET', path, { key: null, headers: { authorization: `Basic ${Buffer.from(`root:${DASHBOARD_PASSWORD}`).toString('base64')}` } })).status,
      apiRoute: (await call('GET', `${path}/api/queues`, { key: null })).status,
      retryAll: (await call('PUT', `${path}/api/queues/payment-events/retry/failed`, { key: null })).status,
      right: (await call('GET', path, { key: null, headers: { authorization: `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}` } })).status,
    };
    figures.dashboard = statuses;
    expect(statuses).toEqual({ none: 401, apiKey: 401, wrongPassword: 401, wrongUser: 401, apiRoute: 401, retryAll: 401, right: 200 });
  });
});

describe('logs', () => {
  it('carry none of the secret values, at trace level, after all of the above', async () => {
    // a lookup through the Stripe API (its key in the Authorization header) and a failed one
    const [sale] = makeSales(1, { tag: `lg${randomBytes(3).toString('hex')}`, random: prng(5), partners: PARTNERS });
    const body = JSON.parse(paymentDelivery({ ...sale!, gateway: 'stripe' }).body.toString());
    body.data.object.metadata = {};
    body.data.object.customer = 'cus_rel_1';
    const lookup: Delivery = signedDelivery('stripe', body.id, Buffer.from(JSON.stringify(body)));
    expect((await send(d.api.url, lookup)).status).toBe(200);
    await until('lookup processed', async () => (await d.db.pool.query(`select 1 from webhook_events where event_id = $1 and status = 'processed'`, [lookup.eventId])).rowCount);
    expect(stripeApi.requests.some((r) => r.headers.authorization === `Bearer ${STRIPE_API_KEY}`)).toBe(true);

    const output = [d.api, ...d.workers].map((p) => p.output()).join('\n');
    const found = [...new Set(secrets)].filter((s) => s.length >= 8 && output.includes(s));
    report('authentication', {
      ...figures,
      logLines: output.split('\n').length,
      logBytes: output.length,
      secretsScanned: new Set(secrets).size,
      secretsFound: found.length,
    });
    expect(output.split('\n').length).toBeGreaterThan(100);
    expect(found.map((s) => `${s.slice(0, 6)}…`)).toEqual([]);
  });
});
