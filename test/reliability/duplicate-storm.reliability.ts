// Duplicate storm: gateways deliver at least once and out of order. 2,000 payments over the four
// gateways, 200 of them refunded in full, every delivery sent three times at once, in random order
// (refunds often before their payment), through the real HTTP receivers with real signatures, to the
// real worker processes. Exactly 2,000 transactions, 200 deleted, and reward totals equal to 20% of
// the 1,800 sales left, computed here independently.
import { afterEach, describe, expect, it } from 'vitest';
import {
  makeSales,
  paymentDelivery,
  pool,
  prng,
  refundDelivery,
  send,
  shuffle,
  transactionKey,
  type Delivery,
} from '../support/deliveries.js';
import { stopAllServices } from '../support/processes.js';
import { deploy, drained, expectedRewards, fromMicro, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const SALES = 2000;
const REFUNDED = 200;
const COPIES = 3;
/** Events in flight at once (each with its three copies). */
const EVENTS_IN_FLIGHT = 16;

let deployment: Deployment | undefined;
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
  await stopAllServices();
});

async function storm(workers: number) {
  const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  deployment = await deploy({ workers });
  const d = deployment;
  const sales = makeSales(SALES, { tag: `s${workers}${seed.toString(36)}`, random, partners: PARTNERS, customers: 400 });
  const refunded = new Set(shuffle(sales, random).slice(0, REFUNDED));
  const events: Delivery[] = [...sales.map(paymentDelivery), ...[...refunded].map(refundDelivery)];
  expect(new Set(events.map((e) => `${e.gateway}/${e.eventId}`)).size).toBe(SALES + REFUNDED);

  const started = Date.now();
  const statuses: Record<string, number> = {};
  let duplicates = 0;
  await pool(shuffle(events, random), EVENTS_IN_FLIGHT, async (e) => {
    const answers = await Promise.all(Array.from({ length: COPIES }, () => send(d.api.url, e)));
    for (const a of answers) {
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      if (a.text.includes('"duplicate":true')) duplicates++;
      if (a.status !== 200) throw new Error(`${e.gateway}/${e.eventId}: ${a.status} ${a.text}`);
    }
  });
  const ingestMs = Date.now() - started;
  const drain = await drained(d, SALES + REFUNDED, 180_000);
  const totalMs = Date.now() - started;

  const ledger = await ledgerFigures(d.db.db);
  const q = await queueCounts(d.queue);
  const expected = expectedRewards(sales.filter((s) => !refunded.has(s)));
  const figures = {
    seed,
    workers,
    requests: events.length * COPIES,
    statuses,
    duplicateAcks: duplicates,
    ingestSeconds: ingestMs / 1000,
    requestsPerSecond: Math.round((events.length * COPIES) / (ingestMs / 1000)),
    drainedSeconds: totalMs / 1000,
    inbox: drain.inbox,
    jobs: { completed: q.completed, failed: q.failed, active: q.active },
    transactions: ledger.transactions,
    deleted: ledger.deletedTransactions,
    rewards: ledger.rewards,
    deletedRewards: ledger.deletedRewards,
    rewardTotals: Object.fromEntries(Object.entries(ledger.rewardTotals).map(([k, v]) => [k, fromMicro(v)])),
    expectedTotals: Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, fromMicro(v)])),
  };
  report(`duplicate-storm-${workers}-worker${workers > 1 ? 's' : ''}${d.backend === 'postgres' ? '-queue-postgres' : ''}`, figures);

  expect(statuses).toEqual({ 200: events.length * COPIES });
  expect(drain.inbox).toEqual({ processed: SALES + REFUNDED });
  expect(q.failed).toBe(0);
  expect(ledger.transactions).toBe(SALES);
  expect(ledger.distinctKeys).toBe(SALES);
  expect(ledger.deletedTransactions).toBe(REFUNDED);
  expect(ledger.rewards).toBe(SALES);
  expect(ledger.deletedRewards).toBe(REFUNDED);
  expect(ledger.transactionsWithSeveralRewards).toBe(0);
  expect(ledger.rewardTotals).toEqual(expected);

  // the refunded ones are exactly the sales refunded, and none other
  const deletedKeys = (await d.db.pool.query<{ key: string }>('select key from transactions where deleted_at is not null')).rows.map((r) => r.key);
  expect(new Set(deletedKeys)).toEqual(new Set([...refunded].map(transactionKey)));
}

// (timeouts for the slowest hours: 6,600 deliveries took 102–114 s to send there, 18–25 s in a usual one)
describe('duplicate storm', { timeout: 420_000 }, () => {
  it(`${SALES} payments and ${REFUNDED} refunds, each delivered ${COPIES} times at once in random order, with one worker: exactly once`, async () => {
    await storm(1);
  });

  it('the same with two worker processes', async () => {
    await storm(2);
  });
});
