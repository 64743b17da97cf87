// `npm run cli -- reconcile [--gateway stripe|paddle|chargebee|woocommerce] --from YYYY-MM-DD
//   [--to YYYY-MM-DD] [--program <id>] [--dry-run]`
//
// One reconcile for every gateway: Stripe, Paddle and Chargebee list their events (the sources in
// src/gateways/<name>/events.ts, driven by reconcile-events.ts); WooCommerce keeps no event list, so
// its orders modified in the range are read instead (below). --gateway defaults to woocommerce, the
// only gateway the command knew before.
//
// WooCommerce never redelivers a webhook, and disables one after 5 failed deliveries: an outage on
// our side loses orders for good. This fetches the orders modified in a date range through the REST
// API, maps each one exactly as its webhook would be (same facts, same event id) and queues the ones
// the inbox does not have yet. An order state a webhook already delivered is a duplicate in the inbox;
// a newer state of a stored order only merges into its transaction. So running it twice, or over a
// range the webhooks covered, books nothing twice.
import { parseArgs } from 'node:util';
import { and, eq } from 'drizzle-orm';
import type { CliContext } from './command.js';
import { progressLine as sharedProgressLine, terminalProgress as sharedTerminalProgress } from './progress.js';
import { fromMinorUnits } from '../core/money.js';
import type { PaymentEvent } from '../core/payment-event.js';
import type { Db } from '../db/client.js';
import { DEFAULT_PROGRAM_SLUG } from '../db/default-program.js';
import { programs, webhookEvents } from '../db/schema.js';
import { normalize } from '../ingest/normalize.js';
import { PaymentProducer } from '../queue/producer.js';
import { pingRedis, producerConnection } from '../queue/redis.js';
import { wooCommerceClient, type OrderSource } from '../gateways/woocommerce/client.js';
import { woocommerceAdapter } from '../gateways/woocommerce/index.js';
import { chargebeeEventSource } from '../gateways/chargebee/events.js';
import { RequestPacer, type EventSource } from '../gateways/event-source.js';
import type { ApiBases } from '../gateways/gateway.js';
import { paddleEventSource } from '../gateways/paddle/events.js';
import { apiBasesFrom, type GatewaySettings } from '../gateways/settings.js';
import { STRIPE_EVENT_RETENTION_DAYS, stripeEventSource } from '../gateways/stripe/events.js';
import { eventsSummaryLines, reconcileEvents } from './reconcile-events.js';
import { orderEventId } from '../gateways/woocommerce/map.js';
import { looksLikeOrder } from '../gateways/woocommerce/wire.js';

export const PER_PAGE = 100;

export type ReconcileOptions = {
  programId: string;
  /** Orders modified at or after this instant... */
  from: Date;
  /** ...and before this one. */
  to: Date;
  /** Print what would be queued; write nothing. */
  dryRun?: boolean;
  perPage?: number;
};

export type ReconcileProgress = { done: number; total: number | null; elapsedMs: number };

export type ReconcileDeps = {
  db: Db;
  orders: OrderSource;
  /** Where jobs go; not needed in a dry run. */
  producer?: Pick<PaymentProducer, 'add'>;
  /** One line of output (what is queued or failed, and the summary). */
  out: (line: string) => void;
  /** Called after each order, for a progress display. */
  progress?: (p: ReconcileProgress) => void;
  now?: () => number;
};

export type ReconcileSummary = {
  dryRun: boolean;
  /** Orders the API returned for the range. */
  orders: number;
  /** Queued now (in a dry run: would be). */
  queued: number;
  /** This order state is in the inbox already (a webhook, or an earlier run, brought it). */
  alreadyReceived: number;
  /** Not a payment in any way (pending, cancelled ...). */
  ignored: number;
  /** Data that will never map (kept in the inbox as failed, with the reason). */
  failed: number;
  /** Stored, but the queue was unavailable: the inbox sweeper queues these. */
  deferred: number;
  elapsedMs: number;
};

