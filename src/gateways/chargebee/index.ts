// The Chargebee adapter. Chargebee signs nothing: a webhook proves itself only by the HTTP Basic
// credentials configured on it, compared here in constant time, then the body is read as an event.
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewaySettings } from '../settings.js';
import type { GatewayAdapter, Verification } from '../gateway.js';
import { rejected } from '../gateway.js';
import { basicCredentialsMatch } from '../signing.js';
import { storable, unstorable } from '../storable.js';
import { chargebeeLookupClient } from './client.js';
import { chargebeeToEvents } from './map.js';
import { Envelope } from './wire.js';

type Settings = NonNullable<GatewaySettings['chargebee']>;

function authorization(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  return typeof value === 'string' && value.trim() ? value : undefined;
}

export const chargebeeAdapter: GatewayAdapter<'chargebee'> = {
  gateway: 'chargebee',

  verify({ rawBody, headers }, settings: Settings | undefined): Verification {
    const username = settings?.username;
    const password = settings?.password;
    if (!username || !password) {
      return rejected('gateway_not_configured', 'no Chargebee webhook username and password are set for this program');
    }
    const header = authorization(headers);
    if (!header) return rejected('missing_credentials', 'the Authorization header (HTTP Basic) is missing', 401);
    // (the chargebee SDK's basicAuthValidator leaves the comparison to its caller; its default compares with ===)
    const match = basicCredentialsMatch(header, { user: username, password });
    if (match === 'malformed') return rejected('invalid_credentials', 'the Authorization header is not HTTP Basic credentials', 401);
    if (!match) return rejected('invalid_credentials', 'the HTTP Basic credentials do not match', 401);

    let payload: unknown;
    try {
      payload = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return rejected('invalid_payload', 'the body is not JSON');
    }
    if (!storable(payload)) return unstorable();
    const event = Envelope.safeParse(payload);
    if (!event.success) {
      return rejected('invalid_payload', 'the body is not a Chargebee event (id, occurred_at, event_type and content are needed)');
    }
    // Chargebee events say nothing of test or live mode: a test site is a separate site
    return { kind: 'verified', payload, eventId: event.data.id, eventType: event.data.event_type };
  },

  toEvents: chargebeeToEvents,

  lookupClient: chargebeeLookupClient,
};
