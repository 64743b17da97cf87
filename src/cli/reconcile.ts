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
import { eq } from 'drizzle-orm';
import type { CliContext } from './command.js';
import { progressLine as sharedProgressLine, terminalProgress as sharedTerminalProgress } from './progress.js';
import type { Db } from '../db/client.js';
import { DEFAULT_PROGRAM_SLUG } from '../db/default-program.js';
import { programs } from '../db/schema.js';
import { openPaymentProducer } from './producer.js';
import { wooCommerceClient } from '../gateways/woocommerce/client.js';
import { RequestPacer } from '../gateways/event-source.js';
import { apiBasesFrom } from '../gateways/settings.js';
import { STRIPE_EVENT_RETENTION_DAYS, STRIPE_OBJECTS_BEFORE_DAYS } from '../gateways/stripe/events.js';
import { eventsSummaryLines, reconcileEvents } from '../worker/reconcile-events.js';
import { reconcileOrders, summaryLine, type ReconcileProgress } from '../worker/reconcile-orders.js';
import { eventSourceFor, fromEvents, fromOrders, RECONCILE_GATEWAYS, recordedRun, type ReconcileGateway } from '../worker/reconcile.js';

// the shared part lives in src/worker (the scheduled reconcile runs it too)
export { PER_PAGE, reconcileOrders, summaryLine, type ReconcileDeps, type ReconcileOptions, type ReconcileProgress, type ReconcileSummary } from '../worker/reconcile-orders.js';
export { eventSourceFor, RECONCILE_GATEWAYS, type ReconcileGateway } from '../worker/reconcile.js';

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

export const USAGE =
  'usage: npm run cli -- reconcile [--gateway stripe|paddle|chargebee|woocommerce] --from YYYY-MM-DD [--to YYYY-MM-DD] [--program <id>] [--dry-run] [--ask-gateway-to-resend]\n' +
  '  reads the gateway\'s own record (Stripe, Paddle, Chargebee: its events; WooCommerce: orders modified) of whole UTC days\n' +
  '  --from .. --to (default: today), and queues what no webhook delivered, as a webhook would be (source: reconcile).\n' +
  '  --gateway defaults to woocommerce. Requests are paced at RECONCILE_RPS a second; a 429 is waited out (Retry-After).\n' +
  '  Paddle: its notifications with status failed are listed too; --ask-gateway-to-resend has Paddle replay those\n' +
  '  (POST /notifications/{id}/replay) instead of queueing them here.';

const NOT_CONFIGURED: Record<Exclude<ReconcileGateway, 'woocommerce'>, string> = {
  stripe: 'a Stripe secret key (STRIPE_API_KEY for the default program, or api_key in PATCH /v1/program)',
  paddle: 'a Paddle API key (PADDLE_API_KEY for the default program, or api_key in PATCH /v1/program)',
  chargebee: 'a Chargebee site and API key (CHARGEBEE_SITE and CHARGEBEE_API_KEY for the default program, or in PATCH /v1/program)',
};

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
      'ask-gateway-to-resend': { type: 'boolean', default: false },
    },
    allowPositionals: false,
    strict: true,
  }).values;
  const gateway = o.gateway as ReconcileGateway;
  if (!RECONCILE_GATEWAYS.includes(gateway)) throw new Error(`--gateway must be one of ${RECONCILE_GATEWAYS.join(', ')}, not "${o.gateway}"\n${USAGE}`);
  if (!o.from) throw new Error(USAGE);
  const range = dayRange(o.from, o.to ?? today());
  const askGatewayToResend = o['ask-gateway-to-resend'] ?? false;
  if (askGatewayToResend && gateway !== 'paddle') throw new Error(`--ask-gateway-to-resend is for --gateway paddle only (Paddle can replay a failed notification)\n${USAGE}`);
  const program = await findProgram(database.db, o.program);
  if (gateway === 'woocommerce') return wooCommerceCommand(ctx, program, range, o['dry-run'] ?? false);

  const dryRun = o['dry-run'] ?? false;
  const pacer = new RequestPacer({ rps: config.RECONCILE_RPS, onWait: out });
  const source = eventSourceFor(gateway, program.gateways, apiBasesFrom(config), pacer, out);
  if (!source) throw new Error(`the ${gateway} API is not configured for program ${program.id}: reconcile needs ${NOT_CONFIGURED[gateway]}`);
  const queue = dryRun ? undefined : await openPaymentProducer(config);
  out(
    `${dryRun ? 'dry run: ' : ''}${gateway} events of ${source.types.join(', ')} from ${range.from.toISOString()} to ${range.to.toISOString()} (program ${program.id})`,
  );
  if (gateway === 'stripe' && range.from.getTime() < Date.now() - STRIPE_OBJECTS_BEFORE_DAYS * 86_400_000) {
    out(
      `Stripe keeps events for ${STRIPE_EVENT_RETENTION_DAYS} days: the range before ${new Date(Date.now() - STRIPE_OBJECTS_BEFORE_DAYS * 86_400_000).toISOString()} ` +
        'is read from its charges, refunds and disputes instead (each made into the event its webhook carried)',
    );
  }
  try {
    const run = () =>
      reconcileEvents({ db: database.db, source, producer: queue?.producer, out }, { program: { id: program.id, livemode: program.livemode }, ...range, dryRun, askGatewayToResend });
    let summary!: Awaited<ReturnType<typeof run>>;
    // a run that writes is recorded (GET /v1/integrations shows what it found missing); a dry run is not
    if (dryRun) summary = await run();
    else await recordedRun(database.db, { programId: program.id, gateway, ...range, trigger: 'cli' }, async () => fromEvents((summary = await run())));
    for (const line of eventsSummaryLines(summary)) out(line);
    return summary.failed + summary.deferred > 0 ? 1 : 0;
  } finally {
    await queue?.close();
  }
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
  const queue = dryRun ? undefined : await openPaymentProducer(config);
  out(
    `${dryRun ? 'dry run: ' : ''}WooCommerce orders modified from ${range.from.toISOString()} to ${range.to.toISOString()} (program ${program.id})`,
  );
  const progress = terminalProgress(process.stderr);
  const say = (line: string) => {
    progress?.clear();
    out(line);
  };
  try {
    const run = () =>
      reconcileOrders({ db: database.db, orders, producer: queue?.producer, out: say, progress: progress?.update }, { programId: program.id, ...range, dryRun });
    let summary!: Awaited<ReturnType<typeof run>>;
    if (dryRun) summary = await run();
    else await recordedRun(database.db, { programId: program.id, gateway: 'woocommerce', ...range, trigger: 'cli' }, async () => fromOrders((summary = await run())));
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