/** `--from 2025-07-01 --to 2025-07-31`: whole UTC days, both included. */
export function dayRange(from: string, to: string): { from: Date; to: Date } {
  const day = (s: string, name: string) => {
    const d = /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00Z`) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s) throw new Error(`--${name} must be a date as YYYY-MM-DD, not "${s}"`);
    return d;
  };
  const start = day(from, 'from');
  const end = new Date(day(to, 'to').getTime() + 86_400_000);
  if (end <= start) throw new Error('--to is before --from');
  return { from: start, to: end };
}

const factsText = (events: PaymentEvent[]) =>
  events
    .map((e) => {
      const money = (m: { minor: string; currency: string }) => `${fromMinorUnits(BigInt(m.minor), m.currency)} ${m.currency}`;
      if (e.kind === 'payment') return `payment ${e.transactionKey} ${money(e.amount)}${e.partnerKey ? ` (partner_key ${e.partnerKey.value})` : ''}`;
      if (e.kind === 'refund') return `refund ${e.refundId}${e.amount ? ` ${money(e.amount)}` : ' (whole order)'}`;
      return `dispute ${e.disputeId}`;
    })
    .join(', ');

export async function reconcileOrders(deps: ReconcileDeps, opts: ReconcileOptions): Promise<ReconcileSummary> {
  const now = deps.now ?? Date.now;
  const started = now();
  const perPage = opts.perPage ?? PER_PAGE;
  const dryRun = opts.dryRun ?? false;
  if (!dryRun && !deps.producer) throw new Error('reconcile needs a queue producer unless it is a dry run');
  const s: ReconcileSummary = { dryRun, orders: 0, queued: 0, alreadyReceived: 0, ignored: 0, failed: 0, deferred: 0, elapsedMs: 0 };
  const inInbox = async (eventId: string) =>
    (
      await deps.db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(
          and(
            eq(webhookEvents.programId, opts.programId),
            eq(webhookEvents.gateway, 'woocommerce'),
            eq(webhookEvents.eventId, eventId),
          ),
        )
    ).length > 0;

  const one = async (raw: unknown) => {
    if (!looksLikeOrder(raw)) {
      s.failed++;
      deps.out(`  skipped an entry that is not an order: ${JSON.stringify(raw).slice(0, 80)}`);
      return;
    }
    const eventId = orderEventId(raw);
    const normalized = normalize(woocommerceAdapter, raw, { livemode: null }, undefined);
    if (normalized.status === 'ignored') {
      s.ignored++;
      return;
    }
    const label = `order ${raw.id} (${raw.status})`;
    if (dryRun) {
      if (await inInbox(eventId)) s.alreadyReceived++;
      else if (normalized.status === 'failed') {
        s.failed++;
        deps.out(`  ${label} would fail: ${normalized.reason}`);
      } else {
        s.queued++;
        deps.out(`  would queue ${label}: ${factsText(normalized.events)}`);
      }
      return;
    }
    const [row] = await deps.db
      .insert(webhookEvents)
      .values({
        programId: opts.programId,
        gateway: 'woocommerce',
        eventId,
        eventType: `order.${raw.status}`.slice(0, 255),
        rawBody: JSON.stringify(raw),
        headers: { source: 'reconcile' },
        status: normalized.status,
        lastError: normalized.status === 'failed' ? normalized.reason : null,
        processedAt: normalized.status === 'failed' ? new Date() : null,
      })
      .onConflictDoNothing({ target: [webhookEvents.programId, webhookEvents.gateway, webhookEvents.eventId] })
      .returning({ id: webhookEvents.id });
    if (!row) {
      s.alreadyReceived++;
      return;
    }
    if (normalized.status === 'failed') {
      s.failed++;
      deps.out(`  ${label} failed: ${normalized.reason}`);
      return;
    }
    try {
      await deps.producer!.add(
        { programId: opts.programId, inboxId: row.id.toString(), source: 'reconcile', events: normalized.events },
        { gateway: 'woocommerce', eventId },
      );
      s.queued++;
    } catch (err) {
      // kept as received: the sweeper queues it once Redis answers
      await deps.db.update(webhookEvents).set({ status: 'received' }).where(eq(webhookEvents.id, row.id));
      s.deferred++;
      deps.out(`  ${label} stored, not queued (${(err as Error).message}): the inbox sweeper will queue it`);
    }
  };

  let total: number | null = null;
  for (let page = 1; ; page++) {
    const answer = await deps.orders.listOrders({
      // WooCommerce's "after" is exclusive and its dates are whole seconds: one second earlier
      // includes an order modified exactly at midnight
      modifiedAfter: new Date(opts.from.getTime() - 1000),
      modifiedBefore: opts.to,
      page,
      perPage,
    });
    total = answer.total ?? total;
    for (const raw of answer.orders) {
      await one(raw);
      s.orders++;
      deps.progress?.({ done: s.orders, total: total === null ? null : Math.max(total, s.orders), elapsedMs: now() - started });
    }
    if (answer.orders.length < perPage || (answer.totalPages !== null && page >= answer.totalPages)) break;
  }
  s.elapsedMs = now() - started;
  return s;
}

export function summaryLine(s: ReconcileSummary): string {
  const seconds = `${(s.elapsedMs / 1000).toFixed(1)}s`;
  const rest = `${s.alreadyReceived} already received, ${s.ignored} ignored (not paid), ${s.failed} failed`;
  if (s.dryRun) return `dry run, nothing written: ${s.orders} orders, ${s.queued} would be queued, ${rest} (${seconds})`;
  const deferred = s.deferred ? `, ${s.deferred} left for the sweeper (queue unavailable)` : '';
  return `${s.orders} orders: ${s.queued} queued, ${rest}${deferred} (${seconds})`;
}

/** `150/312 orders  48.2/s  ~4s left` (without a total from the store: `150 orders  48.2/s`). */
export function progressLine(p: ReconcileProgress): string {
  return sharedProgressLine(p, 'orders');
}

/** A progress line redrawn in place on a terminal (at most every 100 ms); nothing when not a TTY. */
export function terminalProgress(stream: NodeJS.WriteStream) {
  return sharedTerminalProgress(stream, 'orders');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function findProgram(db: Db, id: string | undefined) {
  if (id !== undefined && !UUID.test(id)) throw new Error(`--program must be a program id (a UUID), not "${id}"`);
  const [row] = await db
    .select({ id: programs.id, gateways: programs.gateways, livemode: programs.livemode })
    .from(programs)
    .where(id === undefined ? eq(programs.slug, DEFAULT_PROGRAM_SLUG) : eq(programs.id, id));
  if (!row) {
    throw new Error(
      id === undefined ? 'there is no default program yet: start the service once (npm start) to create it' : `no program ${id}`,
    );
  }
  return row;
}

export const RECONCILE_GATEWAYS = ['stripe', 'paddle', 'chargebee', 'woocommerce'] as const;
export type ReconcileGateway = (typeof RECONCILE_GATEWAYS)[number];

export const USAGE =
  'usage: npm run cli -- reconcile [--gateway stripe|paddle|chargebee|woocommerce] --from YYYY-MM-DD [--to YYYY-MM-DD] [--program <id>] [--dry-run]\n' +
  '  reads the gateway\'s own record (Stripe, Paddle, Chargebee: its events; WooCommerce: orders modified) of whole UTC days\n' +
  '  --from .. --to (default: today), and queues what no webhook delivered, as a webhook would be (source: reconcile).\n' +
  '  --gateway defaults to woocommerce. Requests are paced at RECONCILE_RPS a second; a 429 is waited out (Retry-After).';

const NOT_CONFIGURED: Record<Exclude<ReconcileGateway, 'woocommerce'>, string> = {
  stripe: 'a Stripe secret key (STRIPE_API_KEY for the default program, or api_key in PATCH /v1/program)',
  paddle: 'a Paddle API key (PADDLE_API_KEY for the default program, or api_key in PATCH /v1/program)',
  chargebee: 'a Chargebee site and API key (CHARGEBEE_SITE and CHARGEBEE_API_KEY for the default program, or in PATCH /v1/program)',
};

/** The event source of a gateway for a program's stored settings and the operator's API host. */
export function eventSourceFor(
  gateway: Exclude<ReconcileGateway, 'woocommerce'>,
  settings: GatewaySettings,
  apiBases: ApiBases,
  pacer: RequestPacer,
): EventSource | null {
  if (gateway === 'stripe') return stripeEventSource(settings.stripe, apiBases.stripe, pacer);
  if (gateway === 'paddle') return paddleEventSource(settings.paddle, apiBases.paddle, pacer);
  return chargebeeEventSource(settings.chargebee, apiBases.chargebee, pacer);
}

const today = () => new Date().toISOString().slice(0, 10);

/** The CLI command: options, the program's API client, a Redis producer, progress. */
export async function reconcileCommand(ctx: CliContext): Promise<number> {
  const { config, database, args, out } = ctx;
  const o = parseArgs({
    args,
    options: {
      gateway: { type: 'string', default: 'woocommerce' },
      from: { type: 'string' },
      to: { type: 'string' },
      program: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    allowPositionals: false,
    strict: true,
  }).values;
  const gateway = o.gateway as ReconcileGateway;
  if (!RECONCILE_GATEWAYS.includes(gateway)) throw new Error(`--gateway must be one of ${RECONCILE_GATEWAYS.join(', ')}, not "${o.gateway}"\n${USAGE}`);
  if (!o.from) throw new Error(USAGE);
  const range = dayRange(o.from, o.to ?? today());
  const program = await findProgram(database.db, o.program);
  if (gateway === 'woocommerce') return wooCommerceCommand(ctx, program, range, o['dry-run'] ?? false);

  const dryRun = o['dry-run'] ?? false;
  const pacer = new RequestPacer({ rps: config.RECONCILE_RPS, onWait: out });
  const source = eventSourceFor(gateway, program.gateways, apiBasesFrom(config), pacer);
  if (!source) throw new Error(`the ${gateway} API is not configured for program ${program.id}: reconcile needs ${NOT_CONFIGURED[gateway]}`);
  const queue = dryRun ? undefined : await openProducer(config);
  out(
    `${dryRun ? 'dry run: ' : ''}${gateway} events of ${source.types.join(', ')} from ${range.from.toISOString()} to ${range.to.toISOString()} (program ${program.id})`,
  );
  if (gateway === 'stripe' && range.from.getTime() < Date.now() - STRIPE_EVENT_RETENTION_DAYS * 86_400_000) {
    out(`warning: Stripe keeps events for ${STRIPE_EVENT_RETENTION_DAYS} days: events before that are not listed`);
  }
  try {
    const summary = await reconcileEvents(
      { db: database.db, source, producer: queue?.producer, out },
      { program: { id: program.id, livemode: program.livemode }, ...range, dryRun },
    );
    for (const line of eventsSummaryLines(summary)) out(line);
    return summary.failed + summary.deferred > 0 ? 1 : 0;
  } finally {
    await queue?.close();
  }
}

async function openProducer(config: CliContext['config']) {
  await pingRedis(config.REDIS_URL);
  const redis = producerConnection(config.REDIS_URL);
  redis.on('error', () => {});
  const producer = new PaymentProducer(redis, config.QUEUE_PREFIX);
  await producer.queue.waitUntilReady();
  return {
    producer,
    close: async () => {
      await producer.close();
      redis.disconnect();
    },
  };
}

type Program = Awaited<ReturnType<typeof findProgram>>;

/** WooCommerce: the orders modified in the range, through the store's REST API. */
async function wooCommerceCommand({ config, database, out }: CliContext, program: Program, range: { from: Date; to: Date }, dryRun: boolean): Promise<number> {
  const orders = wooCommerceClient(program.gateways.woocommerce, {
    apiBase: config.WOOCOMMERCE_API_BASE,
    policy: { allowLoopback: config.WEBHOOKS_ALLOW_LOOPBACK },
  });
  if (!orders) {
    throw new Error(
      `the WooCommerce REST API is not configured for program ${program.id}: it needs a store URL and a consumer key and secret ` +
        '(WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY, WOOCOMMERCE_CONSUMER_SECRET for the default program, applied at start-up)',
    );
  }
  const queue = dryRun ? undefined : await openProducer(config);
  out(
    `${dryRun ? 'dry run: ' : ''}WooCommerce orders modified from ${range.from.toISOString()} to ${range.to.toISOString()} (program ${program.id})`,
  );
  const progress = terminalProgress(process.stderr);
  const say = (line: string) => {
    progress?.clear();
    out(line);
  };
  try {
    const summary = await reconcileOrders({ db: database.db, orders, producer: queue?.producer, out: say, progress: progress?.update }, {
      programId: program.id,
      ...range,
      dryRun,
    });
    progress?.end();
    out(summaryLine(summary));
    return summary.failed + summary.deferred > 0 ? 1 : 0;
  } catch (err) {
    progress?.end();
    throw err;
  } finally {
    await queue?.close();
  }
}
