// Reconcile for the gateways that keep a list of their events (Stripe, Paddle, Chargebee): every
// listed event the inbox does not have takes the webhook's path (inbox row, queue, worker), marked
// `source: reconcile`. The inbox's unique (program, gateway, event id) makes a second run, or a
// webhook arriving meanwhile, a duplicate: nothing is booked twice.
import type { Db } from '../db/client.js';
import { arrivalState, findDelivery, markReceived, storeDelivery } from '../db/inbox.js';
import { ledgerHas } from '../db/reconcile-runs.js';
import type { EventRange, EventSource, ListedEvent } from '../gateways/event-source.js';
import { adapterFor } from '../gateways/registry.js';
import { normalize } from '../ingest/normalize.js';
import { factText, type PaymentProducer } from '../queue/producer.js';

export type EventCounts = {
  /** Listed by the gateway in the range. */
  found: number;
  /** Not in the inbox (queued, or in a dry run: would be). */
  missing: number;
  queued: number;
  /** Missing, but not a payment fact (kept in the inbox as ignored, as its webhook would be). */
  ignored: number;
  /** Missing, and data that will never map (kept in the inbox as failed, with the reason). */
  failed: number;
  /** Stored, but the queue was unavailable: the inbox sweeper queues these. */
  deferred: number;
  /** Deliveries the gateway records as failed for good (Paddle notifications with status failed). */
  failedDeliveries: number;
  /** Of the missing ones, those the gateway was asked to deliver again (--ask-gateway-to-resend). */
  resent: number;
};

export type EventsSummary = EventCounts & {
  gateway: string;
  dryRun: boolean;
  pages: number;
  /** Per event type, in the order first seen. */
  byType: Map<string, EventCounts>;
  elapsedMs: number;
};

export type ReconcileEventsDeps = {
  db: Db;
  source: EventSource;
  /** Where jobs go; not needed in a dry run. */
  producer?: Pick<PaymentProducer, 'add'>;
  /** One line of output: progress per page, what is (or would be) queued, failures. */
  out: (line: string) => void;
  now?: () => number;
};

export type ReconcileEventsOptions = EventRange & {
  program: { id: string; livemode: boolean | null };
  dryRun?: boolean;
  /** A delivery the gateway records as failed is asked of the gateway again, not queued here. */
  askGatewayToResend?: boolean;
};

const zero = (): EventCounts => ({ found: 0, missing: 0, queued: 0, ignored: 0, failed: 0, deferred: 0, failedDeliveries: 0, resent: 0 });

