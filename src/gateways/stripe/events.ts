// Stripe's own record for reconcile: `GET /v1/events` (stripe.events.list) with `created[gte|lte]`
// and `types` set to the event types the receiver books, paged with `starting_after` (one request
// per page, so each goes through the pacer; the SDK's auto-pagination would page on its own).
// Stripe keeps events for 30 days: the part of a range older than that is read from the objects
// instead (`charges.list`, `refunds.list`, `disputes.list` by `created`), each turned into the event
// its webhook carried (payment_intent.succeeded or charge.succeeded, refund.created,
// charge.dispute.created / .closed) under an id made from the object, so a second run is a duplicate;
// `madeFrom` lets reconcile skip an object the ledger has from the real webhook (another event id).
import type Stripe from 'stripe';
import type { GatewaySettings } from '../settings.js';
import { retryAfterMs, type CallFailure, type EventRange, type EventSource, type ListedEvent, type RequestPacer } from '../event-source.js';
import { stripeSdk } from './client.js';
import { STRIPE_EVENT_TYPES } from './map.js';

type Settings = NonNullable<GatewaySettings['stripe']>;

/** Stripe's largest page. */
export const STRIPE_PAGE_SIZE = 100;

/** How long Stripe keeps events: a range starting earlier is only partly listed. */
export const STRIPE_EVENT_RETENTION_DAYS = 30;

/** Older than this (a day's margin inside the retention), a range is read from the objects. */
export const STRIPE_OBJECTS_BEFORE_DAYS = STRIPE_EVENT_RETENTION_DAYS - 1;

/** The id of an event made from an object: the same object in the same state, the same id. */
export const madeEventId = (type: string, objectId: string) => `evt_pl_${type}_${objectId}`;

type Obj = Record<string, unknown> & { id: string; created: number; livemode?: boolean };

function madeEvent(type: string, object: Obj, objectId: string, madeFrom: ListedEvent['madeFrom']): ListedEvent {
  const id = madeEventId(type, objectId);
  return {
    id,
    type,
    occurredAt: new Date(object.created * 1000),
    livemode: object.livemode,
    madeFrom,
    payload: { id, object: 'event', type, created: object.created, livemode: object.livemode ?? false, api_version: null, data: { object }, request: null, pending_webhooks: 0 },
  };
}

const refOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' ? (v as { id: string }).id : undefined);
const compact = (xs: (string | undefined)[]) => xs.filter((x): x is string => !!x);

/** A charge as its webhook would have told it; null for one that took no money. */
export function chargeEvent(ch: Obj): ListedEvent | null {
  if (ch.status !== 'succeeded' || ((ch.amount_captured as number | undefined) ?? (ch.amount as number)) === 0) return null;
  const pi = ch.payment_intent;
  const refs = compact([refOf(pi), ch.id, refOf(ch.invoice)]);
  // the payment intent (expanded) carries the metadata merchants put the partner key in
  if (pi && typeof pi === 'object' && (pi as Obj).status === 'succeeded') {
    return madeEvent('payment_intent.succeeded', { ...(pi as Obj), latest_charge: (pi as Obj).latest_charge ?? ch.id }, (pi as Obj).id, { kind: 'payment', refs });
  }
  return madeEvent('charge.succeeded', { ...ch, payment_intent: refOf(pi) ?? null }, ch.id, { kind: 'payment', refs });
}

export function refundEvent(re: Obj): ListedEvent | null {
  if (re.status !== 'succeeded') return null;
  return madeEvent('refund.created', re, re.id, { kind: 'refund', refs: [re.id] });
}

export function disputeEvent(dp: Obj): ListedEvent {
  const closed = dp.status === 'lost' ? 'lost' : dp.status === 'won' || dp.status === 'warning_closed' ? 'won' : null;
  const type = closed ? 'charge.dispute.closed' : 'charge.dispute.created';
  return madeEvent(type, dp, `${dp.id}_${closed ?? 'opened'}`, { kind: 'dispute', refs: [dp.id], status: closed ?? 'opened' });
}

