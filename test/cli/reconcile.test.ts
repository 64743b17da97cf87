// The reconcile command: orders fetched from the WooCommerce REST API (the official client, pointed at
// a local fake over http, OAuth 1.0a in the query) are queued like webhooks; states a webhook already
// delivered are not queued again; --dry-run writes nothing.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programs, transactions, webhookEvents } from '../../src/db/schema.js';
import { WooCommerceApiError, wooCommerceClient, type WooCommerceClient } from '../../src/gateways/woocommerce/client.js';
import { dayRange, progressLine, reconcileOrders, summaryLine, terminalProgress } from '../../src/cli/reconcile.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fakeWooCommerceApi, type FakeWooOrder, type FakeWooStore } from '../support/fake-woocommerce-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'wc_reconcile_secret';
const KEY = 'ck_fake_reconcile_0123456789';
const CONSUMER_SECRET = 'cs_fake_reconcile_9876543210';
const order = (name: string, change: (o: FakeWooOrder) => void = () => {}) => {
  const o = fixtureJson<FakeWooOrder>('woocommerce', name);
  change(o);
  return o;
};
// in the range 2025-07-21 .. 2025-07-25: three paid orders and one pending; the JPY order is later
const store: FakeWooStore = {
  consumerKey: KEY,
  consumerSecret: CONSUMER_SECRET,
  orders: [
    order('order.updated.completed.json'), // 4817, 2025-07-21: also delivered by webhook below
    order('order.created.processing.json'), // 4830, 2025-07-24
    order('order.created.guest.json'), // 4835, 2025-07-25
    order('order.updated.pending.json', (o) => (o.date_modified_gmt = '2025-07-22T08:00:00')), // 4844: ignored
    order('order.updated.jpy.json', (o) => (o.date_modified_gmt = '2025-07-26T00:00:00')), // 4841: after the range
  ],
};

let api: FakeGatewayApi;
let svc: TestService;
let client: WooCommerceClient;
const range = dayRange('2025-07-21', '2025-07-25');

const wooRows = () =>
  svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.gateway, 'woocommerce')));
const wooTransactions = () =>
  svc.db.db.select().from(transactions).where(and(eq(transactions.programId, svc.programId), eq(transactions.gateway, 'woocommerce')));

