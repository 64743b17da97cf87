// Payments booked while their partner did not exist, credited once it does: signed Stripe deliveries
// naming a partner key nobody has → the partner created through the API says how many wait
// (pending_attribution) → a dry run lists them → re-attribution credits them as a payment booked now
// would be (lifetime, partial refunds; a refunded one is left out) → a second run credits nothing.
// Through the REST API (customer-based program) and the CLI as an operator runs it (a transaction-based
// program with a first-payment-only lifetime); and Paddle renewals booked while PADDLE_API_KEY was unset
// (lookups not_configured), looked up again by `reattribute --lookups` once the key is set.
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fakePaddleApi } from '../support/fake-paddle-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_reattribute';
const STRIPE_SECRET = 'whsec_reattribute';
const PADDLE_SECRET = 'pdl_ntfset_reattribute';
const stripe = new Stripe('sk_test_unused');
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');

const objects = new Map<string, Record<string, unknown>>();
let paddleApi: FakeGatewayApi;
let svc: TestService;
let env: NodeJS.ProcessEnv;

const api = (method: string, p: string, body?: unknown, key = KEY) => callApi(svc.url, method, p, body, key);
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'reattribute', ...args], { env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

async function stripeDelivery(event: Record<string, unknown>, programId?: string) {
  const body = JSON.stringify(event);
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_SECRET });
  expect((await svc.post(`/webhooks/stripe${programId ? `/${programId}` : ''}`, body, { 'stripe-signature': header })).status).toBe(200);
  expect((await svc.settled('stripe', event.id as string)).status).toBe('processed');
}

let clock = Math.floor(Date.now() / 1000) - 86_400;
/** A Stripe payment (payment_intent.succeeded) of `amount` cents by `customer`, naming `partnerKey`, each a minute after the last. */
async function pay(customer: string, partnerKey: string, amount: number, programId?: string, id = `pi_${randomBytes(6).toString('hex')}`) {
  const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
  event.id = `evt_${randomBytes(6).toString('hex')}`;
  event.created = clock += 60;
  Object.assign(event.data.object, {
    id,
    amount,
    amount_received: amount,
    latest_charge: `ch_${id}`,
    created: clock,
    customer,
    receipt_email: `${customer}@example.com`,
    metadata: { partner_key: partnerKey },
  });
  await stripeDelivery(event, programId);
  return id;
}

/** charge.refunded: the payment's running refunded total. */
async function refund(pi: string, amount: number, refunded: number) {
  const event = JSON.parse(fixture('stripe', 'charge.refunded.partial.json').toString('utf8'));
  event.id = `evt_${randomBytes(6).toString('hex')}`;
  Object.assign(event.data.object, { id: `ch_${pi}`, payment_intent: pi, amount, amount_captured: amount, amount_refunded: refunded, refunded: refunded >= amount });
  await stripeDelivery(event);
}

const transaction = async (key: string, apiKey = KEY) => (await api('GET', `/v1/transactions/${key}`, undefined, apiKey)).body.data;

beforeAll(async () => {
  paddleApi = await fakePaddleApi(objects).start();
  // Paddle's API key is not set: its lookups are recorded as not_configured
  svc = await startTestService({
    API_KEY: KEY,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    PADDLE_WEBHOOK_SECRET: PADDLE_SECRET,
    PADDLE_API_BASE: paddleApi.url,
    // the outbound webhooks' receiver is on loopback: allowed for tests only
    WEBHOOKS_ALLOW_LOOPBACK: 'true',
    WEBHOOKS_DISPATCH_INTERVAL_MS: '100',
  });
  env = {
    ...process.env,
    API_KEY: KEY,
    DATABASE_URL: svc.db.url,
    REDIS_URL: svc.service.config.REDIS_URL,
    QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
    PADDLE_API_BASE: paddleApi.url,
    LOG_LEVEL: 'silent',
  };
});
afterAll(async () => {
  await svc?.stop();
  await paddleApi?.stop();
});

