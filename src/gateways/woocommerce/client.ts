// The WooCommerce REST API calls the reconcile command makes, through the official client
// (`@woocommerce/woocommerce-rest-api`: OAuth 1.0a in the query over http, Basic auth over https).
// Webhook deliveries carry the whole order, so the worker's enrich step needs no lookups here.
import Woo from '@woocommerce/woocommerce-rest-api';
import type { GatewaySettings } from '../../db/schema.js';

// CommonJS with `exports.default`: under NodeNext the default import is the module object (a bundler
// that honours `__esModule` would give the class itself)
const WooCommerceRestApi = (Woo.default ?? Woo) as typeof Woo.default;
type RestApi = InstanceType<typeof WooCommerceRestApi>;

type Settings = NonNullable<GatewaySettings['woocommerce']>;

/** A failed API call: `transient` ones (timeouts, 429, 5xx, no answer) are worth another try. */
export class WooCommerceApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'WooCommerceApiError';
  }
}

export type OrdersQuery = {
  /** Orders modified strictly after this instant (UTC). */
  modifiedAfter: Date;
  /** Orders modified strictly before this instant (UTC). */
  modifiedBefore: Date;
  page: number;
  perPage: number;
};

export type OrdersPage = {
  orders: unknown[];
  /** X-WP-Total / X-WP-TotalPages, when the store sends them. */
  total: number | null;
  totalPages: number | null;
};

/** Where reconcile reads orders from (the REST API, or a test's list). */
export interface OrderSource {
  listOrders(query: OrdersQuery): Promise<OrdersPage>;
}

/** WooCommerce's date parameters: ISO 8601 without zone, read as UTC with `dates_are_gmt`. */
const wcDate = (d: Date) => d.toISOString().slice(0, 19);

function headerNumber(headers: unknown, name: string): number | null {
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>;
  const raw = typeof h?.get === 'function' ? h.get(name) : h?.[name];
  const n = Number(raw);
  return raw !== undefined && raw !== null && raw !== '' && Number.isInteger(n) && n >= 0 ? n : null;
}

export class WooCommerceClient implements OrderSource {
  constructor(
    private readonly api: RestApi,
    private readonly retries = 3,
    private readonly retryDelayMs = 500,
  ) {}

  /** `GET /wp-json/wc/v3/orders` for one page of orders modified in a range, oldest id first. */
  async listOrders(q: OrdersQuery): Promise<OrdersPage> {
    const params = {
      modified_after: wcDate(q.modifiedAfter),
      modified_before: wcDate(q.modifiedBefore),
      dates_are_gmt: true,
      per_page: q.perPage,
      page: q.page,
      // by id, not by date: an order modified while we page moves in a date order, not in this one
      orderby: 'id',
      order: 'asc',
    };
    const res = await this.call(`GET orders page ${q.page}`, () => this.api.get('orders', params));
    const data = (res as { data?: unknown }).data;
    if (!Array.isArray(data)) {
      throw new WooCommerceApiError('WooCommerce API: GET orders did not answer with a list of orders', null, false);
    }
    const headers = (res as { headers?: unknown }).headers;
    return { orders: data, total: headerNumber(headers, 'x-wp-total'), totalPages: headerNumber(headers, 'x-wp-totalpages') };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = toApiError(what, err);
        if (!e.transient || attempt >= this.retries) throw e;
        await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** (attempt - 1)));
      }
    }
  }
}

function toApiError(what: string, err: unknown): WooCommerceApiError {
  const e = err as { response?: { status?: number; data?: { code?: string; message?: string } }; code?: string; message?: string };
  const status = e.response?.status ?? null;
  if (status === null) {
    return new WooCommerceApiError(`WooCommerce API unreachable on ${what} (${e.code ?? e.message ?? 'no answer'})`, null, true);
  }
  const said = e.response?.data?.code ?? e.response?.data?.message;
  const hint = status === 401 || status === 403 ? ': check WOOCOMMERCE_CONSUMER_KEY / _SECRET (read access)' : '';
  return new WooCommerceApiError(
    `WooCommerce API ${status} on ${what}${said ? ` (${said})` : ''}${hint}`,
    status,
    status === 429 || status >= 500,
  );
}

/** The REST client for a program's settings; null when the API is not configured. */
export function wooCommerceClient(settings: Settings | undefined, opts: { retryDelayMs?: number } = {}): WooCommerceClient | null {
  const url = settings?.apiBase ?? settings?.url;
  if (!url || !settings?.consumerKey || !settings.consumerSecret) return null;
  const api = new WooCommerceRestApi({
    url,
    consumerKey: settings.consumerKey,
    consumerSecret: settings.consumerSecret,
    version: 'wc/v3',
    timeout: 30_000,
  });
  return new WooCommerceClient(api, 3, opts.retryDelayMs ?? 500);
}