beforeAll(async () => {
  api = await fakeWooCommerceApi(store).start();
  svc = await startTestService({
    WOOCOMMERCE_WEBHOOK_SECRET: SECRET,
    WOOCOMMERCE_URL: 'https://shop.example.com',
    WOOCOMMERCE_API_BASE: api.url,
    WOOCOMMERCE_CONSUMER_KEY: KEY,
    WOOCOMMERCE_CONSUMER_SECRET: CONSUMER_SECRET,
  });
  for (const key of ['ptn_orbit_7f3k', 'ptn_lumen_5e0a', 'ptn_seoul_91ac', 'ptn_delta_3c9e']) await createPartner(svc.db.db, svc.programId, key);
  // the client is built from the program's stored settings and the operator's API base, as the command builds it
  const [program] = await svc.db.db.select().from(programs).where(eq(programs.id, svc.programId));
  client = wooCommerceClient(program!.gateways.woocommerce, { apiBase: api.url })!;

  // order 4817 arrived by webhook; the others were lost
  const body = fixture('woocommerce', 'order.updated.completed.json');
  const res = await svc.post('/webhooks/woocommerce', body, {
    'x-wc-webhook-topic': 'order.updated',
    'x-wc-webhook-signature': createHmac('sha256', SECRET).update(body).digest('base64'),
  });
  expect(res.status).toBe(200);
  await svc.settled('woocommerce', 'order-4817-20250721T132045-completed');
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('reconcile (WooCommerce)', () => {
  it('--dry-run prints what it would queue and writes nothing', async () => {
    const before = { rows: (await wooRows()).length, transactions: (await wooTransactions()).length };
    const lines: string[] = [];
    const summary = await reconcileOrders({ db: svc.db.db, orders: client, out: (l) => lines.push(l) }, {
      programId: svc.programId,
      ...range,
      dryRun: true,
    });
    expect(summary).toMatchObject({ dryRun: true, orders: 4, queued: 2, alreadyReceived: 1, ignored: 1, failed: 0, deferred: 0 });
    expect(lines).toEqual([
      '  would queue order 4830 (processing): payment wc_order_4830 107.91 USD (partner_key ptn_seoul_91ac)',
      '  would queue order 4835 (completed): payment wc_order_4835 24.00 EUR (partner_key ptn_lumen_5e0a)',
    ]);
    expect(summaryLine(summary)).toMatch(
      /^dry run, nothing written: 4 orders, 2 would be queued, 1 already received, 1 ignored \(not paid\), 0 failed \(\d+\.\ds\)$/,
    );
    expect((await wooRows()).length).toBe(before.rows);
    expect((await wooTransactions()).length).toBe(before.transactions);
  });

  it('pages through the orders modified in the range with the official client (OAuth 1.0a over http)', async () => {
    api.requests.length = 0;
    const summary = await reconcileOrders({ db: svc.db.db, orders: client, out: () => {} }, { programId: svc.programId, ...range, dryRun: true, perPage: 2 });
    expect(summary.orders).toBe(4);
    // two full pages, then an empty one ends it
    expect(api.requests.map((r) => new URLSearchParams(r.query).get('page'))).toEqual(['1', '2', '3']);
    const q = new URLSearchParams(api.requests[0]!.query);
    expect(api.requests[0]).toMatchObject({ method: 'GET', path: '/wp-json/wc/v3/orders' });
    expect(Object.fromEntries([...q].filter(([k]) => !k.startsWith('oauth_')))).toEqual({
      modified_after: '2025-07-20T23:59:59',
      modified_before: '2025-07-26T00:00:00',
      dates_are_gmt: 'true',
      per_page: '2',
      page: '1',
      orderby: 'id',
      order: 'asc',
    });
    expect(q.get('oauth_consumer_key')).toBe(KEY);
    expect(q.get('oauth_signature_method')).toBe('HMAC-SHA256');
  });

  it('queues exactly the orders no webhook delivered; the worker books them; a second run queues nothing', async () => {
    const progress: string[] = [];
    const summary = await reconcileOrders(
      { db: svc.db.db, orders: client, producer: svc.service.producer!, out: () => {}, progress: (p) => progress.push(progressLine(p)) },
      { programId: svc.programId, ...range, perPage: 3 },
    );
    expect(summary).toMatchObject({ dryRun: false, orders: 4, queued: 2, alreadyReceived: 1, ignored: 1, failed: 0, deferred: 0 });
    expect(progress).toHaveLength(4);
    expect(progress[3]).toMatch(/^4 orders {2}\d+\.\d\/s$/); // the fake sends no X-WP-Total

    for (const id of ['order-4830-20250724T200341-processing', 'order-4835-20250725T064119-completed']) {
      expect(await svc.settled('woocommerce', id)).toMatchObject({ status: 'processed', headers: { source: 'reconcile' } });
    }
    const keys = (await wooTransactions()).map((t) => t.key).sort();
    expect(keys).toEqual(['wc_order_4817', 'wc_order_4830', 'wc_order_4835']);
    expect(await stored(svc.db.db, svc.programId, 'wc_order_4830')).toMatchObject({ amountMinor: 10791n, partnerKey: 'ptn_seoul_91ac', customerKey: '118' });
    expect(await stored(svc.db.db, svc.programId, 'wc_order_4835')).toMatchObject({ customerKey: 'lena.vogel@example.org', partnerKey: 'ptn_lumen_5e0a' });
    expect((await stored(svc.db.db, svc.programId, 'wc_order_4817'))?.attribution).toMatchObject({ event_type: 'order.completed' });

    const again = await reconcileOrders({ db: svc.db.db, orders: client, producer: svc.service.producer!, out: () => {} }, { programId: svc.programId, ...range });
    expect(again).toMatchObject({ orders: 4, queued: 0, alreadyReceived: 3, ignored: 1 });
  });

  it('a webhook delivering a state reconcile already queued is a duplicate', async () => {
    const body = fixture('woocommerce', 'order.created.guest.json');
    const res = await svc.post('/webhooks/woocommerce', body, {
      'x-wc-webhook-topic': 'order.created',
      'x-wc-webhook-signature': createHmac('sha256', SECRET).update(body).digest('base64'),
    });
    expect(res).toMatchObject({ status: 200, body: { duplicate: true } });
  });

  it('the CLI command runs it against the program\'s stored settings', { timeout: 60_000 }, async () => {
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
    const env = {
      ...process.env,
      DATABASE_URL: svc.db.url,
      REDIS_URL: svc.service.config.REDIS_URL,
      QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
      WOOCOMMERCE_API_BASE: api.url,
      LOG_LEVEL: 'silent',
    };
    const run = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'reconcile', ...args], { env });
    const dry = await run(['--from', '2025-07-21', '--to', '2025-07-26', '--dry-run']);
    expect(dry.stdout).toContain('  would queue order 4841 (completed): payment wc_order_4841 4800 JPY (partner_key ptn_delta_3c9e)');
    expect(dry.stdout).toMatch(/dry run, nothing written: 5 orders, 1 would be queued, 3 already received, 1 ignored/);
    expect(await stored(svc.db.db, svc.programId, 'wc_order_4841')).toBeNull();

    const real = await run(['--from', '2025-07-21', '--to', '2025-07-26', '--program', svc.programId]);
    expect(real.stdout).toMatch(/5 orders: 1 queued, 3 already received, 1 ignored \(not paid\), 0 failed/);
    await svc.settled('woocommerce', 'order-4841-20250726T000000-completed');
    expect(await stored(svc.db.db, svc.programId, 'wc_order_4841')).toMatchObject({ amountMinor: 4800n, currency: 'JPY', taxMinor: 436n });
  });

  it('refused credentials are a clear error, not a retry loop', async () => {
    const [program] = await svc.db.db.select().from(programs).where(eq(programs.id, svc.programId));
    const wrong = wooCommerceClient({ ...program!.gateways.woocommerce!, consumerSecret: 'cs_wrong' }, { apiBase: api.url })!;
    const err = await reconcileOrders({ db: svc.db.db, orders: wrong, out: () => {} }, { programId: svc.programId, ...range, dryRun: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WooCommerceApiError);
    expect(err).toMatchObject({ status: 401, transient: false });
    expect((err as Error).message).toBe(
      'WooCommerce API 401 on GET orders page 1 (woocommerce_rest_authentication_error): check WOOCOMMERCE_CONSUMER_KEY / _SECRET (read access)',
    );
  });

  it('a store outage is retried, then reported', async () => {
    const [program] = await svc.db.db.select().from(programs).where(eq(programs.id, svc.programId));
    const quick = wooCommerceClient(program!.gateways.woocommerce, { apiBase: api.url, retryDelayMs: 5 })!;
    api.requests.length = 0;
    api.outage = 503;
    try {
      await expect(quick.listOrders({ modifiedAfter: range.from, modifiedBefore: range.to, page: 1, perPage: 10 })).rejects.toMatchObject({
        status: 503,
        transient: true,
      });
    } finally {
      api.outage = null;
    }
    expect(api.requests).toHaveLength(3);
  });
});

describe('the store URL, a program\'s setting, under the outbound URL policy', () => {
  const settings = (url: string) => ({ webhookSecrets: [], url, consumerKey: KEY, consumerSecret: CONSUMER_SECRET });
  const page = { modifiedAfter: range.from, modifiedBefore: range.to, page: 1, perPage: 10 };

  it('a store on a loopback, private or link-local address is refused before any request', async () => {
    api.requests.length = 0;
    for (const url of [api.url, 'http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]:80/']) {
      const c = wooCommerceClient(settings(url), { retryDelayMs: 1 })!;
      const err = await c.listOrders(page).catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(WooCommerceApiError);
      expect((err as Error).message, url).toMatch(/^WooCommerce store URL refused: the host .* resolves to /);
    }
    expect(api.requests).toHaveLength(0);
  });

  it('with WEBHOOKS_ALLOW_LOOPBACK a local store is reached, at the address checked (no second DNS answer)', async () => {
    api.requests.length = 0;
    const direct = wooCommerceClient(settings(api.url), { policy: { allowLoopback: true } })!;
    expect((await direct.listOrders(page)).orders.length).toBeGreaterThan(0);
    // a name only this resolver knows: the connection goes to what it answered, checked, and nowhere else
    const port = new URL(api.url).port;
    const resolved: string[] = [];
    const named = wooCommerceClient(settings(`http://store.reconcile.test:${port}`), {
      policy: { allowLoopback: true },
      resolver: async (host) => {
        resolved.push(host);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    })!;
    // (the fake signs for its own home URL, so it answers 401: what matters is that the request reached it)
    await expect(named.listOrders(page)).rejects.toMatchObject({ status: 401 });
    expect(resolved).toEqual(['store.reconcile.test']);
    expect(api.requests).toHaveLength(2);
    const refused = wooCommerceClient(settings(`http://store.reconcile.test:${port}`), {
      resolver: async () => [{ address: '127.0.0.1', family: 4 }],
    })!;
    await expect(refused.listOrders(page)).rejects.toThrow(/resolves to 127\.0\.0\.1, a loopback address/);
    expect(api.requests).toHaveLength(2);
  });
});

describe('reconcile helpers', () => {
  it('dayRange: whole UTC days, both ends included', () => {
    expect(dayRange('2025-07-01', '2025-07-31')).toEqual({ from: new Date('2025-07-01T00:00:00Z'), to: new Date('2025-08-01T00:00:00Z') });
    expect(() => dayRange('2025-02-30', '2025-03-01')).toThrow('--from must be a date as YYYY-MM-DD, not "2025-02-30"');
    expect(() => dayRange('2025-07-01', 'yesterday')).toThrow('--to must be a date as YYYY-MM-DD');
    expect(() => dayRange('2025-07-31', '2025-07-01')).toThrow('--to is before --from');
  });

  it('progressLine: done/total, rate, time left', () => {
    expect(progressLine({ done: 150, total: 312, elapsedMs: 3000 })).toBe('150/312 orders  50.0/s  ~4s left');
    expect(progressLine({ done: 100, total: 10_000, elapsedMs: 10_000 })).toBe('100/10000 orders  10.0/s  ~16m30s left');
    expect(progressLine({ done: 10, total: null, elapsedMs: 2000 })).toBe('10 orders  5.0/s');
    expect(progressLine({ done: 0, total: 5, elapsedMs: 0 })).toBe('0/5 orders  0.0/s');
  });

  it('terminalProgress: redrawn in place on a terminal, wiped before other output, silent otherwise', () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const p = terminalProgress(tty)!;
    p.update({ done: 1, total: 2, elapsedMs: 1000 });
    p.update({ done: 2, total: 2, elapsedMs: 1000 }); // within 100 ms: not drawn
    p.clear();
    p.end();
    expect(written).toEqual(['\r\x1b[K1/2 orders  1.0/s  ~1s left', '\r\x1b[K', '\r\x1b[K2/2 orders  2.0/s  ~0s left\n']);
    expect(terminalProgress({ isTTY: false } as NodeJS.WriteStream)).toBeUndefined();
  });
});
