// Paddle records the notifications it gave up delivering (status `failed`). Reconcile lists them for
// the destinations that deliver to this service's Paddle receiver, and with --ask-gateway-to-resend
// has Paddle replay them (POST /notifications/{id}/replay) instead of queueing them here; without it,
// they take the webhook's path here like any missing event. Either way each payment is booked once.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fakePaddleNotificationsApi, type FakePaddleNotifications } from '../support/fake-paddle-api.js';
import { gatewayEnv, signedHeaders } from '../support/deliveries.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const a: Obj = JSON.parse(fixture('paddle', 'transaction.completed.json').toString());
const b: Obj = JSON.parse(fixture('paddle', 'transaction.completed.jpy.json').toString());
// a third payment: A's notification with other ids
const c: Obj = JSON.parse(
  fixture('paddle', 'transaction.completed.json')
    .toString()
    .replaceAll(a.event_id, 'evt_01jy2w8h5k7m9p1r3t5v7x9zcc')
    .replaceAll(a.notification_id, 'ntf_01jy2w8h8n0q2s4u6w8y0a2ccc')
    .replaceAll(a.data.id, 'txn_01jy2w6k9b3m7q4r8t1v5x0zcc'),
);

const OURS = 'ntfset_01jy2w0000000000000000ours';
const THEIRS = 'ntfset_01jy2w000000000000000theirs';
const notification = (e: Obj, setting: string, status: string): Obj => ({
  id: setting === OURS ? e.notification_id : `${e.notification_id}x`,
  type: e.event_type,
  status,
  payload: e,
  occurred_at: e.occurred_at,
  delivered_at: null,
  replayed_at: null,
  origin: 'event',
  last_attempt_at: e.occurred_at,
  retry_at: null,
  times_attempted: 5,
  notification_setting_id: setting,
});

let api: FakeGatewayApi;
let svc: TestService;
const paddle: FakePaddleNotifications = { settings: [], notifications: [], replayed: [] };

beforeAll(async () => {
  api = await fakePaddleNotificationsApi([a, b, c], paddle).start();
  svc = await startTestService({ ...gatewayEnv(), PADDLE_API_KEY: 'pdl_sdbx_apikey_notifications', PADDLE_API_BASE: api.url });
  const setting = (id: string, destination: string) => ({
    id,
    description: id,
    type: 'url',
    destination,
    active: true,
    api_version: 1,
    include_sensitive_fields: false,
    subscribed_events: [],
    endpoint_secret_key: 'pdl_ntfset_fake',
    traffic_source: 'platform',
  });
  // ours delivers to this service's receiver; theirs is the merchant's own app (its failures are not ours)
  paddle.settings.push(setting(OURS, `https://ledger.example.com/webhooks/paddle/${svc.programId}`), setting(THEIRS, 'https://app.example.com/hooks/paddle-billing'));
  paddle.notifications.push(notification(a, OURS, 'delivered'), notification(b, OURS, 'failed'), notification(c, OURS, 'failed'), notification(a, THEIRS, 'failed'));
  for (const key of ['ptn_orbit_7f3k', 'ptn_seoul_91ac']) await createPartner(svc.db.db, svc.programId, key);
  const body = fixture('paddle', 'transaction.completed.json');
  expect((await svc.post('/webhooks/paddle', body, signedHeaders('paddle', body))).status).toBe(200);
  await svc.settled('paddle', a.event_id);
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'reconcile', '--gateway', 'paddle', '--from', '2025-07-01', '--to', '2025-08-31', ...args], {
    env: {
      ...process.env,
      DATABASE_URL: svc.db.url,
      REDIS_URL: svc.service.config.REDIS_URL,
      QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
      PADDLE_API_BASE: api.url,
      LOG_LEVEL: 'silent',
    },
  });
const inbox = async () =>
  (await svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.gateway, 'paddle')))).map((r) => r.eventId).sort();
const booked = async () => (await svc.db.db.select().from(transactions).where(eq(transactions.programId, svc.programId))).map((t) => t.key).sort();

describe('reconcile --gateway paddle and its failed notifications', () => {
  it('asks Paddle to resend what it gave up on, or queues it here; each payment booked once', { timeout: 120_000 }, async () => {
    const dry = await run(['--dry-run', '--ask-gateway-to-resend']);
    expect(dry.stdout).toContain(`  paddle gave up delivering transaction.completed ${b.event_id} to https://ledger.example.com/webhooks/paddle/${svc.programId} (notification ${b.notification_id})`);
    expect(dry.stdout).toContain(`  would ask paddle to deliver transaction.completed ${c.event_id} again (notification ${c.notification_id})`);
    expect(paddle.replayed).toEqual([]);

    const asked = await run(['--ask-gateway-to-resend']);
    expect(asked.stdout).toMatch(/^paddle: \d+ pages, 3 found, 2 missing, 0 queued, 2 deliveries the gateway gave up on, 2 asked of the gateway again/m);
    expect(paddle.replayed.sort()).toEqual([b.notification_id, c.notification_id].sort());
    // nothing queued here: Paddle delivers them again
    expect(await inbox()).toEqual([a.event_id]);
    // the merchant's own destination was not asked about
    expect(api.requests.filter((r) => r.path === '/notifications').every((r) => new URLSearchParams(r.query).get('notification_setting_id') === OURS)).toBe(true);

    // Paddle's replay of B arrives; C's never does
    const replay = Buffer.from(JSON.stringify(b));
    expect((await svc.post('/webhooks/paddle', replay, signedHeaders('paddle', replay))).status).toBe(200);
    await svc.settled('paddle', b.event_id);

    // without the option, what is still missing takes the webhook's path here
    const local = await run([]);
    expect(local.stdout).toMatch(/^paddle: \d+ pages, 3 found, 1 missing, 1 queued, 2 deliveries the gateway gave up on/m);
    await svc.settled('paddle', c.event_id);
    expect(paddle.replayed).toHaveLength(2);
    expect(await inbox()).toEqual([a.event_id, b.event_id, c.event_id].sort());
    expect(await booked()).toEqual([a.data.id, b.data.id, c.data.id].sort());

    const again = await run([]);
    expect(again.stdout).toMatch(/^paddle: \d+ pages, 3 found, 0 missing, 0 queued/m);
    expect(await booked()).toHaveLength(3);
  });
});
