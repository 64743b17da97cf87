// API keys: only a sha256 hash is stored; the key itself is shown once.
import { createHash, randomBytes } from 'node:crypto';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newApiKey(): string {
  return `pl_${randomBytes(24).toString('base64url')}`;
}

/** Enough of the key to tell keys apart in a list, never enough to matter: at most a quarter. */
export function keyPrefix(key: string): string {
  return key.slice(0, Math.min(6, Math.floor(key.length / 4)));
}
