// PostgreSQL down while WooCommerce and Stripe deliver: their deliveries are answered 503, and neither
// delivers them again (WooCommerce never retries; for Stripe, the outage outlasted its three days of
// retries). The gateways' own records (local fakes of the Stripe events list and the WooCommerce
// orders API, which the service reads through the official SDKs) still hold every payment. Once
// PostgreSQL is back, the scheduled reconcile (its maintenance job, triggered as the scheduler
// does) books every payment the outage lost, none twice, and says so in GET /v1/integrations.
import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { orderEventId } from '../../src/gateways/woocommerce/map.js';
import { MAINTENANCE_QUEUE } from '../../src/queue/queues.js';
import { callApi } from '../support/api.js';
import { makeSales, paymentDelivery, pool, prng, send, signedDelivery, type Delivery, type Sale } from '../support/deliveries.js';
import { fakeStripeEventsApi } from '../support/fake-gateway-api.js';
import { fakeWooCommerceApi, type FakeWooOrder } from '../support/fake-woocommerce-api.js';
import { stopAllServices } from '../support/processes.js';
import { startTempPostgres, type TempPostgres } from '../support/temp-postgres.js';
import { deploy, drained, expectedRewards, fromMicro, inboxCounts, ledgerFigures, PARTNERS, report, type Deployment } from './harness.js';

const BEFORE = 60;
const DURING = 40;
/** PostgreSQL stays down at least this long. */
const OUTAGE_MS = 10_000;
const KEY = 'pl_rel_reconcile_after_outage_key_0123456789';
const WOO = { consumerKey: 'ck_rel_reconcile', consumerSecret: 'cs_rel_reconcile' };

