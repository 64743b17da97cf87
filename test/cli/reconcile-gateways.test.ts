// Reconcile for the gateways that list their events: Stripe (`events.list`), Paddle (the event
// stream) and Chargebee (`event.list`), each read through its official SDK pointed at a local fake of
// its API. One event of each arrived by webhook; the others only the gateway's list holds. Those are
// queued as webhooks would be (source: reconcile) and booked by the worker; a second run queues
// nothing; --dry-run writes nothing; a 429 with Retry-After is waited out.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programs, transactions, webhookEvents } from '../../src/db/schema.js';
import { RequestPacer, retryAfterMs } from '../../src/gateways/event-source.js';
import { apiBasesFrom } from '../../src/gateways/settings.js';
import { eventSourceFor } from '../../src/cli/reconcile.js';
import { eventsSummaryLines, reconcileEvents } from '../../src/worker/reconcile-events.js';
import { chargebeeRateLimited, fakeChargebeeEventsApi } from '../support/fake-chargebee-api.js';
import { fakeStripeEventsApi, stripeRateLimited, type FakeGatewayApi, type FakeResponse } from '../support/fake-gateway-api.js';
import { fakePaddleNotificationsApi, paddleRateLimited } from '../support/fake-paddle-api.js';
import { gatewayEnv, signedHeaders, type GatewayName } from '../support/deliveries.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

type Case = {
  gateway: Exclude<GatewayName, 'woocommerce'>;
  /** Delivered by webhook before reconcile runs. */
  delivered: string;
  /** Only in the gateway's list (booked types). */
  listed: string[];
  /** In the list but of a type the receiver does not book: never asked for. */
  other: string;
  from: Date;
  to: Date;
  rateLimited: (seconds: number) => FakeResponse;
  /** The partner a listed-only event credits. */
  booked: { partnerKey: string };
};

// Stripe lists events of the last 30 days only (older ranges are read from the objects, tested in
// reconcile-stripe-objects.test.ts): its events here occurred in the last ten days
const STRIPE_FROM = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 10 * 86_400_000);
const recent = (gateway: string, e: Record<string, unknown>, i: number) =>
  gateway === 'stripe' ? { ...e, created: STRIPE_FROM.getTime() / 1000 + 3600 * (i + 1) } : e;

const CASES: Case[] = [
  {
    gateway: 'stripe',
    delivered: 'payment_intent.succeeded.json',
    listed: ['checkout.session.completed.payment.json', 'payment_intent.succeeded.krw.json'],
    other: 'payment_method.attached.ignore.json',
    from: STRIPE_FROM,
    to: new Date(STRIPE_FROM.getTime() + 11 * 86_400_000),
    rateLimited: stripeRateLimited,
    booked: { partnerKey: 'ptn_seoul_91ac' },
  },
  {
    gateway: 'paddle',
    delivered: 'transaction.completed.json',
    listed: ['transaction.completed.jpy.json', 'transaction.paid.json'],
    other: 'customer.updated.ignore.json',
    from: new Date('2025-07-01T00:00:00Z'),
    to: new Date('2025-09-01T00:00:00Z'),
    rateLimited: paddleRateLimited,
    booked: { partnerKey: 'ptn_seoul_91ac' },
  },
  {
    gateway: 'chargebee',
    delivered: 'payment_succeeded.cf_partnero_partner.json',
    listed: ['payment_succeeded.jpy.json', 'payment_succeeded.cf_referral_code.json'],
    other: 'customer_changed.ignore.json',
    from: new Date('2025-08-01T00:00:00Z'),
    to: new Date('2025-09-01T00:00:00Z'),
    rateLimited: chargebeeRateLimited,
    booked: { partnerKey: 'ptn_seoul_91ac' },
  },
];

const idOf = (gateway: string, e: Record<string, unknown>) => String(gateway === 'paddle' ? e.event_id : e.id);

const apis = new Map<string, FakeGatewayApi>();
let svc: TestService;
const noSleep = { rps: 1000 };

