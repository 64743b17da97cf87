// A local stand-in for the Chargebee API (v2), for the real chargebee SDK pointed at it: customers
// from an in-memory map, and Chargebee's own error body for anything it does not have.
import { FakeGatewayApi, type FakeResponse, type FakeRoute } from './fake-gateway-api.js';

const notFound = (path: string) => ({
  status: 404,
  body: {
    message: `Sorry, we couldn't find that resource: ${path}`,
    type: 'invalid_request',
    api_error_code: 'resource_not_found',
    error_code: 'resource_not_found',
    error_msg: `Sorry, we couldn't find that resource: ${path}`,
    http_status_code: 404,
  },
});

/**
 * `GET /api/v2/customers/{id}` answers `{ customer }` from `customers` (keyed by customer id);
 * `delayMs` slows every answer (to test timeouts).
 */
export function fakeChargebeeApi(customers: Map<string, Record<string, unknown>>, options: { delayMs?: number } = {}): FakeGatewayApi {
  return new FakeGatewayApi(({ method, path }) => {
    const m = /^\/api\/v2\/customers\/([^/]+)$/.exec(path);
    const customer = method === 'GET' && m ? customers.get(decodeURIComponent(m[1]!)) : undefined;
    return { ...(customer ? { status: 200, body: { customer } } : notFound(path)), delayMs: options.delayMs };
  });
}

/**
 * `GET /api/v2/events` as Chargebee answers it: `occurred_at[after|before]` (exclusive, unix
 * seconds), `event_type[in]` (a JSON array), `sort_by[asc]=occurred_at`, `limit` (default 10) and
 * `offset` / `next_offset` (an opaque string: here the index of the next entry).
 */
export function chargebeeEventsRoute(events: Record<string, unknown>[]): FakeRoute {
  return ({ method, path, query }) => {
    if (method !== 'GET' || path !== '/api/v2/events') return undefined;
    const after = query.has('occurred_at[after]') ? Number(query.get('occurred_at[after]')) : null;
    const before = query.has('occurred_at[before]') ? Number(query.get('occurred_at[before]')) : null;
    const types = query.has('event_type[in]') ? (JSON.parse(query.get('event_type[in]')!) as string[]) : null;
    const limit = Number(query.get('limit') ?? 10);
    const offset = Number(query.get('offset') ?? 0);
    const list = events
      .filter((e) => {
        const t = e.occurred_at as number;
        return (after === null || t > after) && (before === null || t < before) && (!types || types.includes(e.event_type as string));
      })
      .sort((a, b) => (query.get('sort_by[asc]') === 'occurred_at' ? (a.occurred_at as number) - (b.occurred_at as number) : (b.occurred_at as number) - (a.occurred_at as number)));
    const page = list.slice(offset, offset + limit);
    const more = offset + limit < list.length;
    return { status: 200, body: { list: page.map((event) => ({ event })), ...(more ? { next_offset: String(offset + limit) } : {}) } };
  };
}

/** The Chargebee API with its event list besides the customers of `fakeChargebeeApi`. */
export function fakeChargebeeEventsApi(events: Record<string, unknown>[], customers: Map<string, Record<string, unknown>> = new Map()): FakeGatewayApi {
  const listed = chargebeeEventsRoute(events);
  return new FakeGatewayApi((req) => {
    const l = listed(req);
    if (l) return l;
    const m = /^\/api\/v2\/customers\/([^/]+)$/.exec(req.path);
    const customer = req.method === 'GET' && m ? customers.get(decodeURIComponent(m[1]!)) : undefined;
    return customer ? { status: 200, body: { customer } } : notFound(req.path);
  });
}

/** Chargebee's 429 (`api_request_limit_exceeded`), with Retry-After in seconds. */
export function chargebeeRateLimited(retryAfterSeconds: number): FakeResponse {
  const message = 'Sorry, access has been blocked temporarily due to request count exceeding acceptable limits.';
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: { message, type: 'operation_failed', api_error_code: 'api_request_limit_exceeded', error_code: 'api_request_limit_exceeded', error_msg: message, http_status_code: 429 },
  };
}
