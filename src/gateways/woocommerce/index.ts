// The WooCommerce adapter. WooCommerce has no SDK helper for webhooks: `X-WC-Webhook-Signature` is
// base64(HMAC-SHA256(raw body, secret)), checked here in constant time against every active secret.
// Nothing in the signature is dated, so there is no timestamp tolerance (and no replay protection:
// the event id below and the ledger's unique keys make a replay a no-op).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayAdapter, Verification } from '../gateway.js';
import { rejected } from '../gateway.js';
import { hmacSha256, matchesAny } from '../signing.js';
import { storable, unstorable } from '../storable.js';
import { orderEventId, wooToEvents } from './map.js';
import { looksLikeOrder } from './wire.js';

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s?.trim() || undefined;
};

/** The creation ping: WooCommerce POSTs `webhook_id=N`, form-encoded, with no X-WC-* header at all. */
const PING = /^webhook_id=(\d+)$/;

const SIGNATURE = /^[A-Za-z0-9+/]{43}=$/; // 32 bytes of SHA-256, base64

function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Deliveries that are not orders are only ignored: any stable unique id will do. */
function otherEventId(rawBody: Buffer, deliveryId: string | undefined): string {
  const id = deliveryId?.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
  return id ? `delivery-${id}` : `body-${createHash('sha256').update(rawBody).digest('hex').slice(0, 32)}`;
}

export const woocommerceAdapter: GatewayAdapter<'woocommerce'> = {
  gateway: 'woocommerce',

  verify({ rawBody, headers }, settings): Verification {
    const secrets = settings?.webhookSecrets ?? [];
    // checked before the ping on purpose: a 400 on the creation ping shows the merchant at once that
    // this endpoint is not set up, instead of the webhook being disabled after 5 failed deliveries
    if (!secrets.length) return rejected('gateway_not_configured', 'no WooCommerce webhook secret is set for this program');
    const signature = header(headers, 'x-wc-webhook-signature');
    const topic = header(headers, 'x-wc-webhook-topic');
    if (!signature) {
      const ping = PING.exec(rawBody.toString('utf8').trim());
      if (ping && !topic) return { kind: 'acknowledged', reason: `WooCommerce webhook ${ping[1]} creation ping` };
      return rejected('missing_signature', 'the X-WC-Webhook-Signature header is missing');
    }
    if (!SIGNATURE.test(signature)) return rejected('invalid_signature', 'the X-WC-Webhook-Signature header is not a base64 SHA-256 HMAC');
    const given = Buffer.from(signature, 'base64');
    if (!matchesAny([given], secrets.map((secret) => hmacSha256(secret, rawBody)))) return rejected('invalid_signature', 'no signature matches the webhook secret');

    const payload = parseJson(rawBody);
    if (payload === undefined) return rejected('invalid_payload', 'the body is not JSON');
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
      return rejected('invalid_payload', 'the body is not a JSON object');
    }
    if (!storable(payload)) return unstorable();
    const [resource, event] = (topic ?? '').split('.');
    const isOrder = looksLikeOrder(payload);
    // order.deleted sends only `{"id": N}`; any other order topic must carry the order
    if (resource === 'order' && event !== 'deleted' && !isOrder) {
      return rejected('invalid_payload', `the body of an ${topic} delivery is not a WooCommerce order`);
    }

    const deliveryId = header(headers, 'x-wc-webhook-delivery-id');
    const webhookId = header(headers, 'x-wc-webhook-id');
    const meta: Record<string, string> = {};
    if (topic) meta['x-wc-webhook-topic'] = topic.slice(0, 255);
    if (deliveryId) meta['x-wc-webhook-delivery-id'] = deliveryId.slice(0, 255);
    if (webhookId) meta['x-wc-webhook-id'] = webhookId.slice(0, 255);
    return {
      kind: 'verified',
      payload,
      eventId: isOrder ? orderEventId(payload) : otherEventId(rawBody, deliveryId),
      eventType: topic?.slice(0, 255) ?? (isOrder ? `order.${payload.status}`.slice(0, 255) : 'unknown'),
      meta,
    };
  },

  toEvents: wooToEvents,
};
