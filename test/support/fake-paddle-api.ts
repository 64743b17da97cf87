// The Paddle API as a local server, for the real @paddle/paddle-node-sdk to talk to: subscriptions
// and customers from in-memory objects, answered in Paddle's envelope, and Paddle-shaped errors.
import { FakeGatewayApi, type FakeResponse, type FakeRoute } from './fake-gateway-api.js';

/** A Paddle error response: `{ error: { type, code, detail, documentation_url }, meta }`. */
export function paddleError(status: number, code: string, detail = `fake ${code}`): FakeResponse {
  return {
    status,
    body: {
      error: {
        type: status >= 500 || status === 429 ? 'api_error' : 'request_error',
        code,
        detail,
        documentation_url: `https://developer.paddle.com/errors/shared/${code}`,
      },
      meta: { request_id: 'req_fake_paddle' },
    },
  };
}

/**
 * GET /subscriptions/{id}, /customers/{id} and /discounts/{id} from `objects` (keyed by id, each the entity as
 * Paddle's `data` holds it). `answers` overrides a path with a canned response (an error, a delay).
 */
export function fakePaddleApi(
  objects: Map<string, Record<string, unknown>>,
  answers: Map<string, FakeResponse> = new Map(),
): FakeGatewayApi {
  return new FakeGatewayApi(paddleObjectsRoute(objects, answers));
}

function paddleObjectsRoute(objects: Map<string, Record<string, unknown>>, answers: Map<string, FakeResponse>): FakeRoute {
  return ({ method, path }) => {
    const canned = answers.get(path);
    if (canned) return canned;
    if (method !== 'GET') return undefined;
    const m = /^\/(subscriptions|customers|discounts)\/([^/]+)$/.exec(path);
    if (!m) return undefined;
    const id = decodeURIComponent(m[2]!);
    const obj = objects.get(id);
    if (!obj) return paddleError(404, 'not_found', `Entity ${id} not found`);
    return { status: 200, body: { data: obj, meta: { request_id: 'req_fake_paddle' } } };
  };
}

/**
 * `GET /events` as Paddle answers it, for the SDK's collection: oldest id first (`order_by=id[ASC]`),
 * `event_type` (comma-separated), `per_page` (default 50), `after` (an event id), and
 * `meta.pagination.next` as a full URL on `base()` (this server's address, known once started).
 */
export function paddleEventsRoute(events: Record<string, unknown>[], base: () => string) {
  return ({ method, path, query }: { method: string; path: string; query: URLSearchParams }): FakeResponse | undefined => {
    if (method !== 'GET' || path !== '/events') return undefined;
    const types = query.get('event_type')?.split(',').filter(Boolean) ?? [];
    const perPage = Number(query.get('per_page') ?? 50);
    const after = query.get('after');
    const list = events
      .filter((e) => types.length === 0 || types.includes(e.event_type as string))
      .sort((a, b) => String(a.event_id).localeCompare(String(b.event_id)))
      .filter((e) => !after || String(e.event_id) > after);
    const page = list.slice(0, perPage);
    const next = new URLSearchParams(query);
    if (page.length) next.set('after', String(page.at(-1)!.event_id));
    return {
      status: 200,
      body: {
        data: page,
        meta: {
          request_id: 'req_fake_paddle',
          pagination: { per_page: perPage, next: `${base()}/events?${next}`, has_more: list.length > perPage, estimated_total: list.length },
        },
      },
    };
  };
}

/** The Paddle API with its event stream (`GET /events`) besides the objects of `fakePaddleApi`. */
export function fakePaddleEventsApi(
  events: Record<string, unknown>[],
  objects: Map<string, Record<string, unknown>> = new Map(),
): FakeGatewayApi {
  const rest = paddleObjectsRoute(objects, new Map());
  const listed = paddleEventsRoute(events, () => api.url);
  const api: FakeGatewayApi = new FakeGatewayApi((req) => listed(req) ?? rest(req));
  return api;
}