describe('PostgreSQL outage, then the scheduled reconcile', () => {
  it('deliveries refused during the outage and never retried are booked by the scheduled reconcile, once', { timeout: 300_000 }, async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const stripeEvents: Record<string, unknown>[] = [];
    const store = { orders: [] as FakeWooOrder[], ...WOO };
    const stripeApi = await fakeStripeEventsApi(stripeEvents).start();
    const wooApi = await fakeWooCommerceApi(store).start();
    let server: TempPostgres | undefined;
    let d: Deployment | undefined;
    let maintenance: Queue | undefined;
    try {
      server = await startTempPostgres();
      d = await deploy({
        workers: 1,
        databaseUrl: server.url('partner_ledger'),
        env: {
          API_KEY: KEY,
          STRIPE_API_KEY: 'sk_test_rel_reconcile',
          STRIPE_API_BASE: stripeApi.url,
          WOOCOMMERCE_URL: 'https://shop.example.com',
          WOOCOMMERCE_API_BASE: wooApi.url,
          WOOCOMMERCE_CONSUMER_KEY: WOO.consumerKey,
          WOOCOMMERCE_CONSUMER_SECRET: WOO.consumerSecret,
          // the schedule's own period stays an hour: the test triggers its job, as the scheduler does;
          // no lag, so payments of the last seconds are due
          RECONCILE_EVERY_MINUTES: '60',
          RECONCILE_LAG_SECONDS: '0',
        },
      });
      const dep = d;
      maintenance = new Queue(MAINTENANCE_QUEUE, { connection: { url: dep.redisUrl }, prefix: dep.prefix });
      maintenance.on('error', () => {});
      const completedRuns = async () => ((await dep.db.db.execute(sql`select count(*)::int as n from reconcile_runs where status = 'completed'`)).rows[0] as { n: number }).n;
      const runs = async (atLeast: number) => {
        const deadline = Date.now() + 60_000;
        while ((await completedRuns()) < atLeast) {
          if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} reconcile runs completed`);
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      // the schedule's first runs (at the worker's start) are over before any payment: with no lag,
      // a run listing a payment whose webhook is on its way would book it first (then the webhook is
      // the duplicate), which is right but not what this scenario counts
      await runs(2);

      const sales: Sale[] = makeSales(BEFORE + DURING, { tag: `ro${seed.toString(36)}`, random, partners: PARTNERS, customers: 50 }).map((s, i) => ({
        ...s,
        gateway: i % 2 ? 'stripe' : 'woocommerce',
      }));
      /** The payment as the gateway records it now (its list holds it) and the delivery of those bytes. */
      const occur = (sale: Sale): Delivery => {
        const payload = JSON.parse(paymentDelivery(sale).body.toString()) as Record<string, unknown>;
        if (sale.gateway === 'stripe') {
          const event: Record<string, unknown> = { ...payload, created: Math.floor(Date.now() / 1000) };
          stripeEvents.push(event);
          return signedDelivery('stripe', event.id as string, Buffer.from(JSON.stringify(event)));
        }
        const at = new Date().toISOString().slice(0, 19);
        const order = { ...payload, date_modified: at, date_modified_gmt: at } as unknown as FakeWooOrder;
        store.orders.push(order);
        return signedDelivery('woocommerce', orderEventId(order as never), Buffer.from(JSON.stringify(order)));
      };

      // before: delivered and processed
      const before = sales.slice(0, BEFORE).map(occur);
      await pool(before, 8, async (e) => {
        const a = await send(dep.api.url, e);
        if (a.status !== 200) throw new Error(`${e.gateway}/${e.eventId}: ${a.status} ${a.text}`);
      });
      await drained(dep, BEFORE, 120_000);

      // the outage: each payment is delivered once, refused, and never delivered again
      await server.stop('SIGINT');
      const stoppedAt = Date.now();
      const during = sales.slice(BEFORE).map(occur);
      const duringStatuses: Record<string, number> = {};
      await pool(during, 4, async (e) => {
        const a = await send(dep.api.url, e, { timeoutMs: 15_000 });
        duringStatuses[a.status] = (duringStatuses[a.status] ?? 0) + 1;
      });
      // down a while longer, as an outage is: nothing arrives meanwhile (the gateways gave up)
      while (Date.now() - stoppedAt < OUTAGE_MS) await new Promise((r) => setTimeout(r, 250));
      await server.start();
      const outageMs = Date.now() - stoppedAt;
      const afterOutage = await inboxCounts(dep.db.db);

      // the scheduler's job: one reconcile a program and gateway, in the maintenance queue
      const triggeredAt = Date.now();
      await maintenance.add('reconcile', {});
      const drain = await drained(dep, BEFORE + DURING, 120_000);
      const bookedAfterMs = Date.now() - triggeredAt;
      const ledger = await ledgerFigures(dep.db.db);
      const sources = (
        await dep.db.db.execute(sql`select gateway, headers->>'source' as source, count(*)::int as n from webhook_events group by 1, 2 order by 1, 2 nulls first`)
      ).rows as { gateway: string; source: string | null; n: number }[];

      // a second run finds nothing missing; a late Stripe retry of an outage event is a duplicate
      const runsBefore = await completedRuns();
      await maintenance.add('reconcile', {});
      await runs(runsBefore + 2);
      const lastRuns = (
        await dep.db.db.execute(sql`select distinct on (gateway) gateway, missing, queued from reconcile_runs where status = 'completed' order by gateway, id desc`)
      ).rows as { gateway: string; missing: number; queued: number }[];
      const late = during.find((e) => e.gateway === 'stripe')!;
      const lateAnswer = await send(dep.api.url, late);
      const final = await drained(dep, BEFORE + DURING, 60_000);
      const ledgerAfter = await ledgerFigures(dep.db.db);
      const status = await callApi(dep.api.url, 'GET', '/v1/integrations', undefined, KEY);
      const reconcileStatus = Object.fromEntries(
        (status.body.data.gateways as { gateway: string; reconcile: Record<string, unknown> }[]).filter((g) => ['stripe', 'woocommerce'].includes(g.gateway)).map((g) => [g.gateway, g.reconcile]),
      );
      const warnings = (status.body.data.warnings as string[]).filter((w) => /not delivered/.test(w));

      report('reconcile-after-outage', {
        seed,
        payments: BEFORE + DURING,
        before: BEFORE,
        duringOutage: DURING,
        outageSeconds: outageMs / 1000,
        deliveriesDuringOutage: duringStatuses,
        inboxAfterOutage: afterOutage,
        bookedSecondsAfterTrigger: bookedAfterMs / 1000,
        inbox: drain.inbox,
        inboxBySource: sources,
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        transactionsWithSeveralRewards: ledger.transactionsWithSeveralRewards,
        rewardTotals: Object.fromEntries(Object.entries(ledger.rewardTotals).map(([u, v]) => [u, fromMicro(v)])),
        rewardTotalsAsExpected: Object.entries(expectedRewards(sales)).every(([u, v]) => ledger.rewardTotals[u] === v) && Object.keys(ledger.rewardTotals).length === Object.keys(expectedRewards(sales)).length,
        secondRun: lastRuns,
        lateStripeRetry: lateAnswer.status,
        transactionsAfterLateRetry: ledgerAfter.transactions,
        reconcileStatus,
        warnings,
      });

      expect(Object.keys(duringStatuses)).toEqual(['503']);
      expect(afterOutage).toEqual({ processed: BEFORE });
      expect(drain.inbox).toEqual({ processed: BEFORE + DURING });
      expect(sources).toEqual([
        { gateway: 'stripe', source: null, n: BEFORE / 2 },
        { gateway: 'stripe', source: 'reconcile', n: DURING / 2 },
        { gateway: 'woocommerce', source: null, n: BEFORE / 2 },
        { gateway: 'woocommerce', source: 'reconcile', n: DURING / 2 },
      ]);
      expect(ledger.transactions).toBe(BEFORE + DURING);
      expect(ledger.distinctKeys).toBe(BEFORE + DURING);
      expect(ledger.rewards).toBe(BEFORE + DURING);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
      expect(lastRuns.map((r) => r.missing)).toEqual([0, 0]);
      expect(lateAnswer).toMatchObject({ status: 200, text: expect.stringContaining('"duplicate":true') });
      expect(final.inbox).toEqual({ processed: BEFORE + DURING });
      expect(ledgerAfter.transactions).toBe(BEFORE + DURING);
      expect(reconcileStatus.stripe).toMatchObject({ missing_last_7_days: DURING / 2, missing_last_run: 0 });
      expect(reconcileStatus.woocommerce).toMatchObject({ missing_last_7_days: DURING / 2, missing_last_run: 0 });
      expect(warnings).toHaveLength(2);
      expect(dep.workers.every((w) => w.alive()) && dep.api.alive()).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const w of d?.workers ?? []) console.log(`[debug] ${w.name}:\n${w.output().slice(-8000)}`);
      throw err;
    } finally {
      await maintenance?.close().catch(() => {});
      await d?.stop();
      await server?.destroy();
      await stopAllServices();
      await stripeApi.stop();
      await wooApi.stop();
    }
  });
});
