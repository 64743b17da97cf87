// Referral links through the doors a shop uses: the shop's pages load GET /js/po.js (run here in a
// DOM-less harness: a cookie jar, the page's address, the real fetch), a visit through a partner's
// link keeps its code in a first-party cookie, po('customers', 'signup') posts the customer with the
// public key, and a later signed gateway payment naming that customer key is credited through the
// link, held in review, its attribution saying `decided_by: referral_link`. The same email under
// another key is not credited; an existing customer is never re-linked by a browser.
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { delivery, gatewayEnv } from '../support/deliveries.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_referral_links';
let svc: TestService;
let publicKey = '';
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

/** A browser's cookie jar for the shop's origin: name → value, and the attributes each was set with. */
type Jar = Map<string, { value: string; attributes: string }>;

/**
 * Load po.js on a shop page at `pageUrl`, as a <script src> would: `document.cookie` reads and writes
 * `jar`, fetch is the real one (a browser sends the page's Origin; CORS answers are checked apart).
 */
async function loadPage(pageUrl: string, jar: Jar, scriptSrc = `${svc.url}/js/po.js?key=${publicKey}`) {
  const source = await (await fetch(scriptSrc)).text();
  const document = {
    currentScript: { src: scriptSrc, getAttribute: () => null },
    get cookie() {
      return [...jar].map(([k, v]) => `${k}=${v.value}`).join('; ');
    },
    set cookie(line: string) {
      const [pair = '', ...attributes] = line.split('; ');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), { value: pair.slice(eq + 1), attributes: attributes.join('; ') });
    },
  };
  const window: Record<string, unknown> = {};
  const context = vm.createContext({ window, document, location: new URL(pageUrl), URL, URLSearchParams, fetch, Promise, Object, JSON });
  vm.runInContext(source, context);
  return window.po as (resource: string, action: string, options?: unknown) => Promise<{ data?: unknown; error?: { code: string } }>;
}

