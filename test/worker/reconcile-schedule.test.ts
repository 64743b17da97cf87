// The scheduled reconcile, through the doors an operator sees: the service runs it on its own
// (RECONCILE_EVERY_MINUTES, here every second), events only Stripe's list holds end as one
// transaction each, later runs book nothing again, and GET /v1/integrations, /metrics and the
// maintenance queue (the dashboard) show what it found.
import { and, eq } from 'drizzle-orm';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileRuns, transactions, webhookEvents } from '../../src/db/schema.js';
import { MAINTENANCE_QUEUE } from '../../src/queue/queues.js';
import { callApi } from '../support/api.js';
import { fakeStripeEventsApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { gatewayEnv, signedHeaders } from '../support/deliveries.js';
import { fixtureJson } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_reconcile_schedule_key_0123456789';
const events: Record<string, unknown>[] = [];
let api: FakeGatewayApi;
let svc: TestService;

/** A Stripe fixture with its ids made unique and `created` now, as the gateway would list it. */
function stripeEvent(name: string, suffix: string): Record<string, unknown> {
  const text = JSON.stringify(fixtureJson('stripe', name)).replace(/"((?:evt|pi|ch|in|re|dp|sub|cs_test|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  return { ...JSON.parse(text), created: Math.floor(Date.now() / 1000) };
}

const until = async <T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 40_000): Promise<T> => {
  const started = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
const stripeRows = () => svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.gateway, 'stripe')));
const stripeTransactions = () => svc.db.db.select().from(transactions).where(and(eq(transactions.programId, svc.programId), eq(transactions.gateway, 'stripe')));

beforeAll(async () => {
  api = await fakeStripeEventsApi(events).start();
  svc = await startTestService(
    { ...gatewayEnv(), API_KEY: KEY, STRIPE_API_KEY: 'sk_test_schedule', STRIPE_API_BASE: api.url, RECONCILE_RPS: '100' },
    // every second, and events count from the moment they occur (no lag): the test needs no waiting
    { reconcile: { everyMs: 1000, lagMs: 0 } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_orbit_7f3k');
  await createPartner(svc.db.db, svc.programId, 'ptn_seoul_91ac');
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('scheduled reconcile', () => {
  it('books what only the gateway holds, once, and says so in the integration status and the metrics', async () => {
    // one payment arrives by webhook; two more were never delivered (the endpoint was down)
    const delivered = stripeEvent('payment_intent.succeeded.json', 'sched1');
    const lost = [stripeEvent('checkout.session.completed.payment.json', 'sched2'), stripeEvent('payment_intent.succeeded.krw.json', 'sched3')];
    const body = Buffer.from(JSON.stringify(delivered));
    expect((await svc.post('/webhooks/stripe', body, signedHeaders('stripe', body))).status).toBe(200);
    await svc.settled('stripe', delivered.id as string);
    events.push(delivered, ...lost);

    for (const e of lost) expect((await svc.settled('stripe', e.id as string, 40_000)).status).toBe('processed');
    const rows = await stripeRows();
    expect(rows.filter((r) => (r.headers as { source?: string }).source === 'reconcile').map((r) => r.eventId).sort()).toEqual(lost.map((e) => e.id).sort());
    expect(await stripeTransactions()).toHaveLength(3);

    // later runs find everything in the inbox: nothing queued, nothing booked twice
    const runsNow = (await svc.db.db.select().from(reconcileRuns)).length;
    await until('two more runs', async () => (await svc.db.db.select().from(reconcileRuns).where(eq(reconcileRuns.status, 'completed'))).length >= runsNow + 2);
    expect(await stripeRows()).toHaveLength(3);
    expect(await stripeTransactions()).toHaveLength(3);

    const status = await callApi(svc.url, 'GET', '/v1/integrations', undefined, KEY);
    expect(status.status).toBe(200);
    const stripe = status.body.data.gateways.find((g: { gateway: string }) => g.gateway === 'stripe');
    expect(stripe.reconcile).toMatchObject({ missing_last_7_days: 2, missing_last_run: 0, last_run_status: 'completed' });
    expect(Date.parse(stripe.reconcile.last_reconciled_to)).toBeGreaterThan(Date.parse(rows[0]!.receivedAt.toISOString()) - 60_000);
    expect(stripe.reconcile.last_run_at).toEqual(expect.any(String));
    expect(status.body.data.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/^stripe: 2 events were not delivered between \S+ and \S+ \(reconcile found and booked them\): check the endpoint and its secret$/)]),
    );
    const woo = status.body.data.gateways.find((g: { gateway: string }) => g.gateway === 'woocommerce');
    expect(woo.reconcile).toEqual({ last_reconciled_to: null, last_run_at: null, last_run_status: null, missing_last_run: null, missing_last_7_days: 0 });

    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/^partner_ledger_reconcile_missing_total\{gateway="stripe"\} 2$/m);
    const last = Number(/^partner_ledger_reconcile_last_success_timestamp_seconds\{gateway="stripe"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(120);

    // the dashboard's maintenance queue shows the runs, one program and gateway a job
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix: svc.service.config.QUEUE_PREFIX });
    try {
      const done = (await queue.getJobs(['completed'])).filter((j) => j.name === 'reconcile-gateway');
      expect(done.length).toBeGreaterThan(0);
      expect(done.map((j) => j.data)).toContainEqual({ programId: svc.programId, gateway: 'stripe' });
      expect(done.some((j) => (j.returnvalue as { missing?: number }).missing === 2)).toBe(true);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }, 60_000);
});
