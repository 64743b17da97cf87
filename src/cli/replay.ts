// `npm run cli -- replay [--gateway stripe] [--program <id>] [--status failed|ignored|retrying|all]
//   [--event <id>]... [--from <date>] [--to <date>] [--limit N] [--dry-run] [--retry-now] [--wait]`
//
// Every verified delivery is in the inbox (webhook_events) with its raw body. A replay normalizes it
// again with today's adapter and puts it on the queue, where the normal worker processes it: the
// ledger books a payment, a refund or a dispute once, so a replay of something already booked
// changes nothing. Signatures are not checked again (they were at receipt); only rows stored as
// verified are replayed. `--dry-run` runs the whole pipeline (gateway lookups included) inside a
// database transaction that is rolled back, and prints what each replay would change.
// `--status retrying` lists the events waiting for their next attempt (a gateway API down) with their
// last error and when they run again; `--retry-now` runs them at once instead of at their backoff.
import { and, asc, count, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { PaymentEvent } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import type { Db, Queryable } from '../db/client.js';
import type { EventOutcome } from '../db/ledger.js';
import { loadProgramRules } from '../db/programs.js';
import { markReceived, markSettledUnworked, requeueForReplay, retryingRows, statusCounts } from '../db/inbox.js';
import { programs, webhookEvents } from '../db/schema.js';
import type { ApiBases, LookupClients } from '../gateways/gateway.js';
import { adapterFor, adapters, lookupClients } from '../gateways/registry.js';
import { apiBasesFrom, type GatewaySettings } from '../gateways/settings.js';
import { normalize, type Normalized } from '../ingest/normalize.js';
import type { PaymentProducer } from '../queue/producer.js';
import { paymentJobId } from '../queue/queues.js';
import { openPaymentProducer } from './producer.js';
import { processPayment } from '../worker/process-payment.js';
import { options, type CliCommand } from './command.js';
import { duration, terminalProgress, type Progress } from './progress.js';

export const REPLAY_STATUSES = ['failed', 'ignored', 'retrying', 'all'] as const;

export type ReplaySelection = {
  gateway?: string;
  programId?: string;
  /** Which stored outcome to replay: failed (default), ignored, retrying (pending after a failed attempt), or all. */
  status: (typeof REPLAY_STATUSES)[number];
  eventIds?: string[];
  /** Received at or after... */
  from?: Date;
  /** ...and before. */
  to?: Date;
  limit?: number;
};

export type ReplayDeps = {
  db: Db;
  /** Where jobs go; not needed in a dry run. */
  producer?: Pick<PaymentProducer, 'add' | 'queue'>;
  /** Gateway API clients for a dry run's enrich step (default: each program's stored settings). */
  clients?: LookupClients;
  /** The operator's gateway API hosts (`*_API_BASE`) for the default clients. */
  apiBases?: ApiBases;
  out: (line: string) => void;
  progress?: (p: Progress) => void;
  now?: () => number;
};

export type ReplaySummary = {
  dryRun: boolean;
  selected: number;
  /** Put on the queue (dry run: would be). */
  queued: number;
  /** Its job is waiting, delayed or running already: left alone. */
  alreadyQueued: number;
  /** Normalizes to "not a payment fact". */
  ignored: number;
  /** Cannot be read (payload errors), or (dry run) processing would fail. */
  failed: number;
  /** Stored, but the queue was unavailable: the inbox sweeper queues these. */
  deferred: number;
  /** Kept only as a tombstone: the body was dropped after INBOX_RETENTION_DAYS. */
  expired: number;
  /** `--status retrying`: waiting for their next attempt (listed) / run now (`--retry-now`). */
  retrying: number;
  retriedNow: number;
  /** Dry run: events that would create a transaction / change rewards / change nothing. */
  wouldCreate: number;
  wouldChange: number;
  unchanged: number;
  /** Inbox ids put on the queue (to follow them with --wait). */
  queuedInboxIds: bigint[];
  elapsedMs: number;
};

type Row = typeof webhookEvents.$inferSelect;
type ProgramInfo = { rules: ProgramRules | null; livemode: boolean | null; gateways: GatewaySettings };

/** The inbox rows a selection names: verified ones only, oldest first. */
function where(s: ReplaySelection): SQL {
  const parts: (SQL | undefined)[] = [eq(webhookEvents.verified, true)];
  if (s.gateway) parts.push(eq(webhookEvents.gateway, s.gateway));
  if (s.programId) parts.push(eq(webhookEvents.programId, s.programId));
  if (s.status === 'retrying') parts.push(retryingRows);
  else if (s.status !== 'all') parts.push(eq(webhookEvents.status, s.status));
  if (s.eventIds?.length) parts.push(inArray(webhookEvents.eventId, s.eventIds));
  if (s.from) parts.push(gte(webhookEvents.receivedAt, s.from));
  if (s.to) parts.push(lt(webhookEvents.receivedAt, s.to));
  return and(...parts)!;
}

export function selectionText(s: ReplaySelection): string {
  return [
    s.status === 'all' ? 'all events' : s.status === 'retrying' ? 'events waiting to be retried' : `${s.status} events`,
    s.gateway ? `from ${s.gateway}` : 'from every gateway',
    s.programId ? `of program ${s.programId}` : 'of every program',
    s.eventIds?.length ? `with event id ${s.eventIds.join(', ')}` : null,
    s.from ? `received from ${s.from.toISOString()}` : null,
    s.to ? `received before ${s.to.toISOString()}` : null,
    s.limit ? `(at most ${s.limit})` : null,
  ]
    .filter(Boolean)
    .join(' ');
}

class RolledBack extends Error {}

type TxState = { key: string; deleted: boolean; partner: string | null; rewards: string | null; units: string | null };

/** What a transaction looks like, as `db` sees it (the pool: committed state; a transaction: its own). */
async function snapshot(db: Queryable, programId: string, keys: string[]): Promise<Map<string, TxState>> {
  const found = new Map<string, TxState>();
  if (!keys.length) return found;
  const { rows } = await db.execute<{ key: string; deleted: boolean; partner: string | null; rewards: string | null; units: string | null }>(sql`
    select t.key, t.deleted_at is not null as deleted, p.key as partner,
      (select sum(r.amount)::text from rewards r where r.transaction_id = t.id and r.deleted_at is null) as rewards,
      (select min(r.units) from rewards r where r.transaction_id = t.id) as units
    from transactions t left join partners p on p.id = t.partner_id
    where t.program_id = ${programId} and t.key in (${sql.join(keys.map((k) => sql`${k}`), sql`, `)})`);
  for (const r of rows) found.set(r.key, r);
  return found;
}

const rewardText = (s: TxState | undefined) =>
  !s ? 'none' : s.deleted ? 'none (deleted)' : s.rewards === null ? 'none' : `${s.rewards.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')} ${s.units ?? ''}`.trim();

/** One line per outcome: what the replay would do to the ledger. */
function describe(o: EventOutcome, before: Map<string, TxState>, after: Map<string, TxState>): { text: string; effect: 'create' | 'change' | 'none' } {
  const key = o.transactionKey;
  const b = key ? before.get(key) : undefined;
  const a = key ? after.get(key) : undefined;
  const changed = rewardText(b) !== rewardText(a);
  const rewards = changed ? `reward ${rewardText(b)} → ${rewardText(a)}` : `reward ${rewardText(a)} unchanged`;
  if (o.kind === 'payment') {
    if (o.result === 'created') {
      const why = o.rewards === 0 && o.reason ? ` (${o.reason})` : '';
      return { text: `payment ${key}: transaction created, partner ${a?.partner ?? 'none'}, ${rewards}${why}`, effect: 'create' };
    }
    return { text: `payment ${key}: already booked (${o.result}), ${rewards}`, effect: changed ? 'change' : 'none' };
  }
  if (o.kind === 'refund') {
    if (o.result === 'duplicate') return { text: 'refund: already applied, nothing changes', effect: 'none' };
    if (o.result === 'pending_payment') return { text: 'refund: its payment is not booked; it would wait for it', effect: 'change' };
    if (o.reversed) return { text: `refund reversed on ${key}: ${rewards}${!o.deleted && b?.deleted ? ' (transaction restored)' : ''}`, effect: changed || (!o.deleted && b?.deleted) ? 'change' : 'none' };
    return { text: `refund on ${key}: ${rewards}${o.deleted && !b?.deleted ? ' (transaction deleted)' : ''}`, effect: changed || (o.deleted && !b?.deleted) ? 'change' : 'none' };
  }
  if (o.result === 'unchanged') return { text: `dispute (${o.status}): already recorded, nothing changes`, effect: 'none' };
  if (o.result === 'pending_payment') return { text: `dispute (${o.status}): its payment is not booked; it would wait for it`, effect: 'change' };
  return { text: `dispute ${o.status} on ${key}: ${rewards}`, effect: changed ? 'change' : 'none' };
}

const label = (row: Row) => `${row.gateway} ${row.eventId}${row.eventType ? ` ${row.eventType}` : ''} [${row.status}${row.lastError ? `: ${row.lastError}` : ''}]`;

function normalizeRow(row: Row & { rawBody: string }, program: ProgramInfo): Normalized {
  const adapter = adapterFor(row.gateway);
  if (!adapter) return { status: 'failed', reason: `no receiver for ${row.gateway}` };
  let payload: unknown;
  try {
    payload = JSON.parse(row.rawBody);
  } catch (err) {
    return { status: 'failed', reason: `payload: ${(err as Error).message}` };
  }
  return normalize(adapter, payload, { livemode: program.livemode }, row.livemode ?? undefined);
}

/** What processing these events would do, found by doing it in a transaction that is rolled back. */
async function dryProcess(
  deps: ReplayDeps & { clients: LookupClients },
  program: ProgramRules,
  row: Row,
  events: PaymentEvent[],
): Promise<{ lines: string[]; effect: 'create' | 'change' | 'none' } | { error: string }> {
  let result: { outcomes: EventOutcome[]; after: Map<string, TxState> } | undefined;
  try {
    await deps.db.transaction(async (tx) => {
      // the transaction stands in for the database: applyEvents nests a savepoint in it
      const outcomes = await processPayment(
        { db: tx, programs: async () => program, clients: deps.clients },
        { programId: program.id, inboxId: row.id.toString(), source: 'replay', events },
      );
      const keys = outcomes.map((o) => o.transactionKey).filter((k): k is string => !!k);
      result = { outcomes, after: await snapshot(tx, program.id, keys) };
      throw new RolledBack();
    });
  } catch (err) {
    if (!(err instanceof RolledBack)) return { error: (err as Error).message || String(err) };
  }
  const { outcomes, after } = result!;
  // committed state: the pool does not see the rolled-back transaction
  const before = await snapshot(deps.db, program.id, [...after.keys()]);
  const described = outcomes.map((o) => describe(o, before, after));
  const effect = described.some((d) => d.effect === 'create') ? 'create' : described.some((d) => d.effect === 'change') ? 'change' : 'none';
  return { lines: described.map((d) => d.text), effect };
}

/** How long, in words: 90 s → "2 min", 2 h → "2 h". */
const span = (ms: number) => (ms < 90_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : ms < 5_400_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 3_600_000)} h`);

export async function replayEvents(
  deps: ReplayDeps,
  selection: ReplaySelection,
  opts: { dryRun?: boolean; retryNow?: boolean } = {},
): Promise<ReplaySummary> {
  const now = deps.now ?? Date.now;
  const started = now();
  const dryRun = opts.dryRun ?? false;
  if (!dryRun && !deps.producer) throw new Error('replay needs a queue producer unless it is a dry run');
  const s: ReplaySummary = {
    dryRun,
    selected: 0,
    queued: 0,
    alreadyQueued: 0,
    ignored: 0,
    failed: 0,
    deferred: 0,
    expired: 0,
    retrying: 0,
    retriedNow: 0,
    wouldCreate: 0,
    wouldChange: 0,
    unchanged: 0,
    queuedInboxIds: [],
    elapsedMs: 0,
  };
  const filter = where(selection);
  const [{ n } = { n: 0 }] = await deps.db.select({ n: count() }).from(webhookEvents).where(filter);
  const total = Math.min(n, selection.limit ?? n);

  const programCache = new Map<string, ProgramInfo>();
  const programOf = async (id: string): Promise<ProgramInfo> => {
    let p = programCache.get(id);
    if (!p) {
      const [row] = await deps.db.select({ livemode: programs.livemode, gateways: programs.gateways }).from(programs).where(eq(programs.id, id));
      p = { rules: row ? await loadProgramRules(deps.db, id) : null, livemode: row?.livemode ?? null, gateways: row?.gateways ?? {} };
      programCache.set(id, p);
    }
    return p;
  };
  const clients = deps.clients ?? lookupClients(async (id) => (await programOf(id)).gateways, deps.apiBases);

  const one = async (row: Row) => {
    const program = await programOf(row.programId);
    if (!program.rules) {
      s.failed++;
      deps.out(`${label(row)}\n  → skipped: its program no longer exists`);
      return;
    }
    if (row.rawBody === null) {
      s.expired++;
      deps.out(`${label(row)}
  → left alone: its body was dropped after the inbox retention (INBOX_RETENTION_DAYS); nothing to replay`);
      return;
    }
    // waiting for its next attempt: say when and why, or (--retry-now) run it now; a dry run shows what it would do
    if (selection.status === 'retrying' && !dryRun) {
      const job = await deps.producer!.queue.getJob(paymentJobId(row.programId, row.gateway, row.eventId));
      const state = job ? await job.getState() : 'missing';
      if (job && state !== 'failed' && state !== 'completed' && state !== 'unknown') {
        const tried = `${job.attemptsMade} of ${job.opts.attempts ?? 1} attempts failed`;
        if (state === 'delayed' && opts.retryNow) {
          await job.promote();
          s.retriedNow++;
          s.queuedInboxIds.push(row.id);
          deps.out(`${label(row)}\n  → retried now (${tried})`);
        } else {
          s.retrying++;
          // BullMQ keeps the backoff it chose (delay) and when the failed attempt started (processedOn)
          const next =
            state === 'delayed' && job.processedOn
              ? `next attempt in about ${span(Math.max(0, job.processedOn + job.delay - now()))} (--retry-now runs it now)`
              : `its job is ${state}`;
          deps.out(`${label(row)}\n  → ${tried}; ${next}`);
        }
        return;
      }
      if (!opts.retryNow) {
        s.retrying++;
        const where = state === 'missing' ? 'gone from the queue' : state;
        deps.out(`${label(row)}\n  → its job is ${where}: --retry-now queues it again (the inbox sweeper does too, in time)`);
        return;
      }
      // --retry-now and no job waiting: queued again as any replay is
    }
    const normalized = normalizeRow({ ...row, rawBody: row.rawBody }, program);
    if (normalized.status !== 'queued') {
      if (normalized.status === 'ignored') s.ignored++;
      else s.failed++;
      const verb = normalized.status === 'ignored' ? 'ignored' : 'unreadable';
      if (dryRun) {
        deps.out(`${label(row)}\n  → would be ${verb}: ${normalized.reason}`);
        return;
      }
      // a processed event stays processed (its transaction exists); others record today's verdict
      if (row.status !== 'processed') {
        await markSettledUnworked(deps.db, row.id, normalized, new Date());
      }
      if (normalized.status === 'failed') deps.out(`${label(row)}\n  → still unreadable: ${normalized.reason}`);
      return;
    }

    if (dryRun) {
      const result = await dryProcess({ ...deps, clients }, program.rules, row, normalized.events);
      if ('error' in result) {
        s.failed++;
        deps.out(`${label(row)}\n  → would fail: ${result.error}`);
        return;
      }
      s.queued++;
      if (result.effect === 'create') s.wouldCreate++;
      else if (result.effect === 'change') s.wouldChange++;
      else s.unchanged++;
      deps.out(`${label(row)}\n${result.lines.map((l) => `  → ${l}`).join('\n')}`);
      return;
    }

    const producer = deps.producer!;
    const existing = await producer.queue.getJob(paymentJobId(row.programId, row.gateway, row.eventId));
    if (existing) {
      const state = await existing.getState();
      if (state !== 'failed' && state !== 'completed' && state !== 'unknown') {
        s.alreadyQueued++;
        deps.out(`${label(row)}\n  → left alone: its job is ${state} already`);
        return;
      }
      // a finished job keeps its id: remove it so the replay runs under the same id, with fresh data
      try {
        await existing.remove();
      } catch (err) {
        s.alreadyQueued++;
        deps.out(`${label(row)}\n  → left alone: its job could not be replaced (${(err as Error).message})`);
        return;
      }
    }
    // queued first, then the job: a worker finishing fast then writes the final status last. The old
    // reason goes: a queued row with a reason is one waiting for its next attempt (--status retrying)
    await requeueForReplay(deps.db, row.id, row.status);
    try {
      await producer.add(
        { programId: row.programId, inboxId: row.id.toString(), source: 'replay', events: normalized.events },
        { gateway: row.gateway, eventId: row.eventId, eventType: row.eventType ?? undefined },
      );
      s.queued++;
      s.queuedInboxIds.push(row.id);
    } catch (err) {
      // kept as received: the inbox sweeper queues it once Redis answers
      await markReceived(deps.db, row.id, { from: 'queued' });
      s.deferred++;
      deps.out(`${label(row)}\n  → stored, not queued (${(err as Error).message}): the inbox sweeper will queue it`);
    }
  };

  let lastId = 0n;
  while (s.selected < total) {
    const page = await deps.db
      .select()
      .from(webhookEvents)
      .where(and(filter, gt(webhookEvents.id, lastId)))
      .orderBy(asc(webhookEvents.id))
      .limit(Math.min(200, total - s.selected));
    if (!page.length) break;
    for (const row of page) {
      lastId = row.id;
      await one(row);
      s.selected++;
      deps.progress?.({ done: s.selected, total, elapsedMs: now() - started });
    }
  }
  s.elapsedMs = now() - started;
  return s;
}

/** How many events the selection's filters name that wait for their next attempt (not failed yet). */
export async function retryingCount(db: Db, selection: ReplaySelection): Promise<number> {
  const [{ n } = { n: 0 }] = await db
    .select({ n: count() })
    .from(webhookEvents)
    .where(where({ ...selection, status: 'retrying' }));
  return n;
}

export function summaryLine(s: ReplaySummary): string {
  const seconds = `${(s.elapsedMs / 1000).toFixed(1)}s`;
  if (s.dryRun) {
    return (
      `dry run, nothing written: ${s.selected} events: ${s.wouldCreate} would create a transaction, ${s.wouldChange} would change rewards, ` +
      `${s.unchanged} would change nothing, ${s.ignored} ignored, ${s.failed} would fail` +
      `${s.expired ? `, ${s.expired} past the inbox retention (body dropped)` : ''} (${seconds})`
    );
  }
  if (s.retrying + s.retriedNow > 0 && s.queued + s.alreadyQueued + s.failed + s.ignored === 0) {
    return `${s.selected} events waiting to be retried: ${s.retriedNow} retried now, ${s.retrying} left to their next attempt (${seconds})`;
  }
  const deferred = s.deferred ? `, ${s.deferred} left for the sweeper (queue unavailable)` : '';
  const expired = s.expired ? `, ${s.expired} past the inbox retention (body dropped)` : '';
  const retrying = s.retrying + s.retriedNow ? `, ${s.retriedNow} retried now, ${s.retrying} left to their next attempt` : '';
  return `${s.selected} events: ${s.queued} queued, ${s.alreadyQueued} already in the queue, ${s.ignored} ignored, ${s.failed} unreadable${retrying}${deferred}${expired} (${seconds})`;
}

export type SettledSummary = { processed: number; failed: number; ignored: number; pending: number; reasons: Map<string, number> };

/** Follow replayed events until the worker has settled them all (or the time is up). */
export async function waitForSettled(
  db: Db,
  inboxIds: bigint[],
  opts: { timeoutMs?: number; pollMs?: number; progress?: (p: Progress) => void } = {},
): Promise<SettledSummary> {
  const started = Date.now();
  for (;;) {
    const rows = await statusCounts(db, inboxIds);
    const sum: SettledSummary = { processed: 0, failed: 0, ignored: 0, pending: 0, reasons: new Map() };
    for (const r of rows) {
      const n = Number(r.n);
      if (r.status === 'processed') sum.processed += n;
      else if (r.status === 'ignored') sum.ignored += n;
      else if (r.status === 'failed') {
        sum.failed += n;
        const reason = r.last_error ?? 'no reason recorded';
        sum.reasons.set(reason, (sum.reasons.get(reason) ?? 0) + n);
      } else sum.pending += n;
    }
    opts.progress?.({ done: inboxIds.length - sum.pending, total: inboxIds.length, elapsedMs: Date.now() - started });
    if (sum.pending === 0 || Date.now() - started > (opts.timeoutMs ?? 600_000)) return sum;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `2025-07-01` (a whole UTC day: --to includes it) or an ISO 8601 instant. */
export function parseWhen(value: string, name: 'from' | 'to'): Date {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const d = new Date(`${value}T00:00:00Z`);
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) throw new Error(`--${name} is not a date: "${value}"`);
    return name === 'to' ? new Date(d.getTime() + 86_400_000) : d;
  }
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(d.getTime())) {
    throw new Error(`--${name} must be a date (YYYY-MM-DD) or an ISO 8601 time (2025-07-01T12:00:00Z), not "${value}"`);
  }
  return d;
}

const Args = z.object({
  gateway: z
    .string()
    .refine((g) => adapters.some((a) => a.gateway === g), `one of ${adapters.map((a) => a.gateway).join(', ')}`)
    .optional(),
  program: z.string().regex(UUID, 'a program id (a UUID)').optional(),
  status: z.enum(REPLAY_STATUSES).default('failed'),
  event: z.array(z.string().min(1)).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  limit: z.coerce.number().int().min(1).optional(),
  'dry-run': z.boolean().default(false),
  'retry-now': z.boolean().default(false),
  wait: z.boolean().default(false),
});

export const USAGE =
  'usage: npm run cli -- replay [--gateway stripe|paddle|woocommerce|chargebee] [--program <id>] [--status failed|ignored|retrying|all] ' +
  '[--event <id>]... [--from YYYY-MM-DD|ISO time] [--to YYYY-MM-DD|ISO time] [--limit N] [--dry-run] [--retry-now] [--wait]';

export const replayCommand: CliCommand = {
  summary: 're-queue stored webhook events [--gateway] [--program] [--status failed|ignored|retrying|all] [--event]... [--from] [--to] [--dry-run] [--retry-now] [--wait]',
  async run({ config, database, args, out }) {
    let raw;
    try {
      raw = options(args, {
        gateway: { type: 'string' },
        program: { type: 'string' },
        status: { type: 'string' },
        event: { type: 'string', multiple: true },
        from: { type: 'string' },
        to: { type: 'string' },
        limit: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'retry-now': { type: 'boolean' },
        wait: { type: 'boolean' },
      });
    } catch (err) {
      out(`replay: ${(err as Error).message}`);
      out(USAGE);
      return 2;
    }
    const parsed = Args.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      out(`replay: --${issue.path.join('.')}: ${issue.message}`);
      out(USAGE);
      return 2;
    }
    const a = parsed.data;
    let selection: ReplaySelection;
    try {
      selection = {
        gateway: a.gateway,
        programId: a.program,
        status: a.status,
        eventIds: a.event,
        from: a.from ? parseWhen(a.from, 'from') : undefined,
        to: a.to ? parseWhen(a.to, 'to') : undefined,
        limit: a.limit,
      };
    } catch (err) {
      out(`replay: ${(err as Error).message}`);
      return 2;
    }
    const dryRun = a['dry-run'];
    if (a['retry-now'] && (a.status !== 'retrying' || dryRun)) {
      out(`replay: --retry-now goes with --status retrying${dryRun ? ', not with --dry-run' : ''}`);
      out(USAGE);
      return 2;
    }
    let producer: PaymentProducer | undefined;
    let queue: Awaited<ReturnType<typeof openPaymentProducer>> | undefined;
    if (!dryRun) {
      queue = await openPaymentProducer(config, { failedRetentionDays: config.FAILED_JOB_RETENTION_DAYS });
      producer = queue.producer;
    }
    out(`${dryRun ? 'dry run (nothing is written): ' : ''}replaying ${selectionText(selection)}`);
    const progress = terminalProgress(process.stderr, 'events');
    const say = (line: string) => {
      progress?.clear();
      out(line);
    };
    try {
      const summary = await replayEvents({ db: database.db, producer, apiBases: apiBasesFrom(config), out: say, progress: progress?.update }, selection, {
        dryRun,
        retryNow: a['retry-now'],
      });
      progress?.end();
      out(summaryLine(summary));
      // a job waiting for its next attempt is not failed yet: say so, or a dry run seems to find nothing
      if (selection.status === 'failed' || selection.status === 'ignored') {
        const waiting = await retryingCount(database.db, selection);
        if (waiting) out(`${waiting} more event${waiting === 1 ? ' is' : 's are'} waiting to be retried (not failed yet): replay --status retrying lists them`);
      }
      if (!dryRun && a.wait && summary.queuedInboxIds.length) {
        out(`waiting for the worker to process ${summary.queuedInboxIds.length} events (Ctrl-C stops waiting; the jobs go on)`);
        const waiting = terminalProgress(process.stderr, 'settled');
        const settled = await waitForSettled(database.db, summary.queuedInboxIds, { progress: waiting?.update });
        waiting?.end();
        out(
          `processed ${settled.processed}, failed ${settled.failed}, ignored ${settled.ignored}` +
            (settled.pending ? `, still pending ${settled.pending} after ${duration(600)}` : ''),
        );
        for (const [reason, n] of [...settled.reasons].sort((x, y) => y[1] - x[1]).slice(0, 10)) out(`  ${n} × ${reason}`);
        return settled.failed + settled.pending > 0 ? 1 : 0;
      }
      return summary.deferred > 0 ? 1 : 0;
    } catch (err) {
      progress?.end();
      throw err;
    } finally {
      await queue?.close();
    }
  },
};
