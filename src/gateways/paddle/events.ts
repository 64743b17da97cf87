// Paddle's own record for reconcile: the event stream, `GET /events` (paddle.events.list) with
// `event_type` set to the notifications the receiver books, `order_by=id[ASC]`, paged by the SDK's
// collection along `meta.pagination.next` (the `after` cursor). The stream takes no date filter, so
// the range is applied to each event's `occurred_at`, and paging stops at the first page entirely
// after it. Paddle keeps 90 days of events.
import type { EventEntity, Paddle } from '@paddle/paddle-node-sdk';
import type { GatewaySettings } from '../settings.js';
import { retryAfterMs, type CallFailure, type EventRange, type EventSource, type ListedEvent, type RequestPacer } from '../event-source.js';
import { paddleSdk, STATUS_OF_CODE } from './client.js';
import { PADDLE_EVENT_TYPES } from './map.js';
import { Envelope } from './wire.js';

type Settings = NonNullable<GatewaySettings['paddle']>;

/** Paddle's largest page of events. */
export const PADDLE_PAGE_SIZE = 200;

function failure(err: unknown): CallFailure {
  // the SDK's ApiError keeps Paddle's error code and Retry-After (seconds), not the HTTP status
  const e = err as { code?: string; type?: string; retryAfter?: number | null; message?: string; cause?: { code?: string } };
  if (typeof e.code === 'string' && typeof e.type === 'string') {
    const status = STATUS_OF_CODE[e.code] ?? (e.type === 'api_error' ? 500 : 400);
    return { status, retryAfterMs: typeof e.retryAfter === 'number' ? retryAfterMs(e.retryAfter) : null, message: `${e.code}: ${e.message ?? ''}` };
  }
  // fetch failed (no answer), or a body that is not JSON (a proxy's error page): worth another try
  return { status: null, retryAfterMs: null, message: e.cause?.code ?? e.message ?? 'unknown error' };
}

export class PaddleEventSource implements EventSource {
  readonly gateway = 'paddle' as const;
  readonly types = PADDLE_EVENT_TYPES;

  constructor(
    private readonly paddle: () => Promise<Paddle>,
    private readonly pacer: RequestPacer,
    private readonly pageSize = PADDLE_PAGE_SIZE,
  ) {}

  async *pages(range: EventRange): AsyncIterable<ListedEvent[]> {
    const paddle = await this.paddle();
    const collection = paddle.events.list({ orderBy: 'id[ASC]', perPage: this.pageSize, eventType: [...this.types] as never });
    // the receiver reads the notification as Paddle sends it (snake_case); the SDK's entities are
    // camelCase copies that drop fields, so each page keeps the raw JSON instead
    collection.fromJson = (raw) => raw as unknown as EventEntity;
    for (let page = 1; collection.hasMore; page++) {
      const items = (await this.pacer.run(`GET /events page ${page}`, () => collection.next(), failure)) as unknown[];
      const events: ListedEvent[] = [];
      let after = 0;
      for (const raw of items) {
        const e = Envelope.safeParse(raw);
        if (!e.success) continue;
        const occurredAt = new Date(e.data.occurred_at);
        if (occurredAt >= range.to) after++;
        if (occurredAt < range.from || occurredAt >= range.to) continue;
        events.push({ id: e.data.event_id, type: e.data.event_type, occurredAt, payload: raw });
      }
      yield events;
      if (items.length > 0 && after === items.length) return;
    }
  }
}

/** The source for a program's settings; null when it has no Paddle API key. */
export function paddleEventSource(settings: Settings | undefined, apiBase: string | undefined, pacer: RequestPacer): PaddleEventSource | null {
  if (!settings?.apiKey) return null;
  const { apiKey } = settings;
  return new PaddleEventSource(() => paddleSdk(apiKey, apiBase), pacer);
}
