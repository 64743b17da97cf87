// A local stand-in for a store's WooCommerce REST API (`GET /wp-json/wc/v3/orders`), so the official
// client can be pointed at it over http. Like WooCommerce, it checks the OAuth 1.0a signature the
// client puts in the query (HMAC-SHA256, consumer secret as the key), filters by modification date
// and pages with `page` / `per_page`.
import { createHmac } from 'node:crypto';
import { FakeGatewayApi } from './fake-gateway-api.js';

export type FakeWooOrder = Record<string, unknown> & { id: number; date_modified_gmt: string };
export type FakeWooStore = { orders: FakeWooOrder[]; consumerKey: string; consumerSecret: string };

/** RFC 3986 encoding, as OAuth 1.0a (and WooCommerce's check) wants it. */
const enc = (s: string) => encodeURIComponent(s).replace(/[!*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The OAuth 1.0a signature WooCommerce expects for a request without a token. */
export function oauthSignature(method: string, baseUrl: string, query: URLSearchParams, consumerSecret: string): string {
  // the client sends every parameter twice (in the URL it signs, and again from the OAuth data);
  // PHP's $_GET keeps the last of each, and WooCommerce signs what $_GET holds
  const params = [...new Map(query.entries())]
    .filter(([k]) => k !== 'oauth_signature')
    .map(([k, v]) => [enc(k), enc(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const base = `${method.toUpperCase()}&${enc(baseUrl)}&${enc(params)}`;
  return createHmac('sha256', `${enc(consumerSecret)}&`).update(base).digest('base64');
}

const UNAUTHORIZED = (message: string) => ({
  status: 401,
  body: { code: 'woocommerce_rest_authentication_error', message, data: { status: 401 } },
});

/** `2025-07-01T00:00:00` with dates_are_gmt: UTC. */
const gmt = (s: string | null) => (s ? Date.parse(/Z$/.test(s) ? s : `${s}Z`) : Number.NaN);

export function fakeWooCommerceApi(store: FakeWooStore): FakeGatewayApi {
  const fake: FakeGatewayApi = new FakeGatewayApi(({ method, path, query }) => {
    if (method !== 'GET' || path !== '/wp-json/wc/v3/orders') return undefined;
    if (query.get('oauth_consumer_key') !== store.consumerKey) return UNAUTHORIZED('Consumer key is invalid.');
    if (query.get('oauth_signature_method') !== 'HMAC-SHA256' || !query.get('oauth_timestamp') || !query.get('oauth_nonce')) {
      return UNAUTHORIZED('Missing OAuth parameter.');
    }
    const expected = oauthSignature(method, `${fake.url}${path}`, query, store.consumerSecret);
    if (query.get('oauth_signature') !== expected) return UNAUTHORIZED('Invalid signature - provided signature does not match.');

    const after = gmt(query.get('modified_after'));
    const before = gmt(query.get('modified_before'));
    const perPage = Number(query.get('per_page') ?? 10);
    const page = Number(query.get('page') ?? 1);
    if (query.get('dates_are_gmt') !== 'true' || Number.isNaN(after) || Number.isNaN(before)) {
      return { status: 400, body: { code: 'rest_invalid_param', message: 'this fake wants GMT modified_after and modified_before' } };
    }
    const matching = store.orders
      .filter((o) => {
        const t = gmt(o.date_modified_gmt);
        return t > after && t < before;
      })
      .sort((a, b) => a.id - b.id);
    return { status: 200, body: matching.slice((page - 1) * perPage, page * perPage) };
  });
  return fake;
}
