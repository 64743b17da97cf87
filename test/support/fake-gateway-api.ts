// A local HTTP server playing a gateway's REST API, so the real SDKs can be pointed at it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeResponse = { status: number; body: unknown; delayMs?: number; headers?: Record<string, string> };
export type FakeRoute = (req: { method: string; path: string; query: URLSearchParams; body: string }) => FakeResponse | undefined;

export class FakeGatewayApi {
  private server = http.createServer((req, res) => void this.handle(req, res));
  readonly requests: { method: string; path: string; query: string; headers: http.IncomingHttpHeaders }[] = [];
  /** Answer every request with this status (e.g. 503) while set: an outage. */
  outage: number | null = null;
  /** Answers given, in order, before any routing (a 429 with Retry-After, then the real answer). */
  readonly nextAnswers: FakeResponse[] = [];
  url = '';

  constructor(private readonly route: FakeRoute) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, headers: req.headers });
    const answer: FakeResponse = this.nextAnswers.length
      ? this.nextAnswers.shift()!
      : this.outage
      ? { status: this.outage, body: { error: { type: 'api_error', message: 'fake outage' } } }
      : (this.route({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks).toString() }) ?? {
          status: 404,
          body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such object: ${url.pathname}` } },
        });
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': 'req_fake', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }
}

type FakeRequest = Parameters<FakeRoute>[0];

/** Stripe's objects route: customers, subscriptions, invoices, promotion codes and invoice payments. */
function stripeObjectsRoute(objects: Map<string, Record<string, unknown>>): FakeRoute {
  return ({ method, path, query }) => {
    if (method !== 'GET') return undefined;
    const m = /^\/v1\/(customers|subscriptions|invoices|promotion_codes)\/([^/]+)$/.exec(path);
    if (m) {
      const obj = objects.get(decodeURIComponent(m[2]!));
      return obj ? { status: 200, body: obj } : undefined;
    }
    if (path === '/v1/invoice_payments') {
      const invoice = query.get('invoice') ?? '';
      const payments = objects.get(`invoice_payments:${invoice}`);
      return { status: 200, body: { object: 'list', data: payments ? [payments] : [], has_more: false, url: '/v1/invoice_payments' } };
    }
    return undefined;
  };
}

/** The Stripe API: customers, subscriptions, invoices and invoice payments from in-memory objects. */
export function fakeStripeApi(objects: Map<string, Record<string, unknown>>) {
  return new FakeGatewayApi(stripeObjectsRoute(objects));
}

/**
 * `GET /v1/events` as Stripe answers it: newest first, filtered by `created[gte|gt|lte|lt]` and
 * `types[]`, `limit` (default 10) and `starting_after` (an event id of the previous page).
 */
export function stripeEventsRoute(events: Record<string, unknown>[]): FakeRoute {
  return ({ method, path, query }: FakeRequest) => {
    if (method !== 'GET' || path !== '/v1/events') return undefined;
    const num = (k: string) => (query.has(k) ? Number(query.get(k)) : null);
    const [gte, gt, lte, lt] = [num('created[gte]'), num('created[gt]'), num('created[lte]'), num('created[lt]')];
    // the SDK sends an array as types[0]=…&types[1]=…
    const types = [...query].filter(([k]) => /^types\[\d*\]$/.test(k)).map(([, v]) => v);
    const limit = num('limit') ?? 10;
    let list = events
      .filter((e) => {
        const c = e.created as number;
        return (gte === null || c >= gte) && (gt === null || c > gt) && (lte === null || c <= lte) && (lt === null || c < lt);
      })
      .filter((e) => types.length === 0 || types.includes(e.type as string))
      .sort((a, b) => (b.created as number) - (a.created as number) || String(b.id).localeCompare(String(a.id)));
    const after = query.get('starting_after');
    if (after) list = list.slice(list.findIndex((e) => e.id === after) + 1);
    return { status: 200, body: { object: 'list', data: list.slice(0, limit), has_more: list.length > limit, url: '/v1/events' } };
  };
}

/** The Stripe API with its event list (`GET /v1/events`) besides the objects of `fakeStripeApi`. */
export function fakeStripeEventsApi(events: Record<string, unknown>[], objects: Map<string, Record<string, unknown>> = new Map()) {
  const listed = stripeEventsRoute(events);
  const rest = stripeObjectsRoute(objects);
  return new FakeGatewayApi((req) => listed(req) ?? rest(req));
}

/**
 * `GET /v1/charges`, `/v1/refunds`, `/v1/disputes` as Stripe answers them: newest first, filtered by
 * `created[gte|gt|lte|lt]`, `limit` and `starting_after`; `expand[]=data.payment_intent` puts the
 * payment intent (from `objects`, by id) in each charge.
 */
export function stripeObjectListsRoute(lists: { charges?: Record<string, unknown>[]; refunds?: Record<string, unknown>[]; disputes?: Record<string, unknown>[] }, objects: Map<string, Record<string, unknown>> = new Map()): FakeRoute {
  return ({ method, path, query }: FakeRequest) => {
    const m = /^\/v1\/(charges|refunds|disputes)$/.exec(path);
    if (method !== 'GET' || !m) return undefined;
    const name = m[1] as 'charges' | 'refunds' | 'disputes';
    const num = (k: string) => (query.has(k) ? Number(query.get(k)) : null);
    const [gte, gt, lte, lt] = [num('created[gte]'), num('created[gt]'), num('created[lte]'), num('created[lt]')];
    const limit = num('limit') ?? 10;
    const expand = [...query].filter(([k]) => /^expand\[\d*\]$/.test(k)).map(([, v]) => v);
    let list = (lists[name] ?? [])
      .filter((o) => {
        const c = o.created as number;
        return (gte === null || c >= gte) && (gt === null || c > gt) && (lte === null || c <= lte) && (lt === null || c < lt);
      })
      .sort((a, b) => (b.created as number) - (a.created as number) || String(b.id).localeCompare(String(a.id)));
    const after = query.get('starting_after');
    if (after) list = list.slice(list.findIndex((o) => o.id === after) + 1);
    const page = list.slice(0, limit).map((o) =>
      expand.includes('data.payment_intent') && typeof o.payment_intent === 'string' ? { ...o, payment_intent: objects.get(o.payment_intent) ?? o.payment_intent } : o,
    );
    return { status: 200, body: { object: 'list', data: page, has_more: list.length > limit, url: `/v1/${name}` } };
  };
}

/** The Stripe API with its events and its charge, refund and dispute lists, besides the objects of `fakeStripeApi`. */
export function fakeStripeListsApi(
  lists: { events?: Record<string, unknown>[]; charges?: Record<string, unknown>[]; refunds?: Record<string, unknown>[]; disputes?: Record<string, unknown>[] },
  objects: Map<string, Record<string, unknown>> = new Map(),
) {
  const events = stripeEventsRoute(lists.events ?? []);
  const objectLists = stripeObjectListsRoute(lists, objects);
  const rest = stripeObjectsRoute(objects);
  return new FakeGatewayApi((req) => events(req) ?? objectLists(req) ?? rest(req));
}

/** Stripe's 429: `rate_limit_error`, with Retry-After in seconds. */
export function stripeRateLimited(retryAfterSeconds: number): FakeResponse {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly.' } },
  };
}
