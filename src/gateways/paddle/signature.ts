// Paddle-Signature checking, done here rather than with the SDK: @paddle/paddle-node-sdk 3.x allows
// only 5 s of clock difference, compares only the last h1 (a rotation sends one per secret) and
// compares with `===`. Here every h1 meets every configured secret, in constant time.
import { hmacSha256, matchesAny } from '../signing.js';

/** Signatures further than this from our clock, either way, are refused (Stripe's window too). */
export const PADDLE_TOLERANCE_SECONDS = 300;

export type PaddleSignature = { ts: number; h1: Buffer[] };

const TS = /^\d{1,12}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * `ts=<unix seconds>;h1=<hex>[;h1=<hex>…]` → its parts; null when malformed. Unknown keys are
 * skipped, so a new scheme Paddle adds next to h1 does not break verification.
 */
export function parseSignatureHeader(header: string): PaddleSignature | null {
  let ts: number | undefined;
  const h1: Buffer[] = [];
  for (const part of header.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 'ts') {
      if (ts !== undefined || !TS.test(value)) return null;
      ts = Number(value);
    } else if (key === 'h1') {
      if (!HEX_SHA256.test(value)) return null;
      h1.push(Buffer.from(value, 'hex'));
    }
  }
  return ts !== undefined && h1.length ? { ts, h1 } : null;
}

/** HMAC-SHA256 over `ts:body`, keyed with the notification secret as UTF-8. */
export function expectedSignature(ts: number, rawBody: Buffer, secret: string): Buffer {
  return hmacSha256(secret, `${ts}:`, rawBody);
}

/** Whether any h1 in the header was made by any of the secrets. */
export function signatureMatches(sig: PaddleSignature, rawBody: Buffer, secrets: readonly string[]): boolean {
  return matchesAny(
    sig.h1,
    secrets.map((secret) => expectedSignature(sig.ts, rawBody, secret)),
  );
}
