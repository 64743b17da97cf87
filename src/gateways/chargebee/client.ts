// The Chargebee API call the enrich step makes (a customer's partner custom fields), through the
// official SDK.
import Chargebee, { type Config as ChargebeeConfig } from 'chargebee';
import type { Lookup } from '../../core/payment-event.js';
import type { GatewaySettings } from '../settings.js';
import { EnrichmentError, type LookupClient, type LookupResult } from '../gateway.js';
import { PARTNER_KEY_FIELDS } from './map.js';
import { SITE_NAME } from './settings.js';
import { Customer } from './wire.js';

type Settings = NonNullable<GatewaySettings['chargebee']>;

/**
 * The SDK for a site. With `apiBase` (the operator's: tests, proxies) every call goes to `{apiBase}/api/v2/...`:
 * the SDK's host is `site + hostSuffix`, so the whole host goes into `site`.
 */
export function chargebeeSdk(settings: { site?: string; apiKey: string; apiBase?: string }, timeoutMs = 10_000): Chargebee {
  const config: ChargebeeConfig = { site: settings.site ?? '', apiKey: settings.apiKey, timeout: timeoutMs, sdkTelemetryEnabled: false };
  if (settings.apiBase) {
    const u = new URL(settings.apiBase);
    const http = u.protocol === 'http:';
    config.site = u.hostname;
    config.hostSuffix = '';
    config.protocol = http ? 'http' : 'https';
    config.port = u.port ? Number(u.port) : http ? 80 : 443;
  }
  return new Chargebee(config);
}

/** Run a Chargebee call: a missing object is null; timeouts, 429 and 5xx are worth retrying; the rest is not. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    // the SDK rejects with Chargebee's error body plus http_status_code; a network failure has none
    const e = err as { http_status_code?: unknown; api_error_code?: unknown; type?: unknown };
    const status = typeof e.http_status_code === 'number' ? e.http_status_code : undefined;
    const code = e.type === 'timeout' ? 'timeout' : typeof e.api_error_code === 'string' ? e.api_error_code : undefined;
    if (status === 404 && code !== 'site_not_found') return null;
    const transient = status === undefined || status === 429 || status >= 500;
    throw new EnrichmentError(`partner lookup: Chargebee API ${status ?? 'unreachable'} on ${what}${code ? ` (${code})` : ''}`, transient);
  }
}

/** One payment asks for a customer once per custom field: the second ask is answered from here. */
const RECENT_MS = 10_000;
const RECENT_MAX = 200;

export class ChargebeeLookupClient implements LookupClient {
  private readonly recent = new Map<string, { at: number; customer: Promise<Customer | null> }>();

  constructor(private readonly sdk: Chargebee) {}

  /** A customer's partner key at the lookup's place (one custom field) and its email. */
  async lookup(l: Lookup): Promise<LookupResult | null> {
    if (l.object !== 'customer') return null;
    const customer = await this.customer(l.id);
    if (!customer) return null;
    const field = PARTNER_KEY_FIELDS.find(([, place]) => place === l.place)?.[0];
    return { partnerKey: field ? customer[field] : undefined, email: customer.email?.trim() || undefined };
  }

  private customer(id: string): Promise<Customer | null> {
    const now = Date.now();
    const hit = this.recent.get(id);
    if (hit && now - hit.at < RECENT_MS) return hit.customer;
    const what = `GET /api/v2/customers/${id}`;
    const customer = call(what, () => this.sdk.customer.retrieve(id)).then((r) => {
      if (!r) return null;
      const parsed = Customer.safeParse(r.customer);
      if (!parsed.success) throw new EnrichmentError(`partner lookup: Chargebee API answered ${what} with no customer`, false);
      return parsed.data;
    });
    this.recent.delete(id);
    this.recent.set(id, { at: now, customer });
    // failures are not remembered: the retry asks again
    customer.catch(() => {
      if (this.recent.get(id)?.customer === customer) this.recent.delete(id);
    });
    for (const [key, entry] of this.recent) {
      if (this.recent.size <= RECENT_MAX && now - entry.at < RECENT_MS) break;
      this.recent.delete(key);
    }
    return customer;
  }
}

export function chargebeeLookupClient(settings: Settings | undefined, apiBase?: string): ChargebeeLookupClient | null {
  if (!settings?.apiKey) return null;
  // a site stored before names were checked is not trusted with a request
  const site = settings.site && SITE_NAME.test(settings.site) ? settings.site : undefined;
  if (!site && !apiBase) return null;
  return new ChargebeeLookupClient(chargebeeSdk({ site, apiKey: settings.apiKey, apiBase }));
}
