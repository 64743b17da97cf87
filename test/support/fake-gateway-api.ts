// A local HTTP server playing a gateway's REST API, so the real SDKs can be pointed at it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeResponse = { status: number; body: unknown; delayMs?: number };
export type FakeRoute = (req: { method: string; path: string; query: URLSearchParams; body: string }) => FakeResponse | undefined;

export class FakeGatewayApi {
  private server = http.createServer((req, res) => void this.handle(req, res));
  readonly requests: { method: string; path: string; query: string; headers: http.IncomingHttpHeaders }[] = [];
  /** Answer every request with this status (e.g. 503) while set: an outage. */
  outage: number | null = null;
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
    const answer: FakeResponse = this.outage
      ? { status: this.outage, body: { error: { type: 'api_error', message: 'fake outage' } } }
      : (this.route({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks).toString() }) ?? {
          status: 404,
          body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such object: ${url.pathname}` } },
        });
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': 'req_fake' });
    res.end(JSON.stringify(answer.body));
  }
}

/** The Stripe API: customers, subscriptions, invoices and invoice payments from in-memory objects. */
export function fakeStripeApi(objects: Map<string, Record<string, unknown>>) {
  return new FakeGatewayApi(({ method, path, query }) => {
    if (method !== 'GET') return undefined;
    const m = /^\/v1\/(customers|subscriptions|invoices)\/([^/]+)$/.exec(path);
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
  });
}
