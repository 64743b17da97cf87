// Chargebee's own record for reconcile: `GET /api/v2/events` (chargebee.event.list) with
// `occurred_at[after|before]`, `event_type[in]` set to the event types the receiver books and
// `sort_by[asc]=occurred_at`, paged with `offset` / `next_offset`. Each listed event is the object a
// webhook carries. The SDK's own retry stays off (its 429 loop has no bound): the pacer retries.
import type Chargebee from 'chargebee';
import type { GatewaySettings } from '../settings.js';
import { retryAfterMs, type CallFailure, type EventRange, type EventSource, type ListedEvent, type RequestPacer } from '../event-source.js';
import { chargebeeSdk } from './client.js';
import { CHARGEBEE_EVENT_TYPES } from './map.js';
import { SITE_NAME } from './settings.js';
import { Envelope } from './wire.js';

type Settings = NonNullable<GatewaySettings['chargebee']>;
type ListParams = Parameters<Chargebee['event']['list']>[0];

/** Chargebee's largest page. */
export const CHARGEBEE_PAGE_SIZE = 100;

function failure(err: unknown): CallFailure {
  // the SDK rejects with Chargebee's error body, http_status_code and the response headers
  const e = err as { http_status_code?: unknown; api_error_code?: unknown; headers?: Record<string, unknown>; message?: string; type?: unknown };
  const status = typeof e.http_status_code === 'number' ? e.http_status_code : null;
  const code = typeof e.api_error_code === 'string' ? `${e.api_error_code}: ` : '';
  return { status, retryAfterMs: retryAfterMs(e.headers?.['retry-after']), message: `${code}${e.message ?? String(e.type ?? 'unknown error')}` };
}

export class ChargebeeEventSource implements EventSource {
  readonly gateway = 'chargebee' as const;
  readonly types = CHARGEBEE_EVENT_TYPES;

  constructor(
    private readonly sdk: Chargebee,
    private readonly pacer: RequestPacer,
    private readonly pageSize = CHARGEBEE_PAGE_SIZE,
  ) {}

  async *pages(range: EventRange): AsyncIterable<ListedEvent[]> {
    // unix seconds; `after` and `before` are both exclusive. Given as flat keys: the SDK (3.33)
    // encodes a nested { after, before } as `occurred_at[after]` and `occurred_at[after][before]`
    const occurredAt = {
      'occurred_at[after]': Math.floor(range.from.getTime() / 1000) - 1,
      'occurred_at[before]': Math.ceil(range.to.getTime() / 1000),
    };
    let offset: string | undefined;
    for (let page = 1; ; page++) {
      const answer = await this.pacer.run(
        `GET /api/v2/events page ${page}`,
        () =>
          this.sdk.event.list({
            limit: this.pageSize,
            ...occurredAt,
            event_type: { in: [...this.types] },
            'sort_by[asc]': 'occurred_at',
            ...(offset ? { offset } : {}),
          } as ListParams),
        failure,
      );
      const events: ListedEvent[] = [];
      for (const entry of answer.list) {
        const e = Envelope.safeParse(entry.event);
        if (!e.success) continue;
        events.push({ id: e.data.id, type: e.data.event_type, occurredAt: new Date(e.data.occurred_at * 1000), payload: entry.event });
      }
      yield events;
      if (!answer.next_offset) return;
      offset = answer.next_offset;
    }
  }
}

/** The source for a program's settings; null when it has no Chargebee site and API key. */
export function chargebeeEventSource(settings: Settings | undefined, apiBase: string | undefined, pacer: RequestPacer): ChargebeeEventSource | null {
  if (!settings?.apiKey) return null;
  const site = settings.site && SITE_NAME.test(settings.site) ? settings.site : undefined;
  if (!site && !apiBase) return null;
  return new ChargebeeEventSource(chargebeeSdk({ site, apiKey: settings.apiKey, apiBase }, 30_000), pacer);
}
