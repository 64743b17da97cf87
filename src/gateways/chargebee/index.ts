// The Chargebee adapter. Chargebee signs nothing: a webhook proves itself only by the HTTP Basic
// credentials configured on it, compared here in constant time, then the body is read as an event.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewaySettings } from '../settings.js';
import type { GatewayAdapter, Verification } from '../gateway.js';
import { rejected } from '../gateway.js';
import { storable, unstorable } from '../storable.js';
import { chargebeeLookupClient } from './client.js';
import { chargebeeToEvents } from './map.js';
import { Envelope } from './wire.js';

type Settings = NonNullable<GatewaySettings['chargebee']>;

const digest = (user: string, password: string) =>
  Buffer.concat([createHash('sha256').update(user).digest(), createHash('sha256').update(password).digest()]);

/**
 * Whether the Authorization header carries exactly these credentials. Both sides are hashed to
 * fixed-length digests first, so neither the comparison nor its length check leaks how much matched.
 * (The chargebee SDK's `basicAuthValidator` only parses the header and leaves the comparison to its
 * callback, asynchronously; its env-configured default handler compares with `===`.)
 */
function credentialsMatch(header: string, expected: { username: string; password: string }): boolean | 'malformed' {
  const m = /^basic[ \t]+([A-Za-z0-9+/=_-]+)[ \t]*$/i.exec(header);
  if (!m) return 'malformed';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return timingSafeEqual(
    digest(decoded.slice(0, colon), decoded.slice(colon + 1)),
    digest(expected.username, expected.password),
  );
}

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
    const match = credentialsMatch(header, { username, password });
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
