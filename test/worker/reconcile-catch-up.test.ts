// The scheduled reconcile resumes from the end of its last completed run, kept in the database: after
// three days down, it catches up one window (a day) a job, each job queueing the next, and books what
// only the gateway's list holds. With RECONCILE_EVERY_MINUTES=0 there is no schedule at all.
import { and, eq } from 'drizzle-orm';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileRuns, transactions } from '../../src/db/schema.js';
import { MAINTENANCE_QUEUE } from '../../src/queue/queues.js';
import { fakeStripeEventsApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { gatewayEnv } from '../support/deliveries.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { fixtureJson } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const DAY = 86_400_000;
const events: Record<string, unknown>[] = [];
let api: FakeGatewayApi;
let svc: TestService;
let connection: Redis;

function stripeEvent(name: string, suffix: string, at: Date): Record<string, unknown> {
  const text = JSON.stringify(fixtureJson('stripe', name)).replace(/"((?:evt|pi|ch|in|re|dp|sub|cs_test|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  return { ...JSON.parse(text), created: Math.floor(at.getTime() / 1000) };
}
const until = async (what: string, f: () => Promise<boolean>, timeoutMs = 30_000) => {
  const started = Date.now();
  while (!(await f())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
const maintenance = (prefix: string) => new Queue(MAINTENANCE_QUEUE, { connection, prefix });

beforeAll(async () => {
  connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  api = await fakeStripeEventsApi(events).start();
  // the schedule's period is long: its runs here are the ones the test asks for
  svc = await startTestService(
    { ...gatewayEnv(), STRIPE_API_KEY: 'sk_test_catch_up', STRIPE_API_BASE: api.url, RECONCILE_RPS: '100' },
    { reconcile: { everyMs: 3_600_000, lagMs: 0 } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_orbit_7f3k');
  await createPartner(svc.db.db, svc.programId, 'ptn_seoul_91ac');
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
  connection?.disconnect();
});

describe('scheduled reconcile, from where it stopped', () => {
  it('after three days down, catches up a day a run and books what only the gateway holds', async () => {
    const queue = maintenance(svc.service.config.QUEUE_PREFIX);
    try {
      expect(await queue.getJobScheduler('reconcile')).toMatchObject({ every: 3_600_000 });
      // the schedule's first run (at start-up) sets where the next starts
      const completed = () => svc.db.db.select().from(reconcileRuns).where(and(eq(reconcileRuns.gateway, 'stripe'), eq(reconcileRuns.status, 'completed')));
      await until('the first run', async () => (await completed()).length >= 1);
      // ... as if it had ended three days ago, and the service had been down since
      const now = Date.now();
      const stoppedAt = new Date(now - 3 * DAY);
      await svc.db.db.update(reconcileRuns).set({ rangeFrom: new Date(stoppedAt.getTime() - 60_000), rangeTo: stoppedAt });
      const lost = [stripeEvent('payment_intent.succeeded.json', 'cu1', new Date(now - 2.5 * DAY)), stripeEvent('payment_intent.succeeded.krw.json', 'cu2', new Date(now - 1.5 * DAY))];
      events.push(...lost);

      await queue.add('reconcile', {});
      const resumed = async () => (await completed()).filter((r) => r.rangeFrom >= stoppedAt).sort((a, b) => a.rangeFrom.getTime() - b.rangeFrom.getTime());
      await until('caught up', async () => ((await resumed()).at(-1)?.rangeTo.getTime() ?? 0) >= now);
      const runs = await resumed();
      // one day a run at most, each starting where the last ended, from three days ago up to now
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(runs[0]!.rangeFrom.getTime()).toBe(stoppedAt.getTime());
      for (const [i, r] of runs.entries()) {
        expect(r.rangeTo.getTime() - r.rangeFrom.getTime()).toBeLessThanOrEqual(DAY);
        if (i > 0) expect(r.rangeFrom.getTime()).toBe(runs[i - 1]!.rangeTo.getTime());
      }
      expect(runs.map((r) => r.missing)).toEqual([1, 1, ...runs.slice(2).map(() => 0)]);
      for (const e of lost) expect((await svc.settled('stripe', e.id as string)).status).toBe('processed');
      expect(await svc.db.db.select().from(transactions).where(eq(transactions.programId, svc.programId))).toHaveLength(2);
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('RECONCILE_EVERY_MINUTES=0: no schedule', async () => {
    const off = await startTestService({ ...gatewayEnv(), STRIPE_API_KEY: 'sk_test_off', STRIPE_API_BASE: api.url, RECONCILE_EVERY_MINUTES: '0' });
    const queue = maintenance(off.service.config.QUEUE_PREFIX);
    try {
      expect(await queue.getJobScheduler('reconcile')).toBeUndefined();
      expect(await queue.getJobScheduler('sweep-inbox')).toBeTruthy();
    } finally {
      await queue.close();
      await off.stop();
    }
  });
});
