// Reconcile, the part the CLI command and the scheduled job share: which gateways a program can be
// reconciled for, their sources, and one run of one gateway over one range, recorded in
// reconcile_runs (db/reconcile-runs.ts). The scheduled job (RECONCILE_EVERY_MINUTES, in the
// maintenance queue) runs each configured gateway of each program from where its last completed run
// ended, one window at a time.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { finishRun, lastReconciledTo, startRun, type RunTrigger } from '../db/reconcile-runs.js';
import { programs, type GatewaySettings } from '../db/schema.js';
import { chargebeeEventSource } from '../gateways/chargebee/events.js';
import { RequestPacer, type EventSource } from '../gateways/event-source.js';
import type { ApiBases } from '../gateways/gateway.js';
import { paddleEventSource } from '../gateways/paddle/events.js';
import { stripeEventSource } from '../gateways/stripe/events.js';
import { wooCommerceClient, type OrderSource } from '../gateways/woocommerce/client.js';
import type { PaymentProducer } from '../queue/producer.js';
import { reconcileEvents, type EventsSummary } from './reconcile-events.js';
import { reconcileOrders, type ReconcileSummary } from './reconcile-orders.js';

export const RECONCILE_GATEWAYS = ['stripe', 'paddle', 'chargebee', 'woocommerce'] as const;
export type ReconcileGateway = (typeof RECONCILE_GATEWAYS)[number];

/** The event source of a gateway for a program's stored settings and the operator's API host. */
export function eventSourceFor(
  gateway: Exclude<ReconcileGateway, 'woocommerce'>,
  settings: GatewaySettings,
  apiBases: ApiBases,
  pacer: RequestPacer,
  say?: (line: string) => void,
): EventSource | null {
  if (gateway === 'stripe') return stripeEventSource(settings.stripe, apiBases.stripe, pacer);
  if (gateway === 'paddle') return paddleEventSource(settings.paddle, apiBases.paddle, pacer, say);
  return chargebeeEventSource(settings.chargebee, apiBases.chargebee, pacer);
}

export type SourceOptions = { apiBases: ApiBases; rps: number; allowLoopback: boolean; onWait?: (line: string) => void };

/** What reconcile reads for a program's gateway; null when its API access is not configured. */
export function reconcileSource(
  gateway: ReconcileGateway,
  settings: GatewaySettings,
  opts: SourceOptions,
): { kind: 'events'; source: EventSource } | { kind: 'orders'; orders: OrderSource } | null {
  if (gateway === 'woocommerce') {
    const orders = wooCommerceClient(settings.woocommerce, { apiBase: opts.apiBases.woocommerce, policy: { allowLoopback: opts.allowLoopback } });
    return orders ? { kind: 'orders', orders } : null;
  }
  const source = eventSourceFor(gateway, settings, opts.apiBases, new RequestPacer({ rps: opts.rps, onWait: opts.onWait }), opts.onWait);
  return source ? { kind: 'events', source } : null;
}

/** The gateways of a program whose API reconcile can read. */
export function reconcilableGateways(settings: GatewaySettings, opts: SourceOptions): ReconcileGateway[] {
  return RECONCILE_GATEWAYS.filter((g) => {
    try {
      return reconcileSource(g, settings, opts) !== null;
    } catch {
      // settings a client cannot be made from: that gateway's run would fail; the others still run
      return false;
    }
  });
}

/** One run's figures, the same for every gateway. */
export type RunResult = {
  /** Records the gateway listed (events; WooCommerce: orders modified). */
  found: number;
  /** Of those, the ones no webhook had delivered (the inbox lacked them). */
  missing: number;
  queued: number;
  failed: number;
  deferred: number;
};

export const fromEvents = (s: EventsSummary): RunResult => ({ found: s.found, missing: s.missing, queued: s.queued, failed: s.failed, deferred: s.deferred });
export const fromOrders = (s: ReconcileSummary): RunResult => ({
  found: s.orders,
  missing: s.queued + s.failed + s.deferred,
  queued: s.queued,
  failed: s.failed,
  deferred: s.deferred,
});

