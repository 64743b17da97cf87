// Redis outage: the service runs against a Redis of the test's own (append-only file on, as in
// docker-compose), which is stopped in the middle of a stream of deliveries and started again. Every
// request is answered 2xx or 503 (so the gateway retries), never anything else; no 2xx is given for an
// event the queue did not have; and once Redis is back, every acknowledged event is processed, and the
// gateway's retries of the 503s land too.
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { paymentJobId } from '../../src/queue/queues.js';
import { makeSales, paymentDelivery, pool, prng, send, type Delivery } from '../support/deliveries.js';
import { stopAllServices } from '../support/processes.js';
import { startTempRedis, type TempRedis } from '../support/temp-redis.js';
import { deploy, drained, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const EVENTS = 1500;
/** Deliveries in flight at once, each lane sending at most one delivery per PACE_MS. */
const LANES = 8;
const PACE_MS = 60;
const OUTAGE_MS = 4000;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
  await stopAllServices();
});

/**
 * Deliver EVENTS payments (each as `copies` simultaneous requests), stop Redis a quarter of the way
 * through for OUTAGE_MS, start it again, let the "gateway" retry what was refused until it is
 * acknowledged, and wait until everything is processed.
 */
async function outage(copies: number, env: Record<string, string> = {}) {
  const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000) + copies;
  const redis: TempRedis = await startTempRedis();
  cleanups.push(() => redis.destroy());
  const dep: Deployment = await deploy({ workers: 1, redisUrl: redis.url, env });
  cleanups.unshift(() => dep.stop()); // the service stops before its Redis goes
  const sales = makeSales(EVENTS, { tag: `r${copies}${seed.toString(36)}`, random: prng(seed), partners: PARTNERS, customers: 500 });
  const deliveries = sales.map(paymentDelivery);
  const statuses: Record<string, number> = {};
  const acked = new Set<Delivery>();
  /** Per event, the statuses of each round of deliveries (its simultaneous copies together). */
  const answers = new Map<Delivery, number[][]>();
  const deliver = async (e: Delivery) => {
    const sent = await Promise.all(Array.from({ length: copies }, () => send(dep.api.url, e, { timeoutMs: 15_000 })));
    for (const a of sent) {
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      if (a.status >= 200 && a.status < 300) acked.add(e);
    }
    answers.set(e, [...(answers.get(e) ?? []), sent.map((a) => a.status)]);
  };

  let sent = 0;
  let window: { from: number; to: number; sentBefore: number; sentDuring: number } | undefined;
  const started = Date.now();
  let outageDone: Promise<void> = Promise.resolve();
  await pool(deliveries, LANES, async (e) => {
    if (!window && sent >= EVENTS / 4) {
      const w = (window = { from: Date.now() - started, to: 0, sentBefore: sent, sentDuring: 0 });
      outageDone = (async () => {
        await redis.stop('SIGTERM');
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
        w.sentDuring = sent - w.sentBefore;
        await redis.start();
        w.to = Date.now() - started;
      })();
    }
    sent++;
    const t = Date.now();
    await deliver(e);
    await new Promise((r) => setTimeout(r, Math.max(0, PACE_MS - (Date.now() - t))));
  });
  await outageDone;
  const firstPass = { acked: acked.size, refused: EVENTS - acked.size };

  // what the queue has, with Redis back from its append-only file, and what the inbox kept
  const withoutJob: Delivery[] = [];
  for (const e of acked) {
    if (!(await dep.queue.getJob(paymentJobId(dep.programId, e.gateway, e.eventId)))) withoutJob.push(e);
  }
  const inboxOf = async (list: Delivery[]) => {
    if (!list.length) return {};
    const rows = (
      await dep.db.db.execute(
        sql`select status::text, count(*)::int as n from webhook_events where event_id in (${sql.join(list.map((e) => sql`${e.eventId}`), sql`, `)}) group by status`,
      )
    ).rows as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  };
  const withoutJobInbox = await inboxOf(withoutJob);

  // the gateways retry what was refused, with backoff, until it is acknowledged
  let rounds = 0;
  for (; rounds < 20 && acked.size < EVENTS; rounds++) {
    await new Promise((r) => setTimeout(r, 250 * 2 ** Math.min(rounds, 3)));
    await pool(
      deliveries.filter((e) => !acked.has(e)),
      LANES,
      deliver,
    );
  }
  const drain = await drained(dep, EVENTS, 150_000);
  const ledger = await ledgerFigures(dep.db.db);
  const q = await queueCounts(dep.queue);
  const figures = {
    seed,
    events: EVENTS,
    copiesPerDelivery: copies,
    outageSeconds: OUTAGE_MS / 1000,
    outage: window,
    statuses,
    firstPass,
    ackedWithoutJob: withoutJob.length,
    ackedWithoutJobInbox: withoutJobInbox,
    retryRounds: rounds,
    inbox: drain.inbox,
    jobs: { completed: q.completed, failed: q.failed },
    transactions: ledger.transactions,
    drainedAfterSeconds: (Date.now() - started) / 1000,
  };
  report(`redis-outage-${copies}-cop${copies > 1 ? 'ies' : 'y'}`, figures);
  return {
    figures,
    statuses,
    acked,
    answers,
    withoutJob,
    withoutJobInbox,
    drain,
    ledger,
    q,
    alive: [dep.api, ...dep.workers].every((p) => p.alive()),
  };
}

