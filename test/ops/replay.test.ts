// Inbox replay on the real PostgreSQL and Redis: stored events re-queued through the normal worker,
// idempotent, selected by gateway, program, status, event id and time; a dry run that says what
// would change and writes nothing.
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/command.js';
import { parseWhen, replayCommand, replayEvents, selectionText, summaryLine } from '../../src/cli/replay.js';
import { transactions, webhookEvents } from '../../src/db/schema.js';
import { paymentJobId } from '../../src/queue/queues.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { count, createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_replay_test';
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

/** A Stripe fixture with every id made unique. */
function variant(name: string, suffix: string, change?: (e: any) => void): { body: Buffer; id: string; event: any } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = fixture('stripe', name)
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in|re|dp|sub|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  change?.(event);
  return { body: Buffer.from(JSON.stringify(event)), id: event.id, event };
}
const deliver = (body: Buffer) =>
  svc.post('/webhooks/stripe', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: SECRET }) });

/** Run the CLI command as `npm run cli -- replay ...` would, capturing its output. */
async function cli(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const ctx: CliContext = { config: svc.service.config, database: svc.db, args, out: (l) => lines.push(...l.split('\n')) };
  const code = await replayCommand.run(ctx);
  return { code, lines };
}
const inbox = async (eventId: string) => (await svc.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId)))[0]!;

