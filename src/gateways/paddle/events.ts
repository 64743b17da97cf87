// Paddle's own record for reconcile: the event stream, `GET /events` (paddle.events.list) with
// `event_type` set to the notifications the receiver books, `order_by=id[ASC]`, paged by the SDK's
// collection along `meta.pagination.next` (the `after` cursor). The stream takes no date filter, so
// the range is applied to each event's `occurred_at`, and paging stops at the first page entirely
// after it. Paddle keeps 90 days of events.
//
// Before the stream, the notifications Paddle itself marks `failed` (every retry used up) are listed
// for each of its active URL destinations that point at this service's Paddle receiver
// (`GET /notification-settings`, then `GET /notifications?notification_setting_id=…&status=failed`
// with `from`/`to`), so the operator sees which deliveries Paddle gave up on, and
// `--ask-gateway-to-resend` can have Paddle send them again (`POST /notifications/{id}/replay`)
// instead of queueing them here. An API key without the notification permissions only loses that
// part: the stream still finds every event.
import type { EventEntity, Notification, Paddle } from '@paddle/paddle-node-sdk';
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
    /** Told what could not be read (no permission for notifications), for the output. */
    private readonly say: (line: string) => void = () => {},
  ) {}

  async *pages(range: EventRange): AsyncIterable<ListedEvent[]> {
    const paddle = await this.paddle();
    // an event found among the failed notifications is not listed again from the stream
    const seen = new Set<string>();
    for await (const page of this.failedNotifications(paddle, range)) {
      for (const e of page) seen.add(e.id);
      yield page;
    }
    for await (const page of this.stream(paddle, range)) yield page.filter((e) => !seen.has(e.id));
  }

  /** Failed notifications of the destinations that deliver to a Paddle receiver of this service. */
  private async *failedNotifications(paddle: Paddle, range: EventRange): AsyncIterable<ListedEvent[]> {
    let destinations;
    try {
      const all = await this.pacer.run('GET /notification-settings', () => paddle.notificationSettings.list({ active: true }), failure);
      destinations = all.filter((d) => d.type === 'url' && d.trafficSource !== 'simulation' && RECEIVER_PATH.test(urlPath(d.destination)));
    } catch (err) {
      this.say(`  failed notifications not listed (${(err as Error).message}): the event stream is read all the same`);
      return;
    }
    for (const d of destinations) {
      const collection = paddle.notifications.list({
        notificationSettingId: [d.id],
        status: ['failed'],
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        perPage: this.pageSize,
      });
      // the raw JSON: the payload is read as the receiver reads it (snake_case)
      collection.fromJson = (raw) => raw as unknown as Notification;
      for (let page = 1; collection.hasMore; page++) {
        const items = (await this.pacer.run(`GET /notifications (${d.id}, failed) page ${page}`, () => collection.next(), failure)) as unknown[];
        const events: ListedEvent[] = [];
        for (const raw of items) {
          const n = raw as { id?: unknown; payload?: unknown };
          const e = Envelope.safeParse(n.payload);
          if (!e.success || typeof n.id !== 'string') continue;
          const occurredAt = new Date(e.data.occurred_at);
          if (occurredAt < range.from || occurredAt >= range.to) continue;
          const notificationId = n.id;
          events.push({
            id: e.data.event_id,
            type: e.data.event_type,
            occurredAt,
            payload: n.payload,
            failedDelivery: {
              notificationId,
              destination: d.destination,
              resend: async () => {
                await this.pacer.run(`POST /notifications/${notificationId}/replay`, () => paddle.notifications.replay(notificationId), failure);
              },
            },
          });
        }
        yield events;
      }
    }
  }

  private async *stream(paddle: Paddle, range: EventRange): AsyncIterable<ListedEvent[]> {
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

/** This service's Paddle receiver: `/webhooks/paddle`, or a program's `/webhooks/paddle/<id>`. */
const RECEIVER_PATH = /\/webhooks\/paddle(\/[0-9a-f-]{36})?\/?$/i;
const urlPath = (u: string) => {
  try {
    return new URL(u).pathname;
  } catch {
    return '';
  }
};

/** The source for a program's settings; null when it has no Paddle API key. */
export function paddleEventSource(
  settings: Settings | undefined,
  apiBase: string | undefined,
  pacer: RequestPacer,
  say?: (line: string) => void,
): PaddleEventSource | null {
  if (!settings?.apiKey) return null;
  const { apiKey } = settings;
  return new PaddleEventSource(() => paddleSdk(apiKey, apiBase), pacer, PADDLE_PAGE_SIZE, say);
}