async function signup(body: unknown, key = publicKey) {
  const res = await fetch(`${svc.url}/v1/js/customers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-public-key': key, origin: 'https://shop.example.com' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function until(probe: () => Promise<boolean>) {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('not within 5 s');
}

let n = 0;
/** A signed Stripe payment_intent.succeeded, processed by the worker; its transaction through the API. */
async function stripePaid(metadata: Record<string, string>, customer: string, email: string) {
  const id = `rl${++n}`;
  const d = delivery('stripe', `evt_${id}`, {
    id: `evt_${id}`,
    object: 'event',
    api_version: '2025-03-31.basil',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'payment_intent.succeeded',
    data: {
      object: { id: `pi_${id}`, object: 'payment_intent', amount: 10000, amount_received: 10000, currency: 'usd', customer, receipt_email: email, status: 'succeeded', metadata },
    },
  });
  expect((await svc.post('/webhooks/stripe', d.body, d.headers())).status).toBe(200);
  expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');
  return (await api('GET', `/v1/transactions/pi_${id}`)).body.data;
}

/** A signed Paddle transaction.completed from Paddle customer `customerId`, with no partner key. */
async function paddlePaid(customerId: string) {
  const id = `rl${++n}`;
  const d = delivery('paddle', `evt_${id}`, {
    event_id: `evt_${id}`,
    event_type: 'transaction.completed',
    occurred_at: new Date().toISOString(),
    notification_id: `ntf_${id}`,
    data: {
      id: `txn_${id}`,
      status: 'completed',
      customer_id: customerId,
      currency_code: 'USD',
      custom_data: null,
      customer: { email: 'paddle.buyer@example.com' },
      items: [],
      details: { totals: { grand_total: '5000', tax: '0', currency_code: 'USD' } },
    },
  });
  expect((await svc.post('/webhooks/paddle', d.body, d.headers())).status).toBe(200);
  expect((await svc.settled('paddle', d.eventId)).status).toBe('processed');
  return (await api('GET', `/v1/transactions/txn_${id}`)).body.data;
}

/** A signed Chargebee payment_succeeded by Chargebee customer `customerId` (an id the merchant chose), no partner fields. */
async function chargebeePaid(customerId: string) {
  const id = `rl${++n}`;
  const d = delivery('chargebee', `ev_${id}`, {
    id: `ev_${id}`,
    occurred_at: Math.floor(Date.now() / 1000),
    event_type: 'payment_succeeded',
    api_version: 'v2',
    object: 'event',
    content: {
      transaction: { id: `txn_${id}`, type: 'payment', status: 'success', amount: 3000, currency_code: 'USD', customer_id: customerId },
      customer: { id: customerId, email: 'cb.buyer@example.com' },
    },
  });
  expect((await svc.post('/webhooks/chargebee', d.body, d.headers())).status).toBe(200);
  expect((await svc.settled('chargebee', d.eventId)).status).toBe('processed');
  return (await api('GET', `/v1/transactions/txn_${id}`)).body.data;
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, JS_RATE_LIMIT_PER_MINUTE: '40', ...gatewayEnv() });
  await createPartner(svc.db.db, svc.programId, 'RL_P');
  await createPartner(svc.db.db, svc.programId, 'RL_Q');
  expect((await api('POST', '/v1/partner_referral_links', { key: 'spring-sale', partner: { key: 'RL_P' } })).status).toBe(201);
  publicKey = (await api('GET', '/v1/program')).body.data.public_key;
});
afterAll(async () => {
  await svc?.stop();
});

describe('referral links: visit, signup, payment', () => {
  it('refuses signups until the program turns browser tracking on, and needs the public key', async () => {
    expect(await signup({ key: 'acct_early' })).toMatchObject({ status: 403, body: { error: { code: 'js_tracking_disabled' } } });
    expect(await signup({ key: 'acct_early' }, KEY)).toMatchObject({ status: 401, body: { error: { code: 'invalid_public_key' } } });
    const patched = await api('PATCH', '/v1/program', { js_tracking: true, referral_parameter: 'via', cookie_lifetime_days: 14 });
    expect(patched.body.data).toMatchObject({ js_tracking: true, referral_parameter: 'via', cookie_lifetime_days: 14 });
    expect((await api('PATCH', '/v1/program', { referral_parameter: 'a b' })).status).toBe(422);
    expect((await api('PATCH', '/v1/program', { cookie_lifetime_days: 0 })).status).toBe(422);
  });

  it('keeps a visit\'s code in a first-party cookie for the program\'s lifetime, with its parameter name', async () => {
    const jar: Jar = new Map();
    await loadPage('https://shop.example.com/pricing?ref=RL_Q', jar);
    expect(jar.size).toBe(0); // not this program's parameter
    await loadPage('https://shop.example.com/pricing?via=spring-sale&utm_source=x', jar);
    expect(jar.get('partnero_partner')?.value).toBe('spring-sale');
    expect(jar.get('partnero_partner')?.attributes).toContain(`Max-Age=${14 * 86400}`);
    expect(jar.get('partnero_partner')?.attributes).toContain('Secure');
    // the visit is reported: the link's click count (the page does not wait for it)
    await until(async () => (await api('GET', '/v1/partner_referral_links/spring-sale')).body.data.clicks === 1);
    // without ?key= the snippet has the defaults: ?ref=, 30 days
    const plain = await (await fetch(`${svc.url}/js/po.js`)).text();
    expect(plain).toContain('PARAMETER = "ref", DAYS = 30');
  });

  it('a signup after the visit links the customer; its Stripe payment naming that key is credited, held in review', async () => {
    const jar: Jar = new Map();
    await loadPage('https://shop.example.com/?via=spring-sale', jar);
    // a later page, without the parameter: the cookie carries the code
    const po = await loadPage('https://shop.example.com/signup', jar);
    expect(await po('customers', 'signup', { data: { key: 'acct_1001', email: 'ann@example.com', name: 'Ann' } })).toEqual({ data: { key: 'acct_1001', received: true }, status: 1 });
    expect((await api('GET', '/v1/customers/acct_1001')).body.data).toMatchObject({ key: 'acct_1001', partner: 'RL_P', email: 'ann@example.com', linked_by: 'referral_link' });

    const paid = await stripePaid({ customer_key: 'acct_1001' }, 'cus_rl_ann', 'ann@example.com');
    expect(paid).toMatchObject({ partner: 'RL_P', customer: 'acct_1001' });
    expect(paid.rewards).toMatchObject([{ partner: 'RL_P', amount: 20, status: 'review_period' }]);
    expect(paid.attribution).toMatchObject({ customer_match: 'key', decided_by: 'referral_link', credited: { kind: 'partner', key: 'RL_P' } });

    // a renewal names only the Stripe customer: the signup learned its id from the first payment
    const renewal = await stripePaid({}, 'cus_rl_ann', 'ann@example.com');
    expect(renewal).toMatchObject({ partner: 'RL_P', customer: 'acct_1001', rewards: [{ status: 'review_period' }] });
    expect(renewal.attribution).toMatchObject({ customer_match: 'gateway_id', decided_by: 'referral_link' });

    // customer-based: the link stands against a key the payment names
    const named = await stripePaid({ customer_key: 'acct_1001', partner_key: 'RL_Q' }, 'cus_rl_ann', 'ann@example.com');
    expect(named).toMatchObject({ partner: 'RL_P', attribution: { decided_by: 'referral_link', ignored_partner_key: 'RL_Q' } });
  });

  it('the same email under another key, or no key, is not credited', async () => {
    const other = await stripePaid({ customer_key: 'acct_someone_else' }, 'cus_rl_other', 'ann@example.com');
    expect(other).toMatchObject({ partner: null, customer: 'acct_someone_else', rewards: [] });
    expect(other.attribution).toMatchObject({ decided_by: 'none', credited: null });
    const keyless = await stripePaid({}, 'cus_rl_keyless', 'ANN@example.com');
    expect(keyless).toMatchObject({ partner: null, rewards: [] });
    // found by email only among customers the merchant's side made, never the browser's acct_1001
    expect(keyless.customer).not.toBe('acct_1001');
  });

  it('a signup under the gateway\'s customer id (Paddle ctm_…) is found by it', async () => {
    const jar: Jar = new Map([['partnero_partner', { value: 'RL_Q', attributes: '' }]]);
    const po = await loadPage('https://shop.example.com/signup', jar);
    expect((await po('customers', 'signup', { data: { key: 'ctm_rl77', email: 'pat@example.com' } })).data).toEqual({ key: 'ctm_rl77', received: true });
    const paid = await paddlePaid('ctm_rl77');
    expect(paid).toMatchObject({ partner: 'RL_Q', customer: 'ctm_rl77', rewards: [{ status: 'review_period' }] });
    expect(paid.attribution).toMatchObject({ customer_match: 'key', decided_by: 'referral_link' });
  });

  it('a signup under the Chargebee customer id is found by it', async () => {
    expect((await signup({ key: 'cb_acct_55', referral_code: 'spring-sale' })).status).toBe(201);
    const paid = await chargebeePaid('cb_acct_55');
    expect(paid).toMatchObject({ partner: 'RL_P', customer: 'cb_acct_55', rewards: [{ status: 'review_period' }] });
    expect(paid.attribution).toMatchObject({ customer_match: 'key', decided_by: 'referral_link' });
  });

  it('refer-a-friend: the code names the referring customer', async () => {
    const raf = await createProgram(svc.db.db, { name: 'Friends', type: 'refer_a_friend' });
    const asRaf = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, raf.apiKey);
    const rafPublic = (await asRaf('PATCH', '/v1/program', { js_tracking: true })).body.data.public_key;
    expect((await asRaf('POST', '/v1/customers', { key: 'friend_1', email: 'friend@example.com' })).status).toBe(201);
    expect((await signup({ key: 'raf_new', email: 'new@example.com', referral_code: 'friend_1' }, rafPublic)).status).toBe(201);
    expect((await asRaf('GET', '/v1/customers/raf_new')).body.data).toMatchObject({ referring_customer: 'friend_1', linked_by: 'referral_link' });
    const sale = await asRaf('POST', '/v1/transactions', { key: 'raf_sale_1', amount: 50, customer: { key: 'raf_new' } });
    expect(sale.status).toBe(201);
    expect(sale.body.data.attribution).toMatchObject({ decided_by: 'referral_link', credited: { kind: 'customer', key: 'friend_1' } });
    expect(sale.body.data.rewards).toMatchObject([{ status: 'review_period' }]);
  });

  // a payment may come before the signup (the backend charges first): the customer then exists
  it('never re-links an existing customer, linked or not, and answers the same', async () => {
    expect((await api('POST', '/v1/customers', { key: 'acct_known', partner: { key: 'RL_Q' } })).status).toBe(201);
    await stripePaid({ customer_key: 'acct_unlinked' }, 'cus_rl_unlinked', 'u@example.com');
    expect((await api('GET', '/v1/customers/acct_unlinked')).body.data.partner).toBe(null);
    for (const key of ['acct_known', 'acct_unlinked']) {
      const r = await signup({ key, email: 'intruder@example.com', referral_code: 'spring-sale' });
      expect(r).toMatchObject({ status: 201, body: { data: { key, received: true } } });
    }
    expect((await api('GET', '/v1/customers/acct_known')).body.data).toMatchObject({ partner: 'RL_Q', email: null, linked_by: null });
    expect((await api('GET', '/v1/customers/acct_unlinked')).body.data).toMatchObject({ partner: null, email: 'u@example.com' });
    const later = await stripePaid({ customer_key: 'acct_unlinked' }, 'cus_rl_unlinked', 'u@example.com');
    expect(later).toMatchObject({ partner: null, attribution: { decided_by: 'none' } });
    const known = await stripePaid({ customer_key: 'acct_known' }, 'cus_rl_known', 'k@example.com');
    expect(known).toMatchObject({ partner: 'RL_Q', attribution: { decided_by: 'customer_link' } });
    expect(known.rewards[0].status).not.toBe('review_period');
  });

  it('an unknown or absent code records the customer linked to nobody', async () => {
    expect((await signup({ key: 'acct_nocode', email: 'n@example.com', referral_code: 'no-such-code' })).status).toBe(201);
    expect((await signup({ key: 'acct_nocookie', referral_code: null })).status).toBe(201);
    for (const key of ['acct_nocode', 'acct_nocookie']) expect((await api('GET', `/v1/customers/${key}`)).body.data.partner).toBe(null);
    const paid = await stripePaid({ customer_key: 'acct_nocode' }, 'cus_rl_nocode', 'n@example.com');
    expect(paid).toMatchObject({ partner: null, customer: 'acct_nocode', attribution: { decided_by: 'none' } });
  });

  it('counts a reported visit only for a referral link of the program', async () => {
    const visit = (body: unknown) =>
      fetch(`${svc.url}/v1/js/visits`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-public-key': publicKey }, body: JSON.stringify(body) });
    const before = (await api('GET', '/v1/partner_referral_links/spring-sale')).body.data.clicks;
    expect((await visit({ referral_code: 'spring-sale' })).status).toBe(202);
    expect((await visit({ referral_code: 'RL_P' })).status).toBe(202); // a partner key: no link to count
    expect((await visit({})).status).toBe(422);
    expect((await api('GET', '/v1/partner_referral_links/spring-sale')).body.data.clicks).toBe(before + 1);
  });

  it('answers CORS preflights and refuses bad bodies with a 422', async () => {
    const pre = await fetch(`${svc.url}/v1/js/customers`, { method: 'OPTIONS', headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('x-public-key');
    const r = await signup({ email: 'no-key@example.com' });
    expect(r).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { key: expect.any(String) } } } });
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(await signup({ key: 'has space' })).toMatchObject({ status: 422 });
    expect(await signup({ key: 'stripe_cus_1__pkey_RL_P', referral_code: 'RL_Q' })).toMatchObject({ status: 422, body: { error: { fields: { key: expect.any(String) } } } });
    expect(await signup({ key: 'acct_bad_email', email: 'not-an-email' })).toMatchObject({ status: 422, body: { error: { fields: { email: expect.any(String) } } } });
    expect(await signup({ key: 'acct_long_code', referral_code: 'x'.repeat(256) })).toMatchObject({ status: 422 });
    expect((await signup('{"key":')).status).toBe(400);
    expect((await api('GET', '/v1/customers/acct_bad_email')).status).toBe(404);
  });

  it('rate limits each client address, signups and sales together', async () => {
    let limited: Awaited<ReturnType<typeof signup>> | undefined;
    for (let i = 0; i < 60 && !limited; i++) {
      const r = await signup({ key: `acct_flood_${i}` });
      if (r.status === 429) limited = r;
      else expect(r.status).toBe(201);
    }
    expect(limited?.body.error.code).toBe('rate_limited');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