function failure(err: unknown): CallFailure {
  const e = err as { statusCode?: number; headers?: Record<string, unknown>; message?: string };
  return { status: e.statusCode ?? null, retryAfterMs: retryAfterMs(e.headers?.['retry-after']), message: e.message ?? 'unknown error' };
}

export class StripeEventSource implements EventSource {
  readonly gateway = 'stripe' as const;
  readonly types = STRIPE_EVENT_TYPES;

  constructor(
    private readonly stripe: Stripe,
    private readonly pacer: RequestPacer,
    private readonly pageSize = STRIPE_PAGE_SIZE,
    private readonly now: () => number = Date.now,
  ) {}

  /** The range's part older than the events' retention from the objects, the rest from the events. */
  async *pages(range: EventRange): AsyncIterable<ListedEvent[]> {
    const cutoff = new Date(this.now() - STRIPE_OBJECTS_BEFORE_DAYS * 86_400_000);
    if (range.from < cutoff) yield* this.objectPages({ from: range.from, to: range.to < cutoff ? range.to : cutoff });
    if (range.to > cutoff) yield* this.eventPages({ from: range.from > cutoff ? range.from : cutoff, to: range.to });
  }

  private async *objectPages(range: EventRange): AsyncIterable<ListedEvent[]> {
    const created = { gte: Math.floor(range.from.getTime() / 1000), lte: Math.ceil(range.to.getTime() / 1000) - 1 };
    // payments first, then refunds and disputes: a refund found before its payment waits for it anyway
    type ObjList = { data: Obj[]; has_more: boolean };
    const lists: { what: string; list: (after?: string) => Promise<unknown>; make: (o: Obj) => ListedEvent | null }[] = [
      { what: 'GET /v1/charges', list: (after?: string) => this.stripe.charges.list({ created, limit: this.pageSize, expand: ['data.payment_intent'], ...(after ? { starting_after: after } : {}) }), make: chargeEvent },
      { what: 'GET /v1/refunds', list: (after?: string) => this.stripe.refunds.list({ created, limit: this.pageSize, ...(after ? { starting_after: after } : {}) }), make: refundEvent },
      { what: 'GET /v1/disputes', list: (after?: string) => this.stripe.disputes.list({ created, limit: this.pageSize, ...(after ? { starting_after: after } : {}) }), make: disputeEvent },
    ];
    for (const l of lists) {
      let startingAfter: string | undefined;
      for (let page = 1; ; page++) {
        const list = (await this.pacer.run(`${l.what} page ${page}`, () => l.list(startingAfter), failure)) as ObjList;
        yield [...list.data].reverse().flatMap((o) => l.make(o) ?? []);
        const last = list.data.at(-1);
        if (!list.has_more || !last) break;
        startingAfter = last.id;
      }
    }
  }

  private async *eventPages(range: EventRange): AsyncIterable<ListedEvent[]> {
    // `created` is in whole seconds; `to` is exclusive
    const created = { gte: Math.floor(range.from.getTime() / 1000), lte: Math.ceil(range.to.getTime() / 1000) - 1 };
    let startingAfter: string | undefined;
    for (let page = 1; ; page++) {
      const list = await this.pacer.run(
        `GET /v1/events page ${page}`,
        () =>
          this.stripe.events.list({
            created,
            types: [...this.types],
            limit: this.pageSize,
            ...(startingAfter ? { starting_after: startingAfter } : {}),
          }),
        failure,
      );
      // Stripe lists newest first: within a page, the oldest goes first (a payment before its refund)
      yield [...list.data].reverse().map((e) => ({
        id: e.id,
        type: e.type,
        occurredAt: new Date(e.created * 1000),
        livemode: e.livemode,
        payload: e,
      }));
      const last = list.data.at(-1);
      if (!list.has_more || !last) return;
      startingAfter = last.id;
    }
  }
}

/** The source for a program's settings; null when it has no Stripe secret key. */
export function stripeEventSource(settings: Settings | undefined, apiBase: string | undefined, pacer: RequestPacer): StripeEventSource | null {
  if (!settings?.apiKey) return null;
  return new StripeEventSource(stripeSdk(settings.apiKey, apiBase), pacer);
}
