// The gateways the service knows. Adding one is a folder under src/gateways/ and a line here.
import type { Gateway } from '../core/payment-event.js';
import type { GatewaySettings } from './settings.js';
import type { ApiBases, GatewayAdapter, LookupClient, LookupClients } from './gateway.js';
import { chargebeeAdapter } from './chargebee/index.js';
import { paddleAdapter } from './paddle/index.js';
import { stripeAdapter } from './stripe/index.js';
import { woocommerceAdapter } from './woocommerce/index.js';

export const adapters: GatewayAdapter[] = [stripeAdapter, paddleAdapter, woocommerceAdapter, chargebeeAdapter];

export function adapterFor(gateway: string): GatewayAdapter | undefined {
  return adapters.find((a) => a.gateway === gateway);
}

/**
 * Lookup clients for the enrich step, built from each program's gateway settings and kept while
 * those settings stay the same. Where they send requests is the operator's (`apiBases`), never the program's.
 */
export function lookupClients(settingsOf: (programId: string) => Promise<GatewaySettings | null>, apiBases: ApiBases = {}): LookupClients {
  const cache = new Map<string, { settings: string; client: LookupClient | null }>();
  return async (programId: string, gateway: Gateway) => {
    const adapter = adapterFor(gateway);
    if (!adapter?.lookupClient) return null;
    const settings = (await settingsOf(programId))?.[adapter.gateway];
    const id = `${programId}|${gateway}`;
    const fingerprint = JSON.stringify(settings ?? null);
    const hit = cache.get(id);
    if (hit && hit.settings === fingerprint) return hit.client;
    const client = adapter.lookupClient(settings, apiBases[adapter.gateway]);
    cache.set(id, { settings: fingerprint, client });
    return client;
  };
}