type Outcome = Awaited<ReturnType<typeof outage>>;

/** What holds whatever the copies: only 2xx and 503, nothing lost, everything processed once. */
function nothingLost(r: Outcome) {
  expect(Object.keys(r.statuses).sort()).toEqual(['200', '503']);
  expect(r.statuses['503']).toBeGreaterThan(0);
  expect(r.acked.size).toBe(EVENTS);
  expect(r.drain.inbox).toEqual({ processed: EVENTS });
  expect(r.q.failed).toBe(0);
  expect(r.ledger.transactions).toBe(EVENTS);
  expect(r.ledger.rewards).toBe(EVENTS);
  expect(r.alive).toBe(true);
  // once an event is answered 2xx, every later delivery of it is too (a duplicate)
  for (const [, rounds] of r.answers) {
    const first = rounds.findIndex((round) => round.includes(200));
    for (const round of rounds.slice(first + 1)) expect(round.every((s) => s === 200)).toBe(true);
  }
}

let twoCopies: Promise<Outcome> | undefined;
const concurrentCopies = () =>
  // the inbox sweeper is what re-queues an event the queue lost: let it look at 5-second-old events
  (twoCopies ??= outage(2, { SWEEP_AFTER_SECONDS: '5' }));

// the runs use their own Redis servers and deployments, so they run side by side
describe.concurrent('Redis outage', () => {
  it('one delivery per event: 2xx or 503 while Redis is down, no 2xx the queue lacks, every acknowledged event processed once it is back', async () => {
    const r = await outage(1);
    nothingLost(r);
    expect(r.withoutJob.map((e) => e.eventId)).toEqual([]);
  });

  it('two simultaneous copies per event: still only 2xx or 503, and nothing lost (the inbox sweeper queues what the queue missed)', async () => {
    const r = await concurrentCopies();
    nothingLost(r);
    // any event acknowledged without a job was kept in the inbox as `received`, for the sweeper
    expect(Object.keys(r.withoutJobInbox).filter((s) => s !== 'received')).toEqual([]);
  });

  // a copy that arrives while the first copy's queueing is in flight adds the job itself (idempotent),
  // so it too is answered 2xx only once the queue has it
  it('two simultaneous copies per event: no 2xx for an event the queue did not have', async () => {
    const r = await concurrentCopies();
    expect(r.withoutJob.map((e) => e.eventId)).toEqual([]);
  });
});