describe('payments that named a partner before it existed', () => {
  it('are counted on the partner, listed by a dry run, credited once through POST /v1/partners/{key}/reattribute', async () => {
    const s = randomBytes(3).toString('hex');
    const partner = `ptn_orbit_${s}`;
    const [ann, bob, cyd] = [`cus_ann${s}`, `cus_bob${s}`, `cus_cyd${s}`];
    const first = await pay(ann, partner, 4900);
    const second = await pay(ann, partner, 3000);
    const partial = await pay(bob, partner, 10000);
    await refund(partial, 10000, 2500);
    const refunded = await pay(cyd, partner, 5000);
    await refund(refunded, 5000, 5000);
    expect(await transaction(first)).toMatchObject({ partner: null, rewards: [], attribution: { partner_key: partner, ignored_partner_key: partner, credited: null } });
    expect(await transaction(refunded)).toMatchObject({ partner: null, deleted_at: expect.any(String) });

    // creating the partner says how many payments wait for it; reading it again too
    const created = await api('POST', '/v1/partners', { key: partner, email: `${partner}@example.com` });
    expect(created).toMatchObject({ status: 201, body: { data: { key: partner, pending_attribution: 3 } } });
    expect((await api('GET', `/v1/partners/${partner}`)).body.data).toMatchObject({ pending_attribution: 3 });

    const dry = await api('POST', `/v1/partners/${partner}/reattribute`, { dry_run: true });
    expect(dry.status).toBe(200);
    expect(dry.body.data).toMatchObject({
      partner,
      dry_run: true,
      summary: { listed: 3, credited: 3, rewarded: 3, skipped: 0, rewards: { USD: '30.8' } },
    });
    expect(dry.body.data.payments).toEqual([
      expect.objectContaining({ transaction_key: first, result: 'would_credit', customer: ann, reward: expect.objectContaining({ amount: 9.8, amount_units: 'USD', status: 'ok' }) }),
      expect.objectContaining({ transaction_key: second, result: 'would_credit', reward: expect.objectContaining({ amount: 6 }) }),
      // 20 % of 100, less the quarter refunded
      expect.objectContaining({ transaction_key: partial, result: 'would_credit', refunded_amount: 25, reward: expect.objectContaining({ amount: 15 }) }),
    ]);
    // a dry run changes nothing
    expect(await transaction(first)).toMatchObject({ partner: null, rewards: [] });
    expect((await api('GET', `/v1/partners/${partner}`)).body.data).toMatchObject({ pending_attribution: 3, balance: [] });

    const done = await api('POST', `/v1/partners/${partner}/reattribute`, {});
    expect(done.body.data).toMatchObject({ dry_run: false, summary: { credited: 3, rewards: { USD: '30.8' } } });
    expect(done.body.data.payments.map((p: { result: string }) => p.result)).toEqual(['credited', 'credited', 'credited']);

    const credited = await transaction(first);
    expect(credited).toMatchObject({
      partner,
      customer: ann,
      rewards: [expect.objectContaining({ partner, amount: 9.8, amount_units: 'USD', status: 'ok' })],
      attribution: { partner_key: partner, customer_match: 'gateway_id', ignored_partner_key: null, credited: { kind: 'partner', key: partner }, reward_reason: null, reattributed_at: expect.any(String) },
    });
    expect(await transaction(partial)).toMatchObject({ partner, rewards: [expect.objectContaining({ amount: 15 })] });
    expect(await transaction(refunded)).toMatchObject({ partner: null, rewards: [] });
    const after = (await api('GET', `/v1/partners/${partner}`)).body.data;
    expect(after).toMatchObject({ pending_attribution: 0, balance: [expect.objectContaining({ currency: 'USD', available: '30.8' })] });

    // the customer is linked now (customer-based): its next payment, naming no partner, is credited
    // through the link as any linked customer's would be
    const next = await pay(ann, 'no_such_partner_at_all', 1000);
    expect(await transaction(next)).toMatchObject({ partner, rewards: [expect.objectContaining({ amount: 2 })] });

    // twice: nothing more
    const again = await api('POST', `/v1/partners/${partner}/reattribute`, {});
    expect(again.body.data).toMatchObject({ payments: [], summary: { listed: 0, credited: 0, rewards: {} } });
    expect((await api('GET', `/v1/partners/${partner}`)).body.data.balance).toEqual([expect.objectContaining({ available: '32.8' })]);
  });

  it('a partial refund delivered before its payment takes its share too', async () => {
    const s = randomBytes(3).toString('hex');
    const partner = `ptn_early_${s}`;
    const pi = `pi_${randomBytes(6).toString('hex')}`;
    // Stripe may deliver charge.refunded before payment_intent.succeeded: the refund waits for its payment
    await refund(pi, 8000, 2000);
    await pay(`cus_early${s}`, partner, 8000, undefined, pi);
    expect(await transaction(pi)).toMatchObject({ partner: null, refunded_amount: 20 });
    expect((await api('POST', '/v1/partners', { key: partner })).body.data).toMatchObject({ pending_attribution: 1 });
    await api('POST', `/v1/partners/${partner}/reattribute`, {});
    // 20 % of 80, less the quarter refunded
    expect(await transaction(pi)).toMatchObject({ partner, rewards: [expect.objectContaining({ amount: 12 })] });
  });

  it('leave alone a customer linked to another partner since (customer-based: links are permanent)', async () => {
    const s = randomBytes(3).toString('hex');
    const [late, other] = [`ptn_late_${s}`, `ptn_other_${s}`];
    const [linked, free] = [`cus_linked${s}`, `cus_free${s}`];
    expect((await api('POST', '/v1/partners', { key: other })).status).toBe(201);
    const stays = await pay(linked, late, 2000);
    // the customer's next payment names an existing partner: it is linked to that one now
    expect(await transaction(await pay(linked, other, 1000))).toMatchObject({ partner: other });
    const credited = await pay(free, late, 2000);
    expect((await api('POST', '/v1/partners', { key: late })).body.data).toMatchObject({ pending_attribution: 1 });
    const done = await api('POST', `/v1/partners/${late}/reattribute`, {});
    expect(done.body.data.payments).toEqual([expect.objectContaining({ transaction_key: credited, result: 'credited' })]);
    expect(await transaction(stays)).toMatchObject({ partner: null, rewards: [] });
    expect((await api('GET', `/v1/partners/${late}`)).body.data).toMatchObject({ pending_attribution: 0 });
  });

  it('refuses a bad body, an unknown partner and a deleted one in plain words', async () => {
    const s = randomBytes(3).toString('hex');
    expect(await api('POST', `/v1/partners/nobody_${s}/reattribute`, {})).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await api('POST', '/v1/partners', { key: `gone_${s}` })).status).toBe(201);
    expect(await api('POST', `/v1/partners/gone_${s}/reattribute`, { from: 'yesterday' })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    expect(await api('POST', `/v1/partners/gone_${s}/reattribute`, { dry_run: 'yes' })).toMatchObject({ status: 422 });
    expect((await api('DELETE', `/v1/partners/gone_${s}`)).status).toBe(200);
    expect(await api('POST', `/v1/partners/gone_${s}/reattribute`, {})).toMatchObject({ status: 409, body: { error: { code: 'deleted' } } });
  });

  it('--from leaves out older payments', async () => {
    const s = randomBytes(3).toString('hex');
    const partner = `ptn_from_${s}`;
    const paid = await pay(`cus_from${s}`, partner, 2000);
    expect((await api('POST', '/v1/partners', { key: partner })).status).toBe(201);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await api('POST', `/v1/partners/${partner}/reattribute`, { from: later })).body.data.summary).toMatchObject({ listed: 0 });
    expect(await transaction(paid)).toMatchObject({ partner: null });
  });
});