const rows = (gateway: string) =>
  svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.gateway, gateway)));
const booked = (gateway: string) =>
  svc.db.db.select().from(transactions).where(and(eq(transactions.programId, svc.programId), eq(transactions.gateway, gateway)));

async function sourceOf(gateway: Case['gateway'], pacer: RequestPacer) {
  const [program] = await svc.db.db.select().from(programs).where(eq(programs.id, svc.programId));
  return eventSourceFor(gateway, program!.gateways, apiBasesFrom(svc.service.config), pacer)!;
}

beforeAll(async () => {
  for (const c of CASES) {
    const events = [c.delivered, ...c.listed, c.other].map((f, i) => recent(c.gateway, fixtureJson(c.gateway, f), i));
    const api =
      c.gateway === 'stripe'
        ? fakeStripeEventsApi(events)
        : c.gateway === 'paddle'
          ? fakePaddleNotificationsApi(events, { settings: [], notifications: [], replayed: [] })
          : fakeChargebeeEventsApi(events);
    apis.set(c.gateway, await api.start());
  }
  svc = await startTestService({
    ...gatewayEnv(),
    STRIPE_API_KEY: 'sk_test_reconcile',
    STRIPE_API_BASE: apis.get('stripe')!.url,
    PADDLE_API_KEY: 'pdl_sdbx_apikey_reconcile',
    PADDLE_API_BASE: apis.get('paddle')!.url,
    CHARGEBEE_SITE: 'acme-test',
    CHARGEBEE_API_KEY: 'test_cb_reconcile',
    CHARGEBEE_API_BASE: apis.get('chargebee')!.url,
  });
  await createPartner(svc.db.db, svc.programId, 'ptn_orbit_7f3k');
  await createPartner(svc.db.db, svc.programId, 'ptn_seoul_91ac');
  await createPartner(svc.db.db, svc.programId, 'ptn_nova_22bd', { referralCode: 'NOVA-22BD' });
  for (const c of CASES) {
    const body = fixture(c.gateway, c.delivered);
    const res = await svc.post(`/webhooks/${c.gateway}`, body, signedHeaders(c.gateway, body));
    expect(res.status, c.gateway).toBe(200);
    await svc.settled(c.gateway, idOf(c.gateway, JSON.parse(body.toString())));
  }
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  for (const api of apis.values()) await api.stop();
});

