// Stripe keeps 30 days of events: reconcile over an older range reads the charges, refunds and
// disputes instead, makes each into the event its webhook carried, and books them through the
// webhook's path. A payment a real webhook delivered (under its own event id) is recognised by its
// object, and a second run books nothing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disputes, refunds, transactions, webhookEvents } from '../../src/db/schema.js';
import { fakeStripeListsApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { gatewayEnv, signedHeaders } from '../support/deliveries.js';
import { fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const DAY = 86_400;
const day = (daysAgo: number) => new Date((Math.floor(Date.now() / 1000 / DAY) - daysAgo) * DAY * 1000).toISOString().slice(0, 10);
// sixty days ago: far outside Stripe's event retention
const AT = (Math.floor(Date.now() / 1000 / DAY) - 60) * DAY + 3600;

// pi_1 (paid 49.00 USD, partner ptn_orbit_7f3k) reached us by webhook; pi_2 (29.00 USD) never did,
// nor did a 15.00 refund of pi_1 and a dispute opened on it
const delivered = fixtureJson('stripe', 'payment_intent.succeeded.json') as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const pi1 = { ...delivered.data.object, created: AT };
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const charge = fixtureJson('stripe', 'charge.succeeded.2024-06-20.json').data as { object: Obj };
const ch2: Obj = { ...charge.object, created: AT + 60 };
// another buyer (another customer and email), crediting another partner
const pi2: Obj = { ...pi1, id: ch2.payment_intent, amount: 2900, amount_received: 2900, latest_charge: ch2.id, customer: ch2.customer, receipt_email: 'sam.doe@example.com', metadata: { partner_key: 'ptn_nova_22bd' }, created: AT + 60 };
const ch1 = { ...charge.object, id: pi1.latest_charge, payment_intent: pi1.id, amount: 4900, amount_captured: 4900, customer: pi1.customer, created: AT };
const failed = { ...charge.object, id: 'ch_failed0000000000000001', status: 'failed', payment_intent: null, created: AT + 120 };
const refund: Obj = { ...(fixtureJson('stripe', 'refund.created.json').data as { object: Obj }).object, created: AT + 3600 };
const dispute: Obj = { ...(fixtureJson('stripe', 'charge.dispute.created.json').data as { object: Obj }).object, created: AT + 7200 };

let api: FakeGatewayApi;
let svc: TestService;

beforeAll(async () => {
  api = await fakeStripeListsApi(
    { events: [], charges: [ch1, ch2, failed], refunds: [refund], disputes: [dispute] },
    new Map([
      [pi1.id as string, pi1],
      [pi2.id as string, pi2],
    ]),
  ).start();
  svc = await startTestService({ ...gatewayEnv(), STRIPE_API_KEY: 'sk_test_objects', STRIPE_API_BASE: api.url });
  for (const key of ['ptn_orbit_7f3k', 'ptn_nova_22bd']) await createPartner(svc.db.db, svc.programId, key);
  const body = Buffer.from(JSON.stringify({ ...delivered, created: AT, data: { object: pi1 } }));
  expect((await svc.post('/webhooks/stripe', body, signedHeaders('stripe', body))).status).toBe(200);
  await svc.settled('stripe', delivered.id as string);
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'reconcile', ...args], {
    env: {
      ...process.env,
      DATABASE_URL: svc.db.url,
      REDIS_URL: svc.service.config.REDIS_URL,
      QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
      STRIPE_API_BASE: api.url,
      LOG_LEVEL: 'silent',
    },
  });
const stripeRows = () => svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.gateway, 'stripe')));

describe('reconcile --gateway stripe older than 30 days', () => {
  it('reads charges, refunds and disputes, books what no webhook delivered once, and a second run nothing', { timeout: 90_000 }, async () => {
    const first = await run(['--gateway', 'stripe', '--from', day(61), '--to', day(50)]);
    expect(first.stdout).toContain('is read from its charges, refunds and disputes instead');
    expect(first.stdout).toMatch(/^stripe: \d+ pages, 4 found, 3 missing, 3 queued/m);
    expect(api.requests.map((r) => r.path)).toEqual(expect.arrayContaining(['/v1/charges', '/v1/refunds', '/v1/disputes']));
    expect(api.requests.some((r) => r.path === '/v1/events')).toBe(false);

    const made = ['evt_pl_payment_intent.succeeded_' + pi2.id, 'evt_pl_refund.created_' + refund.id, `evt_pl_charge.dispute.created_${dispute.id}_opened`];
    for (const id of made) expect((await svc.settled('stripe', id)).status, id).toBe('processed');
    // pi_1's charge was recognised by its object: no second inbox row for it
    expect((await stripeRows()).map((r) => r.eventId).sort()).toEqual([delivered.id, ...made].sort());

    const keys = (await svc.db.db.select().from(transactions).where(eq(transactions.programId, svc.programId))).map((t) => t.key).sort();
    expect(keys).toEqual([pi1.id, pi2.id].sort());
    expect(await stored(svc.db.db, svc.programId, pi2.id as string)).toMatchObject({ partnerKey: 'ptn_nova_22bd', amountMinor: 2900n });
    expect((await stored(svc.db.db, svc.programId, pi1.id as string))?.refundedMinor).toBe(1500n);
    expect(await svc.db.db.select({ id: refunds.refundId }).from(refunds).where(eq(refunds.programId, svc.programId))).toEqual([{ id: refund.id }]);
    expect(await svc.db.db.select({ id: disputes.disputeId, status: disputes.status }).from(disputes)).toEqual([{ id: dispute.id, status: 'opened' }]);

    const second = await run(['--gateway', 'stripe', '--from', day(61), '--to', day(50)]);
    expect(second.stdout).toMatch(/^stripe: \d+ pages, 4 found, 0 missing, 0 queued/m);
    expect(await stripeRows()).toHaveLength(4);
    expect(await svc.db.db.select().from(transactions).where(eq(transactions.programId, svc.programId))).toHaveLength(2);
  });
});
