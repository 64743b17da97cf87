// The plug-in contract between the worker and a gateway: looking up the objects a payment event only
// references (a subscription, a customer) for its partner key and the payer's email.
import type { Gateway, Lookup } from '../core/payment-event.js';

export type LookupResult = { partnerKey?: string; email?: string };

export interface LookupClient {
  /** The object's partner key and email; null when the gateway says it does not exist (404). */
  lookup(lookup: Lookup): Promise<LookupResult | null>;
}

/** The lookup client of a program's gateway, or null when that gateway's API is not configured. */
export type LookupClients = (programId: string, gateway: Gateway) => Promise<LookupClient | null>;

/**
 * A gateway API call that failed. `transient` (timeouts, 429, 5xx) is retried with backoff;
 * anything else fails the job for a person to look at.
 */
export class EnrichmentError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'EnrichmentError';
  }
}