const s = randomBytes(3).toString('hex');
let lookupFailed: { id: string; key: string };
let booked: { id: string; key: string };
let unreadable: { id: string };
let refundKept: { id: string; key: string };

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  // one attempt: a job fails at once while the fake Stripe API is down
  svc = await startTestService({ STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_replay', STRIPE_API_BASE: api.url }, { paymentJobs: { attempts: 1 } });
  await createPartner(svc.db.db, svc.programId, 'ptn_replay');

  // A: its partner key is on the Stripe customer, and Stripe was down: failed
  const a = variant('charge.succeeded.2024-06-20.json', `a${s}`, (e) => Object.assign(e.data.object, { invoice: null, customer: `cus_replay${s}` }));
  objects.set(`cus_replay${s}`, { id: `cus_replay${s}`, object: 'customer', email: 'r@example.com', metadata: { partner_key: 'ptn_replay' } });
  api.outage = 503;
  await deliver(a.body);
  expect((await svc.settled('stripe', a.id)).status).toBe('failed');
  api.outage = null;
  lookupFailed = { id: a.id, key: a.event.data.object.payment_intent };

  // B: booked, 49.00 USD with the partner on the payment: reward 9.8
  const b = variant('payment_intent.succeeded.json', `b${s}`, (e) => (e.data.object.metadata = { partner_key: 'ptn_replay' }));
  await deliver(b.body);
  expect((await svc.settled('stripe', b.id)).status).toBe('processed');
  booked = { id: b.id, key: b.event.data.object.id };

  // C: unreadable (a currency nobody has): failed at the door's normalize step, no job
  const c = variant('payment_intent.succeeded.json', `c${s}`, (e) => (e.data.object.currency = 'zzz'));
  await deliver(c.body);
  expect(await svc.settled('stripe', c.id)).toMatchObject({ status: 'failed', lastError: 'payload: unknown currency code "zzz"' });
  unreadable = { id: c.id };

  // D: a partial refund of B (15.00) kept in the inbox as failed, never applied
  const d = variant('charge.refunded.partial.json', `b${s}`, (e) => (e.id = `evt_refund${s}`));
  await svc.db.db.insert(webhookEvents).values({
    programId: svc.programId,
    gateway: 'stripe',
    eventId: d.id,
    eventType: d.event.type,
    rawBody: d.body.toString(),
    status: 'failed',
    lastError: 'store: the database was restarting',
  });
  refundKept = { id: d.id, key: booked.key };

  // E: a row never verified (kept for inspection only): never replayed
  await svc.db.db.insert(webhookEvents).values({
    programId: svc.programId,
    gateway: 'stripe',
    eventId: `evt_unverified${s}`,
    rawBody: variant('payment_intent.succeeded.json', `e${s}`).body.toString(),
    verified: false,
    status: 'failed',
  });
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('replay --dry-run', () => {
  it('says what each failed event would change, and writes nothing', async () => {
    const before = {
      transactions: await count(svc.db.db, transactions, svc.programId),
      inbox: (await svc.db.db.select().from(webhookEvents)).map((r) => [r.eventId, r.status, r.lastError, r.attempts]),
      waiting: await svc.service.producer!.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'),
    };
    const { code, lines } = await cli('--dry-run', '--gateway', 'stripe');
    if (process.env.SHOW_REPLAY) console.log(lines.join('\n'));
    expect(code).toBe(0);
    const text = lines.join('\n');
    expect(lines[0]).toBe('dry run (nothing is written): replaying failed events from stripe of every program');
    expect(text).toContain(`stripe ${lookupFailed.id} charge.succeeded [failed: partner lookup: Stripe API 503 on GET /v1/customers/cus_replay${s} (after 1 attempt)]`);
    expect(text).toContain(`  → payment ${lookupFailed.key}: transaction created, partner ptn_replay, reward none → 5.8 USD`);
    expect(text).toContain(`stripe ${unreadable.id} payment_intent.succeeded [failed: payload: unknown currency code "zzz"]\n  → would be unreadable: payload: unknown currency code "zzz"`);
    expect(text).toContain(`  → refund on ${refundKept.key}: reward 9.8 USD → 6.8 USD`);
    expect(text).not.toContain('evt_unverified');
    expect(lines.at(-1)).toMatch(/^dry run, nothing written: 3 events: 1 would create a transaction, 1 would change rewards, 0 would change nothing, 0 ignored, 1 would fail \(\d+\.\ds\)$/);

    expect(await count(svc.db.db, transactions, svc.programId)).toBe(before.transactions);
    expect((await svc.db.db.select().from(webhookEvents)).map((r) => [r.eventId, r.status, r.lastError, r.attempts])).toEqual(before.inbox);
    expect(await svc.service.producer!.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual(before.waiting);
    expect(await stored(svc.db.db, svc.programId, lookupFailed.key)).toBeNull();
    expect((await stored(svc.db.db, svc.programId, booked.key))?.rewards.map((r) => r.amount)).toEqual(['9.8']);
  });

  it('a booked event replayed dry is "already booked", rewards unchanged; a gateway outage is reported as a failure', async () => {
    let { lines } = await cli('--dry-run', '--status', 'all', '--event', booked.id);
    expect(lines).toContain(`  → payment ${booked.key}: already booked (merged), reward 9.8 USD unchanged`);
    expect(lines.at(-1)).toMatch(/1 events: 0 would create a transaction, 0 would change rewards, 1 would change nothing/);

    api.outage = 503;
    try {
      ({ lines } = await cli('--dry-run', '--event', lookupFailed.id));
      expect(lines).toContain(`  → would fail: partner lookup: Stripe API 503 on GET /v1/customers/cus_replay${s}`);
    } finally {
      api.outage = null;
    }
  });
});

describe('replay', () => {
  it('re-queues failed events through the worker; --wait reports how they ended', async () => {
    const { code, lines } = await cli('--gateway', 'stripe', '--program', svc.programId, '--wait');
    const text = lines.join('\n');
    expect(lines[0]).toBe(`replaying failed events from stripe of program ${svc.programId}`);
    expect(text).toContain(`stripe ${unreadable.id} payment_intent.succeeded [failed: payload: unknown currency code "zzz"]\n  → still unreadable: payload: unknown currency code "zzz"`);
    expect(text).toMatch(/3 events: 2 queued, 0 already in the queue, 0 ignored, 1 unreadable \(\d+\.\ds\)/);
    expect(text).toContain('processed 2, failed 0, ignored 0');
    expect(code).toBe(0);

    const t = await stored(svc.db.db, svc.programId, lookupFailed.key);
    expect(t).toMatchObject({ partnerKey: 'ptn_replay' });
    expect(t?.rewards.map((r) => r.amount)).toEqual(['5.8']);
    expect((await stored(svc.db.db, svc.programId, booked.key))?.rewards.map((r) => r.amount)).toEqual(['6.8']);
    expect(await inbox(lookupFailed.id)).toMatchObject({ status: 'processed', lastError: null });
    expect(await inbox(unreadable.id)).toMatchObject({ status: 'failed' });
    expect(await inbox(`evt_unverified${s}`)).toMatchObject({ status: 'failed' });

    // the failed job was replaced by the replay's, under the same id
    const job = await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', lookupFailed.id));
    expect(job?.name).toBe('stripe charge.succeeded');
    expect(job?.data).toMatchObject({ source: 'replay', summary: { eventId: lookupFailed.id, transactionKey: lookupFailed.key } });
  });

  it('is idempotent: replaying everything again books nothing twice', async () => {
    const before = await count(svc.db.db, transactions, svc.programId);
    const { code, lines } = await cli('--status', 'all', '--event', lookupFailed.id, '--event', booked.id, '--event', refundKept.id, '--wait');
    expect(code).toBe(0);
    expect(lines.join('\n')).toContain('processed 3, failed 0, ignored 0');
    expect(await count(svc.db.db, transactions, svc.programId)).toBe(before);
    expect((await stored(svc.db.db, svc.programId, lookupFailed.key))?.rewards.map((r) => r.amount)).toEqual(['5.8']);
    expect((await stored(svc.db.db, svc.programId, booked.key))?.rewards.map((r) => r.amount)).toEqual(['6.8']);
    expect((await inbox(refundKept.id)).outcome).toEqual([{ kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false }]);
    // nothing failed is left: a plain replay selects nothing but the unreadable one
    const again = await cli('--dry-run', '--gateway', 'stripe');
    expect(again.lines.at(-1)).toMatch(/^dry run, nothing written: 1 events: .* 1 would fail/);
  });

  it('selects by time range and program, and leaves a job that is already waiting alone', async () => {
    const old = variant('payment_intent.succeeded.json', `o${s}`);
    const [row] = await svc.db.db
      .insert(webhookEvents)
      .values({ programId: svc.programId, gateway: 'stripe', eventId: old.id, eventType: 'payment_intent.succeeded', rawBody: old.body.toString(), status: 'ignored', receivedAt: new Date('2025-01-15T10:00:00Z') })
      .returning();
    expect((await cli('--dry-run', '--status', 'ignored', '--from', '2025-01-16')).lines.at(-1)).toMatch(/^dry run, nothing written: 0 events/);
    expect((await cli('--dry-run', '--status', 'ignored', '--program', '00000000-0000-4000-8000-000000000000')).lines.at(-1)).toMatch(/: 0 events/);
    const ranged = await cli('--dry-run', '--status', 'ignored', '--from', '2025-01-15', '--to', '2025-01-15');
    expect(ranged.lines.at(-1)).toMatch(/: 1 events: 1 would create a transaction/);

    // its job is waiting (the worker is busy elsewhere): the replay leaves it to run
    await svc.service.producer!.queue.add('stripe payment_intent.succeeded', { programId: svc.programId, source: 'webhook', events: [] } as never, {
      jobId: paymentJobId(svc.programId, 'stripe', old.id),
      delay: 60_000,
    });
    const { lines } = await cli('--status', 'ignored', '--event', old.id);
    expect(lines).toContain('  → left alone: its job is delayed already');
    expect(lines.at(-1)).toMatch(/1 events: 0 queued, 1 already in the queue/);
    await (await svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', old.id)))!.remove();
    expect((await svc.db.db.select().from(webhookEvents).where(and(eq(webhookEvents.id, row!.id))))[0]?.status).toBe('ignored');
  });

  it('refuses bad options with the usage, and reports progress', async () => {
    for (const args of [['--status', 'processed'], ['--gateway', 'paypal'], ['--program', 'default'], ['--from', 'yesterday'], ['--bogus']]) {
      const { code, lines } = await cli(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(lines[0]).toMatch(/^replay: /);
    }
    const progress: number[] = [];
    const summary = await replayEvents(
      { db: svc.db.db, out: () => {}, progress: (p) => progress.push(p.done) },
      { status: 'all', gateway: 'stripe', programId: svc.programId, limit: 3 },
      { dryRun: true },
    );
    expect(summary.selected).toBe(3);
    expect(progress).toEqual([1, 2, 3]);
    expect(summaryLine(summary)).toMatch(/^dry run, nothing written: 3 events/);
    expect(selectionText({ status: 'failed' })).toBe('failed events from every gateway of every program');
    expect(parseWhen('2025-07-01', 'to')).toEqual(new Date('2025-07-02T00:00:00Z'));
    expect(parseWhen('2025-07-01T12:00:00Z', 'from')).toEqual(new Date('2025-07-01T12:00:00Z'));
  });
});
