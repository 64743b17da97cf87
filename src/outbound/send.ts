// One signed POST to a merchant's URL: outbound webhooks and bulk completion callbacks both go out
// through here. `Signature: hex(HMAC-SHA256(secret, raw body))`, an id that stays the same on every
// retry of one delivery (receivers dedupe on it), a timestamp, a 10 s limit, no redirects followed,
// and only to the addresses the URL policy accepted.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkUrl, systemResolver, UrlNotAllowed, type Resolver, type UrlPolicy } from './url-policy.js';

export const DELIVERY_TIMEOUT_MS = 10_000;
export const SIGNATURE_HEADER = 'Signature';
export const DELIVERY_ID_HEADER = 'X-Partner-Ledger-Delivery';
export const TIMESTAMP_HEADER = 'X-Partner-Ledger-Timestamp';
export const EVENT_HEADER = 'X-Partner-Ledger-Event';
const USER_AGENT = 'PartnerLedger-Webhooks/1';

export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export type SendRequest = {
  url: string;
  secret: string;
  /** The raw JSON body, signed as sent. */
  body: string;
  /** The delivery id header: the same on every attempt of one delivery. */
  id: string;
  event: string;
  policy: UrlPolicy;
  resolver?: Resolver;
  timeoutMs?: number;
  now?: () => Date;
};

export type SendResult = {
  ok: boolean;
  /** The HTTP status answered, null when none was (refused, unreachable, timed out). */
  status: number | null;
  durationMs: number;
  /** Why the attempt failed, for the delivery log; null on success. */
  error: string | null;
};

export async function sendSigned(req: SendRequest): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const timeoutMs = req.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  let target: Awaited<ReturnType<typeof checkUrl>>;
  try {
    target = await checkUrl(req.url, req.policy, req.resolver ?? systemResolver);
  } catch (err) {
    if (err instanceof UrlNotAllowed) return { ok: false, status: null, durationMs: elapsed(), error: `refused: ${err.message}` };
    throw err;
  }
  const { url, addresses } = target;
  // connect to the addresses just checked, never to a second (possibly different) DNS answer
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
  const now = req.now ?? (() => new Date());
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(req.body)),
    'user-agent': USER_AGENT,
    [SIGNATURE_HEADER]: sign(req.secret, req.body),
    [DELIVERY_ID_HEADER]: req.id,
    [TIMESTAMP_HEADER]: String(Math.floor(now().getTime() / 1000)),
    [EVENT_HEADER]: req.event,
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      resolve({ ok: error === null, status, durationMs: elapsed(), error });
    };
    const request = client.request(url, { method: 'POST', headers, lookup: pinned, agent: false }, (res) => {
      // the status decides; the answer's body is read and dropped (cut off at the time limit)
      const status = res.statusCode ?? 0;
      finish(status, status >= 200 && status < 300 ? null : `HTTP ${status}`);
      res.resume();
      res.on('end', () => clearTimeout(timer));
      res.on('error', () => {});
    });
    const timer = setTimeout(() => {
      finish(null, `timed out after ${timeoutMs / 1000} s`);
      request.destroy();
    }, timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', (err) => finish(null, err.message || (err as { code?: string }).code || 'request failed'));
    request.end(req.body);
  });
}
