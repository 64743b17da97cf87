// The Stripe adapter: verify with the official SDK on the raw body, then normalize.
import Stripe from 'stripe';
import type { GatewayAdapter, Rejected, Verification } from '../gateway.js';
import { rejected } from '../gateway.js';
import { storable, unstorable } from '../storable.js';
import { stripeLookupClient } from './client.js';
import { stripeToEvents } from './map.js';

/** Stripe's own default: signatures older than 5 minutes are refused; so are ones this far ahead. */
export const STRIPE_TOLERANCE_SECONDS = 300;

// verification needs no API key; the SDK instance only carries the webhook helpers here
const sdk = new Stripe('sk_verify_only', { telemetry: false });

/** The parsed body once a secret's signature matches (any JSON value: the SDK checks no shape). */
function constructEvent(rawBody: Buffer, header: string, secrets: string[], now: Date): { kind: 'signed'; event: unknown } | Rejected {
  let failure = rejected('invalid_signature', 'no signature matches the webhook secret');
  for (const secret of secrets) {
    try {
      // the age is judged by the receiver's clock (`now`), as the future check below is, not the SDK's own Date.now()
      return { kind: 'signed', event: sdk.webhooks.constructEvent(rawBody, header, secret, STRIPE_TOLERANCE_SECONDS, undefined, now.getTime()) as unknown };
    } catch (err) {
      const message = (err as Error).message ?? '';
      if (err instanceof SyntaxError) return rejected('invalid_payload', 'the body is not JSON');
      if (/thin event/i.test(message)) {
        return rejected('thin_event_unsupported', 'thin (v2) events are not supported: send snapshot events to this endpoint');
      }
      if (/tolerance zone/i.test(message)) failure = rejected('stale_timestamp', 'the signature timestamp is older than 5 minutes');
      else if (/extract timestamp/i.test(message)) return rejected('invalid_signature', 'the Stripe-Signature header is malformed');
    }
  }
  return failure;
}

export const stripeAdapter: GatewayAdapter<'stripe'> = {
  gateway: 'stripe',

  verify({ rawBody, headers, now }, settings): Verification {
    const secrets = settings?.webhookSecrets ?? [];
    if (!secrets.length) return rejected('gateway_not_configured', 'no Stripe webhook secret is set for this program');
    const header = headers['stripe-signature'];
    if (typeof header !== 'string' || !header) return rejected('missing_signature', 'the Stripe-Signature header is missing');
    const t = Number(/(?:^|,)t=(\d+)/.exec(header)?.[1]);
    if (Number.isFinite(t) && t > now.getTime() / 1000 + STRIPE_TOLERANCE_SECONDS) {
      return rejected('stale_timestamp', 'the signature timestamp is in the future');
    }
    // the signature first, then the shape: an error in reading the body must not pass for a bad signature
    const signed = constructEvent(rawBody, header, secrets, now);
    if (signed.kind === 'rejected') return signed;
    const event = signed.event;
    if (!event || typeof event !== 'object' || Array.isArray(event)) return rejected('invalid_payload', 'the body is not a JSON object');
    const e = event as { id?: unknown; object?: unknown; type?: unknown; livemode?: unknown };
    if (typeof e.id !== 'string' || e.object !== 'event' || typeof e.type !== 'string') {
      return rejected('invalid_payload', 'the body is not a Stripe event');
    }
    if (!storable(event)) return unstorable();
    return {
      kind: 'verified',
      payload: event,
      eventId: e.id,
      eventType: e.type,
      livemode: typeof e.livemode === 'boolean' ? e.livemode : undefined,
    };
  },

  toEvents: stripeToEvents,

  lookupClient: stripeLookupClient,
};