/** Runs `body` as a recorded run of the program's gateway: completed with its figures, or failed with the error. */
export async function recordedRun(
  db: Db,
  run: { programId: string; gateway: string; from: Date; to: Date; trigger: RunTrigger },
  body: () => Promise<RunResult>,
): Promise<RunResult> {
  const id = await startRun(db, run);
  try {
    const result = await body();
    await finishRun(db, id, { status: 'completed', ...result });
    return result;
  } catch (err) {
    await finishRun(db, id, { status: 'failed', error: (err as Error).message }).catch(() => {});
    throw err;
  }
}

export type ScheduleOptions = SourceOptions & {
  db: Db;
  producer: Pick<PaymentProducer, 'add'>;
  /** The first run of a gateway starts this far back (or at the program's creation, if later). */
  firstRunBackMs: number;
  /** Events younger than this are left for the next run: their webhook may be on its way. */
  lagMs: number;
  /** The longest range one run covers; a gateway further behind catches up run after run. */
  maxWindowMs: number;
  now?: () => Date;
  out?: (line: string) => void;
};

export type ScheduledRun = RunResult & { programId: string; gateway: ReconcileGateway; from: Date; to: Date; caughtUp: boolean };

/** Defaults of the schedule: first run one day back, 5 minutes' lag (RECONCILE_LAG_SECONDS), at most one day a run. */
export const SCHEDULE_DEFAULTS = { firstRunBackMs: 86_400_000, lagMs: 5 * 60_000, maxWindowMs: 86_400_000 };

/**
 * One scheduled run of a program's gateway: from the end of its last completed run (the first: a day
 * back) to now minus the lag, at most one window. Null when there is nothing to do (not configured,
 * or already reconciled up to now).
 */
export async function scheduledRun(opts: ScheduleOptions, programId: string, gateway: ReconcileGateway): Promise<ScheduledRun | null> {
  const now = (opts.now ?? (() => new Date()))();
  const [program] = await opts.db
    .select({ id: programs.id, gateways: programs.gateways, livemode: programs.livemode, createdAt: programs.createdAt })
    .from(programs)
    .where(eq(programs.id, programId));
  if (!program) return null;
  const what = reconcileSource(gateway, program.gateways, opts);
  if (!what) return null;
  const last = await lastReconciledTo(opts.db, programId, gateway);
  const from = last ?? new Date(Math.max(program.createdAt.getTime(), now.getTime() - opts.firstRunBackMs));
  const end = new Date(now.getTime() - opts.lagMs);
  if (end.getTime() <= from.getTime()) return null;
  const to = new Date(Math.min(end.getTime(), from.getTime() + opts.maxWindowMs));
  const out = opts.out ?? (() => {});
  const result = await recordedRun(opts.db, { programId, gateway, from, to, trigger: 'schedule' }, async () =>
    what.kind === 'events'
      ? fromEvents(await reconcileEvents({ db: opts.db, source: what.source, producer: opts.producer, out }, { program: { id: programId, livemode: program.livemode }, from, to }))
      : fromOrders(await reconcileOrders({ db: opts.db, orders: what.orders, producer: opts.producer, out }, { programId, from, to })),
  );
  return { ...result, programId, gateway, from, to, caughtUp: to.getTime() >= end.getTime() };
}

/** Every program's reconcilable gateways, for the fan-out of the schedule. */
export async function scheduledTargets(db: Db, opts: SourceOptions): Promise<{ programId: string; gateway: ReconcileGateway }[]> {
  const rows = await db.select({ id: programs.id, gateways: programs.gateways }).from(programs);
  return rows.flatMap((p) => reconcilableGateways(p.gateways, opts).map((gateway) => ({ programId: p.id, gateway })));
}
