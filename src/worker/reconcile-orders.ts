// WooCommerce reconcile: WooCommerce keeps no event list, so the orders modified in a range are read
// through its REST API, each mapped exactly as its webhook would be (same facts, same event id), and
// the ones the inbox does not have are queued. Shared by the CLI command and the scheduled reconcile.
//
// WooCommerce never redelivers a webhook, and disables one after 5 failed deliveries: an outage on
// our side loses orders for good. An order state a webhook already delivered is a duplicate in the
// inbox; a newer state of a stored order only merges into its transaction. So running it twice, or
// over a range the webhooks covered, books nothing twice.
import { fromMinorUnits } from '../core/money.js';
import type { PaymentEvent } from '../core/payment-event.js';
import type { Db } from '../db/client.js';
import { arrivalState, findDelivery, markReceived, storeDelivery } from '../db/inbox.js';
import type { OrderSource } from '../gateways/woocommerce/client.js';
import { woocommerceAdapter } from '../gateways/woocommerce/index.js';
import { orderEventId } from '../gateways/woocommerce/map.js';
import { looksLikeOrder } from '../gateways/woocommerce/wire.js';
import { normalize } from '../ingest/normalize.js';
import type { PaymentProducer } from '../queue/producer.js';

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

const factsText = (events: PaymentEvent[]) =>
  events
    .map((e) => {
      const money = (m: { minor: string; currency: string }) => `${fromMinorUnits(BigInt(m.minor), m.currency)} ${m.currency}`;
      if (e.kind === 'payment') return `payment ${e.transactionKey} ${money(e.amount)}${e.partnerKey ? ` (partner_key ${e.partnerKey.value})` : ''}`;
      if (e.kind === 'refund') return `refund ${e.refundId}${e.amount ? ` ${money(e.amount)}` : ' (whole order)'}`;
      // the list of refunds standing says nothing new: only a deleted refund changes anything
      if (e.kind === 'refunds_standing') return null;
      return `dispute ${e.disputeId}`;
    })
    .filter((text) => text !== null)
    .join(', ');

export async function reconcileOrders(deps: ReconcileDeps, opts: ReconcileOptions): Promise<ReconcileSummary> {
  const now = deps.now ?? Date.now;
  const started = now();
  const perPage = opts.perPage ?? PER_PAGE;
  const dryRun = opts.dryRun ?? false;
  if (!dryRun && !deps.producer) throw new Error('reconcile needs a queue producer unless it is a dry run');
  const s: ReconcileSummary = { dryRun, orders: 0, queued: 0, alreadyReceived: 0, ignored: 0, failed: 0, deferred: 0, elapsedMs: 0 };
  const inInbox = async (eventId: string) => (await findDelivery(deps.db, opts.programId, 'woocommerce', eventId)) !== undefined;

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
    const id = await storeDelivery(deps.db, {
      programId: opts.programId,
      gateway: 'woocommerce',
      eventId,
      eventType: `order.${raw.status}`.slice(0, 255),
      rawBody: JSON.stringify(raw),
      headers: { source: 'reconcile' },
      ...arrivalState(normalized),
    });
    if (id === null) {
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
        { programId: opts.programId, inboxId: id.toString(), source: 'reconcile', events: normalized.events },
        { gateway: 'woocommerce', eventId },
      );
      s.queued++;
    } catch (err) {
      // kept as received: the sweeper queues it once Redis answers
      await markReceived(deps.db, id);
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

