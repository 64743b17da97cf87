// What the receivers' checks share: HMAC-SHA256, comparisons that take the same time however much
// matches, and HTTP Basic credentials (Chargebee's, and the queue dashboard's).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 of the parts in order, keyed with the secret as UTF-8. */
export function hmacSha256(secret: string, ...parts: (string | Buffer)[]): Buffer {
  const h = createHmac('sha256', secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Whether any given signature equals any expected one. Every pair is compared (no early exit), so the
 * time taken says nothing of which secret matched; pairs of different lengths never match.
 */
export function matchesAny(given: readonly Buffer[], expected: readonly Buffer[]): boolean {
  let matched = false;
  for (const e of expected) {
    for (const g of given) {
      if (g.length === e.length && timingSafeEqual(g, e)) matched = true;
    }
  }
  return matched;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Equal texts, compared in constant time: digests first, so their lengths leak nothing either. */
export function sameText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The user and password of an `Authorization: Basic …` header, or null when it is not one. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^basic[ \t]+([A-Za-z0-9+/=_-]+)[ \t]*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Whether a Basic header carries exactly these credentials; both halves are always compared. */
export function basicCredentialsMatch(header: string | undefined, expected: { user: string; password: string }): boolean | 'malformed' {
  const given = basicCredentials(header);
  if (!given) return 'malformed';
  const userOk = sameText(given.user, expected.user);
  const passwordOk = sameText(given.password, expected.password);
  return userOk && passwordOk;
}
