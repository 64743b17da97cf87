// The queue dashboard over HTTP: closed until configured, HTTP Basic only, every queue listed, failed
// jobs named and summarised, kept for the retention, and retried for real (and harmlessly twice).
import { randomBytes } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import Stripe from 'stripe';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicCredentials, sameText } from '../../src/gateways/signing.js';
import { dashboardAuth } from '../../src/http/dashboard.js';
import { PAYMENT_EVENTS_QUEUE, QUEUE_NAMES, paymentJobId } from '../../src/queue/queues.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { count, createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import { sweepInbox } from '../../src/worker/sweeper.js';
import { replayCommand } from '../../src/cli/replay.js';

const SECRET = 'whsec_dashboard_test';
const API_KEY = 'pl_dashboard_test_key';
const USER = 'ops';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;
let closed: TestService;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const auth = { authorization: basic(USER, PASSWORD) };

/** A charge whose partner key lives only on the Stripe customer: the worker must call the API. */
function chargeNeedingLookup(suffix: string): { body: Buffer; eventId: string; key: string } {
  const text = fixture('stripe', 'charge.succeeded.2024-06-20.json')
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  event.data.object.invoice = null;
  event.data.object.customer = `cus_dash${suffix}`;
  event.data.object.billing_details.email = null;
  event.data.object.receipt_email = null;
  objects.set(`cus_dash${suffix}`, { id: `cus_dash${suffix}`, object: 'customer', email: `d${suffix}@example.com`, metadata: { partner_key: 'ptn_dash' } });
  return { body: Buffer.from(JSON.stringify(event)), eventId: event.id, key: event.data.object.payment_intent };
}

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  svc = await startTestService(
    {
      STRIPE_WEBHOOK_SECRET: SECRET,
      STRIPE_API_KEY: 'sk_test_dash',
      STRIPE_API_BASE: api.url,
      API_KEY,
      DASHBOARD_USER: USER,
      DASHBOARD_PASSWORD: PASSWORD,
      FAILED_JOB_RETENTION_DAYS: '3',
    },
    { paymentJobs: { attempts: 2, backoffMs: 20 } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_dash');
  closed = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
  await closed?.stop();
  await api?.stop();
});