export async function reconcileEvents(deps: ReconcileEventsDeps, opts: ReconcileEventsOptions): Promise<EventsSummary> {
  const now = deps.now ?? Date.now;
  const started = now();
  const dryRun = opts.dryRun ?? false;
  if (!dryRun && !deps.producer) throw new Error('reconcile needs a queue producer unless it is a dry run');
  const gateway = deps.source.gateway;
  const adapter = adapterFor(gateway);
  if (!adapter) throw new Error(`no receiver for "${gateway}"`);
  const s: EventsSummary = { gateway, dryRun, pages: 0, byType: new Map(), elapsedMs: 0, ...zero() };
  const count = (type: string, k: keyof EventCounts) => {
    let t = s.byType.get(type);
    if (!t) s.byType.set(type, (t = zero()));
    t[k]++;
    s[k]++;
  };
  const inInbox = async (eventId: string) => (await findDelivery(deps.db, opts.program.id, gateway, eventId)) !== undefined;

  const one = async (e: ListedEvent) => {
    count(e.type, 'found');
    const fd = e.failedDelivery;
    if (fd) {
      count(e.type, 'failedDeliveries');
      deps.out(`  ${gateway} gave up delivering ${e.type} ${e.id} to ${fd.destination} (notification ${fd.notificationId})`);
    }
    if (await inInbox(e.id)) return;
    if (fd && opts.askGatewayToResend) {
      count(e.type, 'missing');
      if (!dryRun) await fd.resend();
      count(e.type, 'resent');
      deps.out(`  ${dryRun ? 'would ask' : 'asked'} ${gateway} to deliver ${e.type} ${e.id} again (notification ${fd.notificationId})`);
      return;
    }
    // made from an object (Stripe older than its events): its webhook may have brought it under another id
    if (e.madeFrom && (await ledgerHas(deps.db, opts.program.id, gateway, e.madeFrom))) return;
    const normalized = normalize(adapter, e.payload, { livemode: opts.program.livemode }, e.livemode);
    const label = `${e.type} ${e.id} (${e.occurredAt.toISOString()})`;
    if (dryRun) {
      count(e.type, 'missing');
      if (normalized.status === 'queued') {
        count(e.type, 'queued');
        deps.out(`  would queue ${label}: ${normalized.events.map(factText).join('; ')}`);
      } else if (normalized.status === 'failed') {
        count(e.type, 'failed');
        deps.out(`  ${label} would fail: ${normalized.reason}`);
      } else count(e.type, 'ignored');
      return;
    }
    const id = await storeDelivery(deps.db, {
      programId: opts.program.id,
      gateway,
      eventId: e.id,
      eventType: e.type.slice(0, 255),
      livemode: e.livemode ?? null,
      rawBody: JSON.stringify(e.payload),
      headers: { source: 'reconcile' },
      ...arrivalState(normalized),
    });
    // a webhook (or another run) stored it between the look and the insert
    if (id === null) return;
    count(e.type, 'missing');
    if (normalized.status === 'ignored') return count(e.type, 'ignored');
    if (normalized.status === 'failed') {
      count(e.type, 'failed');
      deps.out(`  ${label} failed: ${normalized.reason}`);
      return;
    }
    try {
      await deps.producer!.add(
        { programId: opts.program.id, inboxId: id.toString(), source: 'reconcile', events: normalized.events },
        { gateway, eventId: e.id, eventType: e.type },
      );
      count(e.type, 'queued');
    } catch (err) {
      // kept as received: the sweeper queues it once Redis answers
      await markReceived(deps.db, id);
      count(e.type, 'deferred');
      deps.out(`  ${label} stored, not queued (${(err as Error).message}): the inbox sweeper will queue it`);
    }
  };

  for await (const page of deps.source.pages(opts)) {
    s.pages++;
    for (const e of page) await one(e);
    deps.out(`page ${s.pages}: ${s.found} found, ${s.missing} missing, ${s.queued} ${dryRun ? 'would be queued' : 'queued'}`);
  }
  s.elapsedMs = now() - started;
  return s;
}

const countsText = (c: EventCounts, dryRun: boolean) => {
  const parts = [`${c.found} found`, `${c.missing} missing`, `${c.queued} ${dryRun ? 'would be queued' : 'queued'}`];
  if (c.ignored) parts.push(`${c.ignored} ignored`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.deferred) parts.push(`${c.deferred} left for the sweeper (queue unavailable)`);
  if (c.failedDeliveries) parts.push(`${c.failedDeliveries} deliveries the gateway gave up on`);
  if (c.resent) parts.push(`${c.resent} ${dryRun ? 'would be asked' : 'asked'} of the gateway again`);
  return parts.join(', ');
};

/** The closing lines: one per event type, then the total. */
export function eventsSummaryLines(s: EventsSummary): string[] {
  const lines = [...s.byType].map(([type, c]) => `  ${type}: ${countsText(c, s.dryRun)}`);
  const seconds = `${(s.elapsedMs / 1000).toFixed(1)}s`;
  lines.push(`${s.dryRun ? 'dry run, nothing written: ' : ''}${s.gateway}: ${s.pages} pages, ${countsText(s, s.dryRun)} (${seconds})`);
  return lines;
}
