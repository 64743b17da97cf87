// The queue dashboard in a real browser (headless Chromium through playwright-core): an ops engineer
// logs in, finds the job that failed while the Stripe API was down, reads why, brings nothing but a
// click, and the transaction appears through the REST API. A screenshot of the failed job is kept
// in test/artifacts/.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
// CI installs Chromium (.ci/run); anywhere it is missing the test fails, saying how to install it
// (a skip would pass with the dashboard untested)
const haveChromium = existsSync(CHROMIUM);
const NO_CHROMIUM = `the dashboard browser test needs Chromium at ${CHROMIUM}, and there is none: install it (apt-get install chromium)`;

const SECRET = 'whsec_browser_test';
const API_KEY = 'pl_browser_test_key';
const USER = 'ops';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;
let browser: Browser;

beforeAll(async () => {
  if (!haveChromium) return; // the test fails, with NO_CHROMIUM
  api = await fakeStripeApi(objects).start();
  svc = await startTestService(
    { STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_browser', STRIPE_API_BASE: api.url, API_KEY, DASHBOARD_USER: USER, DASHBOARD_PASSWORD: PASSWORD },
    // fail fast: two attempts 20 ms apart instead of ten over two hours
    { paymentJobs: { attempts: 2, backoffMs: 20 } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_browser');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await svc?.stop();
  await api?.stop();
});

async function apiGet(pathname: string) {
  const res = await fetch(`${svc.url}${pathname}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('queue dashboard in a browser', () => {
  it('shows the job that failed while Stripe was down, and its Retry button books the payment', async () => {
    if (!haveChromium) throw new Error(NO_CHROMIUM);
    // a payment whose partner key is only on the Stripe customer, delivered while Stripe answers 503
    const s = `b${randomBytes(3).toString('hex')}`;
    const text = fixture('stripe', 'charge.succeeded.2024-06-20.json')
      .toString('utf8')
      .replace(/"((?:evt|pi|ch|in)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`);
    const event = JSON.parse(text);
    Object.assign(event.data.object, { invoice: null, customer: `cus_browser${s}` });
    objects.set(`cus_browser${s}`, { id: `cus_browser${s}`, object: 'customer', email: 'b@example.com', metadata: { partner_key: 'ptn_browser' } });
    const body = JSON.stringify(event);
    const key: string = event.data.object.payment_intent;
    api.outage = 503;
    const header = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
    expect((await svc.post('/webhooks/stripe', body, { 'stripe-signature': header })).status).toBe(200);
    expect((await svc.settled('stripe', event.id)).status).toBe('failed');
    expect((await apiGet(`/v1/transactions/${key}`)).status).toBe(404);

    // log in with HTTP Basic credentials and open the failed jobs of payment-events
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport: { width: 1400, height: 1000 } });
    // this machine talks to itself only: anything the page asks of another host is refused
    await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      await page.goto(`${svc.url}/admin/queues/queue/payment-events?status=failed`);
      const card = page.locator('div[class*="card"]', { hasText: event.id }).last();
      await card.waitFor({ timeout: 15_000 });
      // what it is and why it failed, in words
      await expect.poll(() => card.innerText(), { timeout: 10_000 }).toContain('stripe charge.succeeded');
      await expect.poll(() => card.innerText(), { timeout: 10_000 }).toContain(`partner lookup: Stripe API 503 on GET /v1/customers/cus_browser${s} (after 2 attempts)`);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-failed-job.png'), fullPage: true });
      // its data: gateway, event, program, transaction key
      await card.getByRole('tab', { name: 'Data' }).click();
      for (const text of ['summary', 'gateway:"stripe"', `eventId:"${event.id}"`, 'eventType:"charge.succeeded"', `programId:"${svc.programId}"`, `transactionKey:"${key}"`, `facts:"payment ${key} 29.00 USD`]) {
        await expect.poll(() => card.innerText(), { message: text, timeout: 10_000 }).toContain(text);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-failed-job-data.png'), fullPage: true });

      // Stripe is back: the job's Retry button
      api.outage = null;
      await card.locator('button:has(svg.lucide-refresh-cw)').first().click();
      await page.getByText('Are you sure that you want to retry this job?').waitFor();
      await page.getByRole('button', { name: 'Confirm' }).click();
      await expect
        .poll(async () => (await apiGet(`/v1/transactions/${key}`)).status, { timeout: 15_000, interval: 100 })
        .toBe(200);
      const t = (await apiGet(`/v1/transactions/${key}`)).body.data;
      expect(t).toMatchObject({ key, partner: 'ptn_browser' });
      expect((await svc.settled('stripe', event.id)).status).toBe('processed');
      // and the dashboard shows it completed
      await page.goto(`${svc.url}/admin/queues/queue/payment-events?status=completed`);
      await page.locator('div[class*="card"]', { hasText: event.id }).last().waitFor({ timeout: 15_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-after-retry.png'), fullPage: true });
      expect(problems.filter((p) => !/fonts\.googleapis|ERR_FAILED|Content Security Policy.*font/i.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