describe('dashboard access', () => {
  it('is closed (401, no browser prompt) until DASHBOARD_USER and DASHBOARD_PASSWORD are set', async () => {
    const res = await fetch(`${closed.url}/admin/queues`, { headers: { authorization: basic('anyone', 'anything') } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(await res.json()).toMatchObject({ error: { code: 'dashboard_closed' } });
  });

  it('asks for HTTP Basic credentials and refuses wrong ones and program API keys', async () => {
    const none = await fetch(`${svc.url}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    for (const authorization of [basic(USER, 'wrong'), basic('root', PASSWORD), `Bearer ${API_KEY}`, `Basic ${Buffer.from(API_KEY).toString('base64')}`]) {
      const res = await fetch(`${svc.url}/admin/queues/api/queues`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
    }
    const page = await fetch(`${svc.url}/admin/queues`, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Partner Ledger queues');
  });

  it('refuses cross-site actions even with the browser-sent credentials', async () => {
    const res = await fetch(`${svc.url}/admin/queues/api/queues/${PAYMENT_EVENTS_QUEUE}/retry/failed`, {
      method: 'PUT',
      headers: { ...auth, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(res.status).toBe(403);
  });

  it('lists every queue named in src/queue/queues.ts', async () => {
    const res = await fetch(`${svc.url}/admin/queues/api/queues?activeQueue=${PAYMENT_EVENTS_QUEUE}`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...QUEUE_NAMES].sort());
    expect(QUEUE_NAMES).toEqual(expect.arrayContaining(['payment-events', 'bulk-runs', 'callbacks', 'maintenance']));
  });

  it('limits failed logins per client address: after 10 in a minute, 429 with Retry-After, the right password included', async () => {
    // the app trusts loopback proxies: X-Forwarded-For stands for distinct client addresses here
    const from = (address: string, authorization?: string) =>
      fetch(`${svc.url}/admin/queues/api/queues`, { headers: { 'x-forwarded-for': address, ...(authorization ? { authorization } : {}) } });
    const attacker = '203.0.113.10';
    for (let i = 0; i < 10; i++) expect((await from(attacker, basic(USER, `guess-${i}`))).status, `guess ${i}`).toBe(401);
    for (const authorization of [basic(USER, 'guess-10'), auth.authorization, undefined]) {
      const limited = await from(attacker, authorization);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(limited.headers.get('www-authenticate')).toBeNull();
      expect(await limited.json()).toMatchObject({ status: 0, error: { code: 'too_many_attempts' } });
    }
    // another address is not affected
    expect((await from('203.0.113.11', auth.authorization)).status).toBe(200);
    // successful logins and requests without credentials do not count: 9 failures among them stay below the limit
    const operator = '203.0.113.12';
    for (let i = 0; i < 9; i++) {
      expect((await from(operator, basic(USER, 'typo'))).status).toBe(401);
      expect((await from(operator, auth.authorization)).status).toBe(200);
      expect((await from(operator)).status).toBe(401);
    }
    expect((await from(operator, auth.authorization)).status).toBe(200);
  });

  it('the limit is per minute: a limited address may try again once its minute is over', async () => {
    let now = Date.parse('2026-11-01T10:00:00Z');
    const app = express();
    app.set('trust proxy', 'loopback');
    app.use(dashboardAuth(USER, PASSWORD, { now: () => now }), (_req, res) => {
      res.json({ ok: true });
    });
    const get = (authorization: string) => request(app).get('/').set('authorization', authorization);
    for (let i = 0; i < 10; i++) {
      expect((await get(basic(USER, 'wrong'))).status).toBe(401);
      now += 1000;
    }
    // 10 s into the minute that began with the first failure: 50 s left
    const limited = await get(auth.authorization);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('50');
    now += 49_000;
    expect((await get(auth.authorization)).status).toBe(429);
    now += 1000;
    expect((await get(auth.authorization)).status).toBe(200);
  });

  it('helpers: Basic header parsing and a constant-time compare', () => {
    expect(basicCredentials(basic('a', 'b:c'))).toEqual({ user: 'a', password: 'b:c' });
    expect(basicCredentials('Bearer x')).toBeNull();
    expect(basicCredentials(undefined)).toBeNull();
    expect(sameText('same', 'same')).toBe(true);
    expect(sameText('same', 'same but longer')).toBe(false);
    expect(typeof dashboardAuth(undefined, undefined)).toBe('function');
  });
});

describe('failed jobs in the dashboard', () => {
  it('a job failed because the Stripe API was down is named, summarised, kept, and a retry books it once', async () => {
    const s = `d${randomBytes(3).toString('hex')}`;
    const { body, eventId, key } = chargeNeedingLookup(s);
    api.outage = 503;
    const res = await svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: SECRET }) });
    expect(res.status).toBe(200);
    const failedRow = await svc.settled('stripe', eventId);
    expect(failedRow.status).toBe('failed');
    expect(failedRow.lastError).toMatch(/^partner lookup: Stripe API 503 on GET \/v1\/customers\/cus_dash\w+ \(after 2 attempts\)$/);

    // what the dashboard shows for it
    const list = await fetch(`${svc.url}/admin/queues/api/queues?activeQueue=${PAYMENT_EVENTS_QUEUE}&status=failed&page=1`, { headers: auth });
    const queues = ((await list.json()) as { queues: { name: string; jobs: any[] }[] }).queues; // eslint-disable-line @typescript-eslint/no-explicit-any
    const job = queues.find((q) => q.name === PAYMENT_EVENTS_QUEUE)!.jobs.find((j) => j.data?.summary?.eventId === eventId);
    expect(job).toBeDefined();
    expect(job.name).toBe('stripe charge.succeeded');
    expect(job.data.summary).toEqual({
      gateway: 'stripe',
      eventType: 'charge.succeeded',
      eventId,
      programId: svc.programId,
      transactionKey: key,
      facts: `payment ${key} 29.00 USD (partner_key to look up on customer cus_dash${s})`,
    });
    expect(job.failedReason).toBe(failedRow.lastError);
    // kept for FAILED_JOB_RETENTION_DAYS=3, not removed
    expect(job.opts.removeOnFail).toEqual({ age: 3 * 86_400 });
    expect(await stored(svc.db.db, svc.programId, key)).toBeNull();

    // the API is back: retry from the dashboard (its own API, as its Retry button calls it)
    api.outage = null;
    const events = new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: { url: TEST_REDIS_URL }, prefix: svc.service.config.QUEUE_PREFIX });
    await events.waitUntilReady();
    try {
      const retry = await fetch(`${svc.url}/admin/queues/api/queues/${PAYMENT_EVENTS_QUEUE}/${encodeURIComponent(job.id)}/retry`, { method: 'PUT', headers: auth });
      expect(retry.status).toBe(204);
      await (await svc.service.producer!.queue.getJob(job.id))!.waitUntilFinished(events, 10_000);
      const t = await stored(svc.db.db, svc.programId, key);
      expect(t?.partnerKey).toBe('ptn_dash');
      expect(t?.rewards.map((r) => r.amount)).toEqual(['5.8']);
      expect((await svc.settled('stripe', eventId)).status).toBe('processed');

      // retried again after it succeeded: nothing changes
      const before = await count(svc.db.db, transactions, svc.programId);
      const again = await fetch(`${svc.url}/admin/queues/api/queues/${PAYMENT_EVENTS_QUEUE}/${encodeURIComponent(job.id)}/retry`, { method: 'PUT', headers: auth });
      expect(again.status).toBe(204);
      const outcome = await (await svc.service.producer!.queue.getJob(job.id))!.waitUntilFinished(events, 10_000);
      expect(outcome).toEqual([{ kind: 'payment', result: 'merged', transactionKey: key, rewards: 0, reason: null }]);
      expect(await count(svc.db.db, transactions, svc.programId)).toBe(before);
      expect((await stored(svc.db.db, svc.programId, key))?.rewards).toHaveLength(1);
    } finally {
      await events.close();
    }
  });

  it('"Retry all" re-runs every failed job', async () => {
    api.outage = 503;
    const made = [chargeNeedingLookup(`r${randomBytes(3).toString('hex')}`), chargeNeedingLookup(`r${randomBytes(3).toString('hex')}`)];
    for (const m of made) {
      await svc.post('/webhooks/stripe', m.body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: m.body.toString(), secret: SECRET }) });
      expect((await svc.settled('stripe', m.eventId)).status).toBe('failed');
    }
    api.outage = null;
    const res = await fetch(`${svc.url}/admin/queues/api/queues/${PAYMENT_EVENTS_QUEUE}/retry/failed`, { method: 'PUT', headers: auth });
    expect(res.status).toBe(200);
    for (const m of made) {
      await expect.poll(async () => (await stored(svc.db.db, svc.programId, m.key))?.partnerKey, { timeout: 10_000 }).toBe('ptn_dash');
    }
    expect(await svc.service.producer!.queue.getJobCounts('failed')).toEqual({ failed: 0 });
  });

  it('a delivery with bad data is in the failed set with its reason, failed once, and listed by replay', async () => {
    const s = randomBytes(3).toString('hex');
    const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8').replace(/"((?:evt|pi|ch)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`));
    event.data.object.currency = 'zzz';
    const body = JSON.stringify(event);
    const reason = 'payload: unknown currency code "zzz"';
    const res = await svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET }) });
    // answered 2xx (a gateway retrying it for days would change nothing), kept as failed with the reason
    expect(res).toEqual({ status: 200, body: { received: true, status: 'failed', reason } });
    expect(await svc.settled('stripe', event.id)).toMatchObject({ status: 'failed', lastError: reason });

    const failedJob = async () => {
      const list = await fetch(`${svc.url}/admin/queues/api/queues?activeQueue=${PAYMENT_EVENTS_QUEUE}&status=failed&page=1`, { headers: auth });
      const queues = ((await list.json()) as { queues: { name: string; jobs: any[] }[] }).queues; // eslint-disable-line @typescript-eslint/no-explicit-any
      return queues.find((q) => q.name === PAYMENT_EVENTS_QUEUE)!.jobs.find((j) => j.data?.summary?.eventId === event.id);
    };
    await expect.poll(failedJob, { timeout: 10_000, interval: 100 }).toBeDefined();
    const job = await failedJob();
    expect(job.name).toBe('stripe payment_intent.succeeded');
    expect(job.failedReason).toBe(reason);
    expect(job.data.summary.facts).toBe(`unreadable: ${reason}`);
    // failed for good at its first attempt, though payment jobs have 2 here
    const stored = await svc.service.producer!.queue.getJob(job.id);
    expect({ attemptsMade: stored!.attemptsMade, attempts: stored!.opts.attempts }).toEqual({ attemptsMade: 1, attempts: 2 });

    const lines: string[] = [];
    const code = await replayCommand.run({ config: svc.service.config, database: svc.db, args: ['--status', 'failed', '--dry-run'], out: (l) => lines.push(l) });
    expect(code).toBe(0);
    expect(lines.join('\n')).toContain(`stripe ${event.id} payment_intent.succeeded [failed: ${reason}]`);
  });

  it('a delivery with bad data kept while Redis was down reaches the failed set when the sweeper reads it', async () => {
    const s = randomBytes(3).toString('hex');
    const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8').replace(/"((?:evt|pi|ch)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`));
    event.data.object.currency = 'zzz';
    // stored as received (the queue was down when it came), never normalized since
    await svc.db.db.insert(webhookEvents).values({ programId: svc.programId, gateway: 'stripe', eventId: event.id, eventType: event.type, rawBody: JSON.stringify(event), status: 'received' });
    // (a second ahead: the row's received_at has microseconds, the sweeper's clock milliseconds)
    const swept = await sweepInbox(svc.db.db, svc.service.producer!, { olderThanSeconds: 0, now: new Date(Date.now() + 1000) });
    expect(swept).toMatchObject({ failed: 1, requeued: 0 });
    expect(await svc.settled('stripe', event.id)).toMatchObject({ status: 'failed', lastError: 'payload: unknown currency code "zzz"' });
    const job = await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', event.id));
    await expect.poll(async () => job!.getState(), { timeout: 10_000, interval: 100 }).toBe('failed');
    expect((await svc.service.producer!.queue.getJob(job!.id!))!.failedReason).toBe('payload: unknown currency code "zzz"');
  });
});