describe('rewards made by re-attribution', () => {
  it('go through the holds and caps, and are announced as a booking is', async () => {
    const received: { event: string; data: Record<string, unknown> }[] = [];
    const sink = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        received.push(JSON.parse(raw));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
      const s = randomBytes(3).toString('hex');
      const program = await createProgram(svc.db.db, { name: `Limited ${s}` });
      const patched = await api('PATCH', '/v1/program', { caps: { max_per_customer: { USD: '12' } }, gateways: { stripe: { webhook_secrets: [STRIPE_SECRET] } } }, program.apiKey);
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      const hook = await api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`, events: ['transaction.created', 'customer.updated'] }, program.apiKey);
      expect(hook.status).toBe(201);
      const partner = `ptn_lim_${s}`;
      const [capped, self] = [`cus_cap${s}`, `cus_self${s}`];
      const one = await pay(capped, partner, 4900, program.id);
      const two = await pay(capped, partner, 3000, program.id);
      const own = await pay(self, partner, 1000, program.id);
      const waitFor = async (n: number) => {
        const started = Date.now();
        while (received.length < n && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
        expect(received.length).toBe(n);
      };
      // the bookings were announced (to nobody's credit)
      await waitFor(3);
      expect(received.map((e) => e.data.partner)).toEqual([null, null, null]);
      // the partner's email is the payer's own: a self-referral
      expect((await api('POST', '/v1/partners', { key: partner, email: `${self}@example.com` }, program.apiKey)).body.data).toMatchObject({ pending_attribution: 3 });
      const before = received.length;
      const done = await api('POST', `/v1/partners/${partner}/reattribute`, {}, program.apiKey);
      expect(done.body.data.payments).toEqual([
        expect.objectContaining({ transaction_key: one, result: 'credited', reward: expect.objectContaining({ amount: 9.8, capped_from: null }) }),
        // 12 per customer: 9.8 earned, 2.2 left of the 6
        expect.objectContaining({ transaction_key: two, result: 'credited', reward: expect.objectContaining({ amount: 2.2, capped_from: '6' }) }),
        expect.objectContaining({ transaction_key: own, result: 'credited', reward: expect.objectContaining({ amount: 2, status: 'review_period', hold_reason: 'self_referral' }) }),
      ]);
      expect(await transaction(own, program.apiKey)).toMatchObject({ partner, rewards: [expect.objectContaining({ status: 'review_period', hold_reason: 'self_referral' })] });

      // announced: each transaction, as it is now (credited, with its reward), and each customer linked
      await waitFor(before + 5);
      const events = received.slice(before);
      const created = events.filter((e) => e.event === 'transaction.created');
      expect(created.map((e) => e.data.key).sort()).toEqual([one, two, own].sort());
      expect(created.find((e) => e.data.key === one)?.data).toMatchObject({ partner, rewards: [expect.objectContaining({ amount: 9.8 })] });
      expect(events.filter((e) => e.event === 'customer.updated').map((e) => e.data.key).sort()).toEqual([capped, self].sort());
    } finally {
      await new Promise((r) => sink.close(r));
    }
  });
});

describe('the reattribute command', () => {
  it('in a transaction-based program with a first-payment-only lifetime: a table, a summary, once', { timeout: 60_000 }, async () => {
    const s = randomBytes(3).toString('hex');
    const program = await createProgram(svc.db.db, { name: `Transaction-based ${s}`, attributionModel: 'transaction' });
    const patched = await api('PATCH', '/v1/program', { commission: { type: 'percent', value: '20', lifetime: { kind: 'first' } }, gateways: { stripe: { webhook_secrets: [STRIPE_SECRET] } } }, program.apiKey);
    expect(patched.status).toBe(200);
    const partner = `ptn_cli_${s}`;
    const customer = `cus_cli${s}`;
    const one = await pay(customer, partner, 4900, program.id);
    const two = await pay(customer, partner, 3000, program.id);
    expect(await transaction(one, program.apiKey)).toMatchObject({ partner: null, customer, attribution: { model: 'transaction', fallback: 'unknown_partner_key' } });
    expect((await api('POST', '/v1/partners', { key: partner }, program.apiKey)).body.data).toMatchObject({ pending_attribution: 2 });

    expect(await run([])).toMatchObject({ code: 2, stdout: expect.stringContaining('give --partner KEY, or --lookups') });
    expect(await run(['--partner', partner, '--from', 'soon'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--from') });
    expect(await run(['--partner', `nobody_${s}`, '--program', program.id])).toMatchObject({ code: 1, stderr: expect.stringContaining(`no partner "nobody_${s}"`) });

    const dry = await run(['--partner', partner, '--program', program.id, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('dry run (nothing is written)');
    expect(dry.stdout).toMatch(new RegExp(`transaction\\s+gateway\\s+paid at \\(UTC\\)\\s+amount\\s+customer\\s+result\\s+reward\\s+reason`));
    expect(dry.stdout).toMatch(new RegExp(`${one}\\s+stripe\\s+\\S+ \\S+\\s+49 USD\\s+stripe_${customer}__pkey_${partner}\\s+would_credit\\s+9.8 USD`));
    expect(dry.stdout).toMatch(new RegExp(`${two}\\s+stripe\\s+\\S+ \\S+\\s+30 USD\\s+stripe_${customer}__pkey_${partner}\\s+would_credit\\s+-\\s+lifetime_first_only`));
    expect(dry.stdout).toContain('2 payments waiting: would credit 2 (1 with a reward: 9.8 USD), skipped 0');
    expect(await transaction(one, program.apiKey)).toMatchObject({ partner: null });

    const done = await run(['--partner', partner, '--program', program.id]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('2 payments waiting: credited 2 (1 with a reward: 9.8 USD), skipped 0');
    // booked as a payment naming the partner would be now: through the payer's per-partner record
    expect(await transaction(one, program.apiKey)).toMatchObject({
      partner,
      customer: `stripe_${customer}__pkey_${partner}`,
      rewards: [expect.objectContaining({ amount: 9.8 })],
      attribution: { path: 'transaction', customer_match: 'created', fallback: null, reattributed_at: expect.any(String) },
    });
    expect(await transaction(two, program.apiKey)).toMatchObject({
      partner,
      rewards: [],
      attribution: { path: 'transaction', customer_match: 'per_partner_record', reward_reason: 'lifetime_first_only' },
    });
    const again = await run(['--partner', partner, '--program', program.id]);
    expect(again.stdout).toContain('0 payments waiting: credited 0 (0 with a reward), skipped 0');
    expect((await api('GET', `/v1/partners/${partner}`, undefined, program.apiKey)).body.data).toMatchObject({
      pending_attribution: 0,
      balance: [expect.objectContaining({ currency: 'USD', available: '9.8' })],
    });
  });

  it('--lookups: a Paddle renewal booked while PADDLE_API_KEY was unset is looked up again once it is set', { timeout: 60_000 }, async () => {
    const s = `la${randomBytes(3).toString('hex')}`;
    const partner = `ptn_delta_${s}`;
    const sub = fixtureJson<{ data: Record<string, unknown> }>('paddle', 'api/subscriptions.get.json').data;
    const customer = fixtureJson<{ data: Record<string, unknown> }>('paddle', 'api/customers.get.json').data;
    objects.set(`${sub.id}${s}`, { ...sub, id: `${sub.id}${s}`, custom_data: { partner_key: partner } });
    objects.set(`${customer.id}${s}`, { ...customer, id: `${customer.id}${s}`, email: `diego${s}@example.org` });
    const body = Buffer.from(
      fixture('paddle', 'transaction.paid.renewal.no_custom_data.json')
        .toString('utf8')
        .replace(/"((?:evt|ntf|txn|sub|ctm|txnitm)_[a-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`),
    );
    const ts = Math.floor(Date.now() / 1000);
    const signature = `ts=${ts};h1=${createHmac('sha256', PADDLE_SECRET).update(Buffer.concat([Buffer.from(`${ts}:`), body])).digest('hex')}`;
    expect((await svc.post('/webhooks/paddle', body, { 'paddle-signature': signature })).status).toBe(200);
    const eventId = (JSON.parse(body.toString()) as { event_id: string }).event_id;
    expect((await svc.settled('paddle', eventId)).status).toBe('processed');
    const key = `txn_01k0m3x5z7b9d1f3h5k7m9p1rt${s}`;
    expect(await transaction(key)).toMatchObject({
      partner: null,
      attribution: { partner_key: null, lookups: expect.arrayContaining([{ place: 'paddle_subscription_custom_data', id: `${sub.id}${s}`, result: 'not_configured' }]) },
    });
    expect((await api('POST', '/v1/partners', { key: partner })).body.data).toMatchObject({ pending_attribution: 0 });

    // GET /v1/integrations names the missing setting
    const paddleOf = async () => (await api('GET', '/v1/integrations')).body.data.gateways.find((g: { gateway: string }) => g.gateway === 'paddle');
    expect((await paddleOf()).lookups_not_configured).toMatchObject({ payments: 1, missing_setting: 'PADDLE_API_KEY', waiting: 1 });

    // still unset: said so, nothing changes
    const unset = await run(['--lookups', '--gateway', 'paddle']);
    expect(unset.code, unset.stderr).toBe(0);
    expect(unset.stdout).toContain('paddle: its API access is still not set');
    expect(unset.stdout).toContain('PADDLE_API_KEY');
    expect(unset.stdout).toContain('still not configured 1');

    expect((await api('PATCH', '/v1/program', { gateways: { paddle: { api_key: 'pdl_sdbx_apikey_reattribute' } } })).status).toBe(200);
    const integration = await paddleOf();
    expect(integration.lookups_not_configured).toMatchObject({ missing_setting: null, waiting: 1 });

    const dry = await run(['--lookups', '--gateway', 'paddle', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`${key} (paddle): partner key ${partner} (paddle_subscription_custom_data): would credit ${partner}`);
    expect(await transaction(key)).toMatchObject({ partner: null, attribution: { partner_key: null } });

    const done = await run(['--lookups', '--gateway', 'paddle']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('credited 1;');
    expect(await transaction(key)).toMatchObject({
      partner,
      rewards: [expect.objectContaining({ amount: 10.584, amount_units: 'USD' })],
      attribution: {
        partner_key: partner,
        partner_key_place: 'paddle_subscription_custom_data',
        credited: { kind: 'partner', key: partner },
        lookups: expect.arrayContaining([{ place: 'paddle_subscription_custom_data', id: `${sub.id}${s}`, result: 'found' }]),
        reattributed_at: expect.any(String),
      },
    });
    expect((await paddleOf()).lookups_not_configured).toMatchObject({ waiting: 0 });
    const again = await run(['--lookups', '--gateway', 'paddle']);
    expect(again.stdout).toContain('0 payments booked to nobody');
    expect(again.stdout).toContain('credited 0;');
  });
});
