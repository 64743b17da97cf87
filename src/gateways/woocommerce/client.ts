// The WooCommerce REST API calls the reconcile command makes, through the official client
// (`@woocommerce/woocommerce-rest-api`: OAuth 1.0a in the query over http, Basic auth over https).
// Webhook deliveries carry the whole order, so the worker's enrich step needs no lookups here.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import Woo from '@woocommerce/woocommerce-rest-api';
import type { GatewaySettings } from '../settings.js';
import { checkUrl, systemResolver, UrlNotAllowed, type Resolver, type UrlPolicy } from '../../outbound/url-policy.js';

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

/** The REST client for one request: the store's URL checked, and its connection pinned to what was checked. */
type Connect = () => Promise<RestApi>;

export class WooCommerceClient implements OrderSource {
  constructor(
    private readonly connect: Connect,
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
    const res = await this.call(`GET orders page ${q.page}`, async () => (await this.connect()).get('orders', params));
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
  if (err instanceof WooCommerceApiError) return err;
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

type ClientOptions = {
  /** The operator's override of the store's address (WOOCOMMERCE_API_BASE): trusted, not checked. */
  apiBase?: string;
  /** The outbound URL policy the program's store URL is held to at every request. */
  policy?: UrlPolicy;
  resolver?: Resolver;
  retryDelayMs?: number;
};

/**
 * The REST client for a program's settings; null when the API is not configured. The store URL is a
 * program's setting, so each request first checks it against the outbound URL policy (public
 * addresses only) and then connects to the very addresses checked, never to a second DNS answer.
 */
export function wooCommerceClient(settings: Settings | undefined, opts: ClientOptions = {}): WooCommerceClient | null {
  const url = opts.apiBase ?? settings?.url;
  if (!url || !settings?.consumerKey || !settings.consumerSecret) return null;
  const base = {
    url,
    consumerKey: settings.consumerKey,
    consumerSecret: settings.consumerSecret,
    version: 'wc/v3' as const,
    timeout: 30_000,
  };
  let connect: Connect;
  if (opts.apiBase) {
    const api = new WooCommerceRestApi(base);
    connect = async () => api;
  } else {
    const policy = opts.policy ?? { allowLoopback: false };
    const resolver = opts.resolver ?? systemResolver;
    connect = async () => {
      let addresses: Awaited<ReturnType<typeof checkUrl>>['addresses'];
      try {
        ({ addresses } = await checkUrl(url, policy, resolver));
      } catch (err) {
        if (err instanceof UrlNotAllowed) throw new WooCommerceApiError(`WooCommerce store URL refused: ${err.message}`, null, err.reason === 'unresolvable');
        throw err;
      }
      const pinned: LookupFunction = (_hostname, options, callback) => {
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      };
      // no proxy from the environment and no redirects: either would send the request somewhere unchecked
      const axiosConfig = { httpAgent: new http.Agent({ lookup: pinned }), httpsAgent: new https.Agent({ lookup: pinned }), proxy: false, maxRedirects: 0 };
      return new WooCommerceRestApi({ ...base, axiosConfig });
    };
  }
  return new WooCommerceClient(connect, 3, opts.retryDelayMs ?? 500);
}
