// Raw webhook bodies (emails, addresses) are kept INBOX_RETENTION_DAYS, then dropped; the row stays
// as a tombstone so a late redelivery is still a duplicate, and a replay says why it cannot run.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayEvents, summaryLine } from '../../src/cli/replay.js';
import { dropExpiredBodies } from '../../src/db/inbox.js';
import { webhookEvents } from '../../src/db/schema.js';
import { MAINTENANCE_QUEUE } from '../../src/worker/maintenance.js';
import { fixture } from '../support/fixtures.js';
import { count } from '../support/ledger.js';
import { transactions } from '../../src/db/schema.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_retention';
const stripe = new Stripe('sk_test_unused');
let svc: TestService;

function payment() {
  const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
  event.id = `evt_ret_${randomBytes(6).toString('hex')}`;
  event.data.object.id = `pi_ret_${randomBytes(6).toString('hex')}`;
  return { id: event.id as string, body: JSON.stringify(event) };
}
const deliver = (body: string) => svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET }) });
const row = async (eventId: string) =>
  (await svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.programId, svc.programId), eq(webhookEvents.eventId, eventId))))[0]!;
const backdate = (eventId: string, days: number) =>
  svc.db.db.execute(sql`update webhook_events set received_at = now() - make_interval(days => ${days}) where event_id = ${eventId}`);

beforeAll(async () => {
  svc = await startTestService({ STRIPE_WEBHOOK_SECRET: SECRET, INBOX_RETENTION_DAYS: '30' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('inbox retention', () => {
  it('the maintenance queue drops expired bodies on a schedule', async () => {
    const connection = new Redis(svc.service.config.REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix: svc.service.config.QUEUE_PREFIX });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((s) => s.key)).toContain('drop-expired-bodies');
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('after the retention the body is dropped, the row stays, and a redelivery is still a duplicate', async () => {
    const old = payment();
    const recent = payment();
    for (const p of [old, recent]) {
      expect((await deliver(p.body)).status).toBe(200);
      expect((await svc.settled('stripe', p.id)).status).toBe('processed');
    }
    await backdate(old.id, 31);
    await backdate(recent.id, 29);
    const before = await count(svc.db.db, transactions, svc.programId);

    expect(await dropExpiredBodies(svc.db.db, new Date(Date.now() - 30 * 86_400_000))).toBe(1);
    const tomb = await row(old.id);
    expect(tomb).toMatchObject({ rawBody: null, status: 'processed', gateway: 'stripe', eventType: 'payment_intent.succeeded' });
    expect((await row(recent.id)).rawBody).toBe(recent.body);
    // nothing more to drop: a second pass is a no-op
    expect(await dropExpiredBodies(svc.db.db, new Date(Date.now() - 30 * 86_400_000))).toBe(0);

    // the gateway sends it again, much later: still one transaction
    const again = await deliver(old.body);
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(await count(svc.db.db, transactions, svc.programId)).toBe(before);
  });

  it('a row still waiting for the queue keeps its body whatever its age', async () => {
    const p = payment();
    expect((await deliver(p.body)).status).toBe(200);
    await svc.settled('stripe', p.id);
    await svc.db.db.execute(sql`update webhook_events set status = 'received' where event_id = ${p.id}`);
    await backdate(p.id, 400);
    await dropExpiredBodies(svc.db.db, new Date(Date.now() - 30 * 86_400_000));
    expect((await row(p.id)).rawBody).toBe(p.body);
    await svc.db.db.execute(sql`update webhook_events set status = 'processed' where event_id = ${p.id}`);
  });

  it('a replay of a tombstone says why nothing is replayed', async () => {
    const p = payment();
    expect((await deliver(p.body)).status).toBe(200);
    await svc.settled('stripe', p.id);
    await backdate(p.id, 31);
    await dropExpiredBodies(svc.db.db, new Date(Date.now() - 30 * 86_400_000));
    const lines: string[] = [];
    const summary = await replayEvents({ db: svc.db.db, out: (l) => lines.push(l) }, { status: 'all', eventIds: [p.id] }, { dryRun: true });
    expect(summary).toMatchObject({ selected: 1, expired: 1, failed: 0 });
    expect(lines.join('\n')).toContain('left alone: its body was dropped after the inbox retention (INBOX_RETENTION_DAYS); nothing to replay');
    expect(summaryLine(summary)).toContain('1 past the inbox retention (body dropped)');
  });
});
