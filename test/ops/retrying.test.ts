// Events waiting for their next attempt are visible where people look: a Stripe API that answers 500
// leaves a payment job delayed between attempts; GET /v1/integrations shows it with its last error,
// `replay --status retrying` lists it (and with --retry-now runs it now), and /metrics counts it.
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/command.js';
import { replayCommand } from '../../src/cli/replay.js';
import { webhookEvents } from '../../src/db/schema.js';
import { paymentJobId } from '../../src/queue/queues.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_retrying_test';
const API_KEY = 'pl_retrying_test_key';
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;
const s = randomBytes(3).toString('hex');
const customer = `cus_retry${s}`;
let eventId: string;

async function integrations(): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${svc.url}/v1/integrations`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: unknown }).data;
}
async function gauge(): Promise<string[]> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('partner_ledger_events_retrying{'));
}
async function cli(...args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const ctx: CliContext = { config: svc.service.config, database: svc.db, args, out: (l) => lines.push(l) };
  const code = await replayCommand.run(ctx);
  return { code, text: lines.join('\n') };
}

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  // 5 attempts, the next one 10 minutes after the first failure: the job waits, delayed, through the test
  svc = await startTestService(
    { STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_retrying', STRIPE_API_BASE: api.url, API_KEY },
    { paymentJobs: { attempts: 5, backoffMs: 600_000 } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_retry');
  objects.set(customer, { id: customer, object: 'customer', email: 'r@example.com', metadata: { partner_key: 'ptn_retry' } });
  eventId = await deliverDuringOutage(s);
});

/** A charge whose partner key is on the Stripe customer, delivered while the Stripe API answers 500: its job waits, delayed. */
async function deliverDuringOutage(suffix: string): Promise<string> {
  api.outage = 500;
  const text = fixture('stripe', 'charge.succeeded.2024-06-20.json')
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in|re|dp|sub|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  Object.assign(event.data.object, { invoice: null, customer });
  const body = JSON.stringify(event);
  const res = await svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET }) });
  expect(res.status).toBe(200);
  // the first attempt failed and the job waits for its second
  const job = await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', event.id));
  for (let i = 0; (await job!.getState()) !== 'delayed'; i++) {
    if (i > 400) throw new Error(`the job is ${await job!.getState()}, not delayed`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return event.id as string;
}
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('an event waiting for its next attempt', () => {
  const reason = `partner lookup: Stripe API 500 on GET /v1/customers/${customer}`;

  it('is shown by GET /v1/integrations with its last error, and warned about', async () => {
    const data = await integrations();
    const stripeStatus = data.gateways.find((g: { gateway: string }) => g.gateway === 'stripe');
    expect(stripeStatus.last_24h).toMatchObject({ pending: 1, failed: 0 });
    expect(stripeStatus.retrying).toEqual({
      count: 1,
      oldest_at: expect.stringMatching(/Z$/),
      last_error: reason,
      examples: [{ event_id: eventId, event_type: 'charge.succeeded', attempts: 1, last_error: reason, received_at: expect.stringMatching(/Z$/) }],
    });
    expect(data.gateways.find((g: { gateway: string }) => g.gateway === 'paddle').retrying).toEqual({ count: 0, oldest_at: null, last_error: null, examples: [] });
    expect(data.warnings).toContainEqual(expect.stringContaining(`stripe: 1 event waiting to be retried (last error: ${reason})`));
  });

  it('is counted by partner_ledger_events_retrying', async () => {
    expect(await gauge()).toEqual(expect.arrayContaining(['partner_ledger_events_retrying{gateway="stripe"} 1', 'partner_ledger_events_retrying{gateway="paddle"} 0']));
  });

  it('is pointed at by a replay of failed events, and listed by replay --status retrying without running it', async () => {
    const dry = await cli('--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.text).toContain('1 more event is waiting to be retried (not failed yet): replay --status retrying lists them');

    const listed = await cli('--status', 'retrying');
    expect(listed.code).toBe(0);
    expect(listed.text).toContain('replaying events waiting to be retried from every gateway of every program');
    expect(listed.text).toContain(`stripe ${eventId} charge.succeeded [queued: ${reason}]`);
    expect(listed.text).toMatch(/→ 1 of 5 attempts failed; next attempt in about (9|10) min \(--retry-now runs it now\)/);
    expect(listed.text).toContain('1 events waiting to be retried: 0 retried now, 1 left to their next attempt');
    const job = await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', eventId));
    expect(await job!.getState()).toBe('delayed');

    expect((await cli('--retry-now')).code).toBe(2); // only with --status retrying
  });

  it('runs now with --retry-now once the gateway API is back, and is no longer shown', async () => {
    api.outage = null;
    const run = await cli('--status', 'retrying', '--retry-now', '--gateway', 'stripe');
    expect(run.code).toBe(0);
    expect(run.text).toContain('→ retried now (1 of 5 attempts failed)');
    const row = await svc.settled('stripe', eventId);
    expect(row).toMatchObject({ status: 'processed', lastError: null, attempts: 2 });

    const stripeStatus = (await integrations()).gateways.find((g: { gateway: string }) => g.gateway === 'stripe');
    expect(stripeStatus.retrying.count).toBe(0);
    expect(stripeStatus.last_24h).toMatchObject({ processed: 1, pending: 0 });
    expect(await gauge()).toContain('partner_ledger_events_retrying{gateway="stripe"} 0');
    const [stored] = await svc.db.db
      .select({ status: webhookEvents.status })
      .from(webhookEvents)
      .where(and(eq(webhookEvents.gateway, 'stripe'), eq(webhookEvents.eventId, eventId)));
    expect(stored!.status).toBe('processed');
  });

  it('whose job the queue lost is said so, and queued again by --retry-now', async () => {
    const lost = await deliverDuringOutage(`l${s}`);
    await (await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', lost)))!.remove();
    const listed = await cli('--status', 'retrying');
    expect(listed.code).toBe(0);
    expect(listed.text).toContain(`stripe ${lost} charge.succeeded [queued: ${reason}]\n  → its job is gone from the queue: --retry-now queues it again`);

    api.outage = null;
    const run = await cli('--status', 'retrying', '--retry-now');
    expect(run.code).toBe(0);
    expect(run.text).toMatch(/1 events: 1 queued, 0 already in the queue, 0 ignored, 0 unreadable \(/);
    expect(await svc.settled('stripe', lost)).toMatchObject({ status: 'processed', lastError: null });
  });
});
