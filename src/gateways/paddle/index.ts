// The Paddle Billing adapter: verify Paddle-Signature on the raw body, then normalize.
import type { GatewayAdapter, Verification } from '../gateway.js';
import { rejected } from '../gateway.js';
import { storable, unstorable } from '../storable.js';
import { paddleLookupClient } from './client.js';
import { paddleToEvents } from './map.js';
import { PADDLE_TOLERANCE_SECONDS, parseSignatureHeader, signatureMatches } from './signature.js';
import { Envelope } from './wire.js';

export const paddleAdapter: GatewayAdapter<'paddle'> = {
  gateway: 'paddle',

  verify({ rawBody, headers, now }, settings): Verification {
    const secrets = (settings?.webhookSecrets ?? []).filter((s) => s.length > 0);
    if (!secrets.length) return rejected('gateway_not_configured', 'no Paddle notification secret is set for this program');
    const header = headers['paddle-signature'];
    if (typeof header !== 'string' || !header.trim()) return rejected('missing_signature', 'the Paddle-Signature header is missing');
    const sig = parseSignatureHeader(header);
    if (!sig) return rejected('invalid_signature', 'the Paddle-Signature header is malformed');
    if (!signatureMatches(sig, rawBody, secrets)) return rejected('invalid_signature', 'no signature matches the notification secret');
    // checked after the signature, so only an authentic delivery is ever told its clock is off
    const skew = now.getTime() / 1000 - sig.ts;
    if (skew > PADDLE_TOLERANCE_SECONDS) return rejected('stale_timestamp', 'the signature timestamp is older than 5 minutes');
    if (skew < -PADDLE_TOLERANCE_SECONDS) return rejected('stale_timestamp', 'the signature timestamp is more than 5 minutes ahead');

    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return rejected('invalid_payload', 'the body is not JSON');
    }
    if (!storable(body)) return unstorable();
    const env = Envelope.safeParse(body);
    if (!env.success) {
      return rejected('invalid_payload', 'the body is not a Paddle notification (event_id, event_type, occurred_at, data)');
    }
    return {
      kind: 'verified',
      payload: body,
      eventId: env.data.event_id,
      eventType: env.data.event_type,
      meta: env.data.notification_id ? { notification_id: env.data.notification_id } : undefined,
    };
  },

  toEvents: paddleToEvents,

  lookupClient: paddleLookupClient,
};
