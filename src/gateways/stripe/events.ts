// Stripe's own record for reconcile: `GET /v1/events` (stripe.events.list) with `created[gte|lte]`
// and `types` set to the event types the receiver books, paged with `starting_after` (one request
// per page, so each goes through the pacer; the SDK's auto-pagination would page on its own).
// Stripe keeps events for 30 days; the objects of an older range are not listed here.
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
  ) {}

  async *pages(range: EventRange): AsyncIterable<ListedEvent[]> {
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