/** Paddle's 429 (`too_many_requests`), with Retry-After in seconds. */
export function paddleRateLimited(retryAfterSeconds: number): FakeResponse {
  return { ...paddleError(429, 'too_many_requests', 'Too many requests'), headers: { 'retry-after': String(retryAfterSeconds) } };
}

/** A Paddle notification destination and its notifications, as `GET /notifications` lists them. */
export type FakePaddleNotifications = {
  settings: Record<string, unknown>[];
  notifications: Record<string, unknown>[];
  /** Ids of the notifications `POST /notifications/{id}/replay` was called for, in order. */
  replayed: string[];
};

/**
 * `GET /notification-settings` (`active`), `GET /notifications` (`notification_setting_id`, `status`,
 * `from`/`to` on occurred_at, `per_page`, `after`) and `POST /notifications/{id}/replay`, which
 * Paddle answers 202 with a new notification id (only a `delivered` or `failed` one can be replayed).
 */
export function paddleNotificationsRoute(n: FakePaddleNotifications, base: () => string): FakeRoute {
  return ({ method, path, query }) => {
    if (method === 'GET' && path === '/notification-settings') {
      const active = query.get('active');
      const data = n.settings.filter((s) => active === null || String(s.active) === active);
      return { status: 200, body: { data, meta: { request_id: 'req_fake_paddle' } } };
    }
    if (method === 'GET' && path === '/notifications') {
      const settings = query.get('notification_setting_id')?.split(',').filter(Boolean) ?? [];
      const statuses = query.get('status')?.split(',').filter(Boolean) ?? [];
      const from = query.get('from');
      const to = query.get('to');
      const perPage = Number(query.get('per_page') ?? 50);
      const after = query.get('after');
      const list = n.notifications
        .filter((x) => settings.length === 0 || settings.includes(x.notification_setting_id as string))
        .filter((x) => statuses.length === 0 || statuses.includes(x.status as string))
        .filter((x) => (!from || String(x.occurred_at) >= from) && (!to || String(x.occurred_at) < to))
        .sort((a, b) => String(a.id).localeCompare(String(b.id)))
        .filter((x) => !after || String(x.id) > after);
      const page = list.slice(0, perPage);
      const next = new URLSearchParams(query);
      if (page.length) next.set('after', String(page.at(-1)!.id));
      return {
        status: 200,
        body: {
          data: page,
          meta: { request_id: 'req_fake_paddle', pagination: { per_page: perPage, next: `${base()}/notifications?${next}`, has_more: list.length > perPage, estimated_total: list.length } },
        },
      };
    }
    const m = /^\/notifications\/([^/]+)\/replay$/.exec(path);
    if (method === 'POST' && m) {
      const id = decodeURIComponent(m[1]!);
      const found = n.notifications.find((x) => x.id === id);
      if (!found) return paddleError(404, 'not_found', `Entity ${id} not found`);
      if (found.status !== 'failed' && found.status !== 'delivered') return paddleError(400, 'notification_cannot_replay');
      n.replayed.push(id);
      return { status: 202, body: { data: { notification_id: `ntf_replay${String(n.replayed.length).padStart(17, '0')}` }, meta: { request_id: 'req_fake_paddle' } } };
    }
    return undefined;
  };
}

/** The Paddle API with its event stream, its notification destinations and notifications, and the objects of `fakePaddleApi`. */
export function fakePaddleNotificationsApi(
  events: Record<string, unknown>[],
  notifications: FakePaddleNotifications,
  objects: Map<string, Record<string, unknown>> = new Map(),
): FakeGatewayApi {
  const listed = paddleEventsRoute(events, () => api.url);
  const notified = paddleNotificationsRoute(notifications, () => api.url);
  const rest = paddleObjectsRoute(objects, new Map());
  const api: FakeGatewayApi = new FakeGatewayApi((req) => listed(req) ?? notified(req) ?? rest(req));
  return api;
}
