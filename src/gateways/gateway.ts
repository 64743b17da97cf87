// The plug-in contract every gateway implements: verify a delivery, turn it into payment events,
// and (for the worker's enrich step) look up objects an event only references.
import { KindedError } from '../core/errors.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { CouponLookup, Gateway, Ignored, Lookup, ObjectRef, PaymentEventInput } from '../core/payment-event.js';
import type { GatewaySettings } from './settings.js';

/** A delivery that passed verification, described for the inbox. */
export type Verified = {
  kind: 'verified';
  payload: unknown;
  eventId: string;
  eventType: string;
  /** Whether the gateway says this is a live (not test-mode) event, when it says. */
  livemode?: boolean;
  /** Delivery metadata worth keeping (delivery id, topic); never signatures. */
  meta?: Record<string, string>;
};
/** Refused at the door: nothing is stored, nothing queued. `code` is stable, `message` for people. */
export type Rejected = { kind: 'rejected'; status: 400 | 401; code: string; message: string };
/** Answered 2xx and forgotten (a WooCommerce creation ping). */
export type Acknowledged = { kind: 'acknowledged'; reason: string };
export type Verification = Verified | Rejected | Acknowledged;

export const rejected = (code: string, message: string, status: 400 | 401 = 400): Rejected => ({
  kind: 'rejected',
  status,
  code,
  message,
});

/** A verified payload that cannot be read as this gateway's event: kept in the inbox as failed. */
export class PayloadError extends KindedError {
  override name = 'PayloadError';
  readonly kind = 'payload' as const;
  constructor(detail: string) {
    super('payload', detail);
  }
}

/** Parse a part of a payload; what is wrong becomes a PayloadError `<what>.<path>: <why>`. */
export function parsePayload<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new PayloadError(`${what}.${issue?.path.join('.') || ''}: ${issue?.message ?? 'invalid'}`);
}

/** The ids that are set, each once, in order. */
export const compactIds = (ids: (string | undefined | null)[]): string[] => [...new Set(ids.filter((x): x is string => !!x))];

export type GatewayRequest = { rawBody: Buffer; headers: IncomingHttpHeaders; now: Date };

export interface GatewayAdapter<G extends keyof GatewaySettings = keyof GatewaySettings> {
  gateway: G & Gateway;
  /** Check the delivery against the program's settings of this gateway. Never throws. */
  verify(req: GatewayRequest, settings: GatewaySettings[G] | undefined): Verification;
  /** The payment facts of a verified payload, or why it is not one. Pure; throws PayloadError. */
  toEvents(payload: unknown): PaymentEventInput[] | Ignored;
  /**
   * The client the enrich step uses, for these settings (null: this gateway's API is not configured).
   * `apiBase` is the operator's override of the gateway's host, never a program's setting.
   */
  lookupClient?(settings: GatewaySettings[G] | undefined, apiBase?: string): LookupClient | null;
}

/**
 * Where the service sends each gateway's API calls instead of the gateway's own host (a sandbox, a
 * proxy, a test's fake): the operator's environment only, the same for every program.
 */
export type ApiBases = Partial<Record<Gateway, string>>;

export type LookupResult = { partnerKey?: string; email?: string };

export interface LookupClient {
  /** The object's partner key and email; null when the gateway says it does not exist (404). */
  lookup(lookup: Lookup): Promise<LookupResult | null>;
  /** The canonical payment id (a Stripe PaymentIntent) behind an object, when it has one. */
  paymentKey?(ref: ObjectRef): Promise<string | null>;
  /** The customer-facing codes of a discount named by id (a promotion code's `code`, a coupon's id); null when it does not exist. */
  couponCodes?(lookup: CouponLookup): Promise<string[] | null>;
}

/** The lookup client of a program's gateway, or null when that gateway's API is not configured. */
export type LookupClients = (programId: string, gateway: Gateway) => Promise<LookupClient | null>;

/**
 * A gateway API call that failed. `transient` (timeouts, 429, 5xx) is retried with backoff;
 * anything else fails the job for a person to look at.
 */
export class EnrichmentError extends Error {
  /** Its kind, as the other kinded errors carry theirs (its message names the lookup, not the kind). */
  readonly kind = 'enrichment' as const;
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'EnrichmentError';
  }
}