describe.each(CASES)('reconcile --gateway $gateway', (c) => {
  const listedIds = c.listed.map((f) => idOf(c.gateway, fixtureJson(c.gateway, f)));

  it('--dry-run lists what it would queue and writes nothing', async () => {
    const before = { rows: (await rows(c.gateway)).length, booked: (await booked(c.gateway)).length };
    const lines: string[] = [];
    const source = await sourceOf(c.gateway, new RequestPacer(noSleep));
    const s = await reconcileEvents({ db: svc.db.db, source, out: (l) => lines.push(l) }, { program: { id: svc.programId, livemode: null }, from: c.from, to: c.to, dryRun: true });
    expect(s).toMatchObject({ dryRun: true, found: 3, missing: 2, queued: 2, failed: 0 });
    for (const id of listedIds) expect(lines.some((l) => l.startsWith('  would queue ') && l.includes(id)), id).toBe(true);
    expect(lines.filter((l) => l.startsWith('page '))).toEqual(['page 1: 3 found, 2 missing, 2 would be queued']);
    expect(eventsSummaryLines(s).at(-1)).toMatch(new RegExp(`^dry run, nothing written: ${c.gateway}: 1 pages, 3 found, 2 missing, 2 would be queued`));
    expect((await rows(c.gateway)).length).toBe(before.rows);
    expect((await booked(c.gateway)).length).toBe(before.booked);
  });

  it('asks the gateway for the booked event types of the range, page by page', async () => {
    const api = apis.get(c.gateway)!;
    api.requests.length = 0;
    const source = await sourceOf(c.gateway, new RequestPacer(noSleep));
    // one event a page: the cursor is followed to the end
    (source as unknown as { pageSize: number }).pageSize = 1;
    const s = await reconcileEvents({ db: svc.db.db, source, out: () => {} }, { program: { id: svc.programId, livemode: null }, from: c.from, to: c.to, dryRun: true });
    expect(s.found).toBe(3);
    expect(s.pages).toBeGreaterThanOrEqual(3);
    // (Paddle: its notification destinations are asked for first, see reconcile-paddle-notifications.test.ts)
    const requests = api.requests.filter((r) => !r.path.startsWith('/notification'));
    const q = new URLSearchParams(requests[0]!.query);
    if (c.gateway === 'stripe') {
      expect(requests[0]!.path).toBe('/v1/events');
      expect(q.get('created[gte]')).toBe(String(c.from.getTime() / 1000));
      expect(q.get('created[lte]')).toBe(String(c.to.getTime() / 1000 - 1));
      expect([...q].filter(([k]) => k.startsWith('types[')).map(([, v]) => v)).toContain('payment_intent.succeeded');
      expect(new URLSearchParams(requests[1]!.query).get('starting_after')).toMatch(/^evt_/);
    } else if (c.gateway === 'paddle') {
      expect(requests[0]!.path).toBe('/events');
      expect(q.get('event_type')).toBe('transaction.paid,transaction.completed,adjustment.created,adjustment.updated');
      expect(q.get('order_by')).toBe('id[ASC]');
      expect(new URLSearchParams(requests[1]!.query).get('after')).toMatch(/^evt_/);
      expect(requests[0]!.headers.authorization).toMatch(/^bearer pdl_sdbx_apikey_reconcile$/i);
    } else {
      expect(requests[0]!.path).toBe('/api/v2/events');
      expect(q.get('occurred_at[after]')).toBe(String(c.from.getTime() / 1000 - 1));
      expect(q.get('occurred_at[before]')).toBe(String(c.to.getTime() / 1000));
      expect(JSON.parse(q.get('event_type[in]')!)).toEqual(['payment_succeeded', 'payment_refunded', 'transaction_deleted']);
      expect(q.get('sort_by[asc]')).toBe('occurred_at');
      expect(new URLSearchParams(requests[1]!.query).get('offset')).toBe('1');
    }
  });

  it('queues exactly the events no webhook delivered, waits out a 429, and the worker books them', async () => {
    const api = apis.get(c.gateway)!;
    api.requests.length = 0;
    api.nextAnswers.push(c.rateLimited(1));
    const waits: string[] = [];
    const pacer = new RequestPacer({ rps: 1000, onWait: (l) => waits.push(l) });
    const source = await sourceOf(c.gateway, pacer);
    const started = Date.now();
    const s = await reconcileEvents(
      { db: svc.db.db, source, producer: svc.service.producer!, out: () => {} },
      { program: { id: svc.programId, livemode: null }, from: c.from, to: c.to },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(pacer.rateLimited).toBe(1);
    // the 429 answered the first request, which was sent again (Paddle: its destinations, then the stream)
    expect(api.requests).toHaveLength(c.gateway === 'paddle' ? 3 : 2);
    expect(waits).toEqual([expect.stringMatching(/^ {2}429 on GET \S+( page 1)?: waiting 1\.0s \(Retry-After\)$/)]);
    expect(s).toMatchObject({ dryRun: false, found: 3, missing: 2, queued: 2, failed: 0, deferred: 0 });
    for (const id of listedIds) {
      expect(await svc.settled(c.gateway, id), id).toMatchObject({ status: 'processed', headers: { source: 'reconcile' } });
    }
    const keys = (await booked(c.gateway)).map((t) => t.key);
    expect(new Set(keys).size).toBe(keys.length);
    const withPartner = await Promise.all(keys.map((k) => stored(svc.db.db, svc.programId, k)));
    expect(withPartner.map((t) => t?.partnerKey)).toContain(c.booked.partnerKey);
  });

  it('a second run queues nothing and books nothing twice', async () => {
    const before = (await booked(c.gateway)).length;
    const source = await sourceOf(c.gateway, new RequestPacer(noSleep));
    const s = await reconcileEvents(
      { db: svc.db.db, source, producer: svc.service.producer!, out: () => {} },
      { program: { id: svc.programId, livemode: null }, from: c.from, to: c.to },
    );
    expect(s).toMatchObject({ found: 3, missing: 0, queued: 0 });
    expect((await booked(c.gateway)).length).toBe(before);
    expect((await rows(c.gateway)).length).toBe(3);
  });
});

describe('the reconcile command', () => {
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
  const run = (args: string[], env: Record<string, string> = {}) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'reconcile', ...args], {
      env: {
        ...process.env,
        DATABASE_URL: svc.db.url,
        REDIS_URL: svc.service.config.REDIS_URL,
        QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
        STRIPE_API_BASE: apis.get('stripe')!.url,
        PADDLE_API_BASE: apis.get('paddle')!.url,
        CHARGEBEE_API_BASE: apis.get('chargebee')!.url,
        LOG_LEVEL: 'silent',
        ...env,
      },
    });

  it('--gateway chargebee reads the program\'s stored settings; progress and a summary per event type', { timeout: 60_000 }, async () => {
    const { stdout } = await run(['--gateway', 'chargebee', '--from', '2025-08-01', '--to', '2025-08-31', '--program', svc.programId, '--dry-run']);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe(
      `dry run: chargebee events of payment_succeeded, payment_refunded, transaction_deleted from 2025-08-01T00:00:00.000Z to 2025-09-01T00:00:00.000Z (program ${svc.programId})`,
    );
    expect(lines).toContain('page 1: 3 found, 0 missing, 0 would be queued');
    expect(lines).toContain('  payment_succeeded: 3 found, 0 missing, 0 would be queued');
    expect(lines.at(-1)).toMatch(/^dry run, nothing written: chargebee: 1 pages, 3 found, 0 missing, 0 would be queued \(\d+\.\ds\)$/);
  });

  it('--gateway is checked; --help says what it does', { timeout: 60_000 }, async () => {
    const bad = await run(['--gateway', 'adyen', '--from', '2025-08-01']).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('--gateway must be one of stripe, paddle, chargebee, woocommerce, not "adyen"') });
    const help = await run(['--help']);
    expect(help.stdout).toContain('usage: npm run cli -- reconcile [--gateway stripe|paddle|chargebee|woocommerce] --from YYYY-MM-DD');
  });
});

describe('RequestPacer', () => {
  it('spaces requests to RECONCILE_RPS and gives up on a Retry-After longer than it waits', async () => {
    let clock = 0;
    const slept: number[] = [];
    const pacer = new RequestPacer({ rps: 4, now: () => clock, sleep: async (ms) => void (slept.push(ms), (clock += ms)), maxWaitMs: 60_000 });
    const ok = () => Promise.resolve('ok');
    const failure = () => ({ status: 429, retryAfterMs: 3_600_000, message: 'slow down' });
    for (let i = 0; i < 3; i++) await pacer.run('GET /x', ok, failure);
    expect(slept).toEqual([250, 250]);
    await expect(pacer.run('GET /x', () => Promise.reject(new Error('429')), failure)).rejects.toThrow(/asks to wait 3600s, longer than 60s/);
    await expect(pacer.run('GET /x', () => Promise.reject(new Error('401')), () => ({ status: 401, retryAfterMs: null, message: 'bad key' }))).rejects.toMatchObject({
      status: 401,
      message: 'GET /x: 401 bad key',
    });
  });

  it('retryAfterMs reads seconds and HTTP dates', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(1)).toBe(1000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:05 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(5000);
    expect(retryAfterMs(undefined)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
  });
});
