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
 * GET /subscriptions/{id} and GET /customers/{id} from `objects` (keyed by id, each the entity as
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
    const m = /^\/(subscriptions|customers)\/([^/]+)$/.exec(path);
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
