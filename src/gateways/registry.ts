// The gateways the service knows. Adding one is a folder under src/gateways/ and a line here.
import type { Gateway } from '../core/payment-event.js';
import type { LookupClient, LookupClients } from './gateway.js';

export type GatewayAdapter = {
  gateway: Gateway;
  /** The client the enrich step uses, for a program's settings of this gateway (null: not configured). */
  lookupClient?: (programId: string) => Promise<LookupClient | null>;
};

export const adapters: GatewayAdapter[] = [];

/** Lookup clients by gateway, as the worker's enrich step asks for them. */
export function lookupClients(list: GatewayAdapter[] = adapters): LookupClients {
  return async (programId, gateway) => {
    const adapter = list.find((a) => a.gateway === gateway);
    return adapter?.lookupClient ? adapter.lookupClient(programId) : null;
  };
}
