// The Paddle API calls the enrich step makes, through the official SDK: a subscription's custom_data
// (its partner key) and a customer's email.
import type * as PaddleSdk from '@paddle/paddle-node-sdk';
import type { Environment, Paddle } from '@paddle/paddle-node-sdk';
import type { CouponLookup, Lookup } from '../../core/payment-event.js';
import type { GatewaySettings } from '../settings.js';
import { EnrichmentError, type LookupClient, type LookupResult } from '../gateway.js';
import { partnerKeyOf } from './map.js';

type Settings = NonNullable<GatewaySettings['paddle']>;

/** How long one API call may take before it counts as a (retried) failure. */
export const PADDLE_API_TIMEOUT_MS = 10_000;

type PaddleModule = typeof PaddleSdk;
let sdkModule: Promise<PaddleModule> | undefined;

/**
 * The SDK's module, imported on first use: importing it takes about 0.3 s, which every start of the
 * API and the worker paid before, while only a worker with a Paddle API key ever calls it.
 */
function paddleModule(): Promise<PaddleModule> {
  return (sdkModule ??= import('@paddle/paddle-node-sdk'));
}

/**
 * The SDK for an API key. `apiBase` (tests, a proxy) goes in as the environment, which the SDK uses
 * as its base URL when it is neither `sandbox` nor `production`; without it, sandbox keys
 * (`pdl_sdbx_…`) reach the sandbox API and every other key production.
 */
export async function paddleSdk(apiKey: string, apiBase?: string): Promise<Paddle> {
  const sdk = await paddleModule();
  const environment = apiBase
    ? (apiBase.replace(/\/+$/, '') as Environment)
    : apiKey.startsWith('pdl_sdbx_')
      ? sdk.Environment.sandbox
      : sdk.Environment.production;
  // the SDK never retries (the queue does) and would log through console: keep it quiet
  return new sdk.Paddle(apiKey, { environment, logLevel: sdk.LogLevel.none });
}

/**
 * HTTP statuses of Paddle's shared error codes (developer.paddle.com/errors): the SDK's ApiError
 * keeps the code and type of Paddle's error body, not the response status.
 */
export const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  bad_request: 400,
  authentication_missing: 403,
  authentication_malformed: 403,
  not_found: 404,
  too_many_requests: 429,
  internal_error: 500,
  bad_gateway: 502,
  service_unavailable: 503,
};

class LookupTimeout extends Error {}

/**
 * Run one SDK call within `timeoutMs`. 404 is "not there"; timeouts, network failures, 429 and 5xx
 * are worth retrying; other 4xx are not. The SDK takes no timeout or abort signal, so a call that
 * times out is abandoned, not cancelled: its socket closes when the server answers or Node gives up.
 */
async function call<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T | null> {
  const { ApiError } = await paddleModule();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LookupTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } catch (err) {
    if (err instanceof ApiError) {
      if (err.code === 'not_found') return null;
      const status = STATUS_OF_CODE[err.code];
      // Paddle types server-side errors (5xx, and its rate limit) `api_error`, request mistakes `request_error`
      const transient = err.type === 'api_error' || (status !== undefined && (status === 429 || status >= 500));
      const shown = status ?? (transient ? '5xx' : '4xx');
      throw new EnrichmentError(`partner lookup: Paddle API ${shown} ${err.code ?? err.type} on ${what}`, transient);
    }
    if (err instanceof LookupTimeout) {
      throw new EnrichmentError(`partner lookup: Paddle API timeout after ${timeoutMs} ms on ${what}`, true);
    }
    if (err instanceof TypeError && err.message === 'fetch failed') {
      const cause = (err.cause as { code?: string } | undefined)?.code;
      throw new EnrichmentError(`partner lookup: Paddle API unreachable on ${what}${cause ? ` (${cause})` : ''}`, true);
    }
    // a body that is not JSON (a proxy's HTML error page) or not Paddle's shape: most likely passing
    throw new EnrichmentError(`partner lookup: Paddle API unreadable response on ${what}`, true);
  } finally {
    clearTimeout(timer);
  }
}

export class PaddleLookupClient implements LookupClient {
  private paddle: Promise<Paddle> | undefined;

  /** `sdk` makes the SDK's client when the first lookup needs it (see paddleSdk). */
  constructor(
    private readonly sdk: () => Promise<Paddle>,
    private readonly timeoutMs = PADDLE_API_TIMEOUT_MS,
  ) {}

  async lookup(l: Lookup): Promise<LookupResult | null> {
    // the SDK puts ids into the path as they are
    const id = encodeURIComponent(l.id);
    if (l.object !== 'subscription' && l.object !== 'customer') return null;
    // made before the call's timeout starts: the first import is not the API's slowness
    const paddle = await (this.paddle ??= this.sdk());
    switch (l.object) {
      case 'subscription': {
        const sub = await call(`GET /subscriptions/${id}`, this.timeoutMs, () => paddle.subscriptions.get(id));
        return sub ? { partnerKey: partnerKeyOf(sub.customData) } : null;
      }
      case 'customer': {
        // for the payer's email only: no partner key place is defined on Paddle customers
        const customer = await call(`GET /customers/${id}`, this.timeoutMs, () => paddle.customers.get(id));
        return customer ? { email: customer.email || undefined } : null;
      }
    }
  }

  /** A discount's customer-facing code (`GET /discounts/{id}`), and its id: a merchant may register either. */
  async couponCodes(l: CouponLookup): Promise<string[] | null> {
    if (l.object !== 'discount') return null;
    const id = encodeURIComponent(l.id);
    const paddle = await (this.paddle ??= this.sdk());
    const discount = await call(`GET /discounts/${id}`, this.timeoutMs, () => paddle.discounts.get(id));
    if (!discount) return null;
    return [discount.code?.trim(), discount.id].filter((c): c is string => !!c);
  }
}

export function paddleLookupClient(settings: Settings | undefined, apiBase?: string): PaddleLookupClient | null {
  if (!settings?.apiKey) return null;
  const { apiKey } = settings;
  return new PaddleLookupClient(() => paddleSdk(apiKey, apiBase));
}
