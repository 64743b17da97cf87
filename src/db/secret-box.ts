// Secrets at rest: gateway keys and secrets, signing secrets and outbound webhook secrets are stored
// sealed with AES-256-GCM under a key from SECRETS_KEY. Each value names the key that sealed it, so
// keys can be rotated (`npm run cli -- secrets:rotate`) while old values stay readable. The value's
// place (table, column, field) is authenticated with it: a sealed value copied elsewhere does not open.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'plsec:v1:';
const IV_BYTES = 12;

export class SecretsKeyError extends Error {
  override name = 'SecretsKeyError';
}

export type SecretKey = { id: string; key: Buffer };

/** One key of SECRETS_KEY: 32 bytes as 64 hex digits or as base64 (`openssl rand -base64 32`). */
export function parseSecretKey(text: string): SecretKey {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(t) ? Buffer.from(t, 'base64') : null;
  if (!key || key.length !== 32) throw new SecretsKeyError('a key is 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)');
  const id = createHash('sha256').update('partner-ledger secrets key\0').update(key).digest('hex').slice(0, 8);
  return { id, key };
}

/** SECRETS_KEY: comma-separated keys, the first seals, the others only open (while rotating). */
export function parseSecretKeys(value: string): SecretKey[] {
  const keys = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseSecretKey);
  if (!keys.length) throw new SecretsKeyError('no key given');
  return keys;
}

export class Keyring {
  private readonly byId: Map<string, Buffer>;
  constructor(readonly keys: SecretKey[]) {
    if (!keys.length) throw new SecretsKeyError('a keyring needs a key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get currentId(): string {
    return this.keys[0]!.id;
  }

  seal(plain: string, place: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(place));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${id}:${iv.toString('base64url')}:${body.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}`;
  }

  open(value: string, place: string): string {
    const [id = '', iv = '', body = '', tag = ''] = value.slice(PREFIX.length).split(':');
    const key = this.byId.get(id);
    if (!key) throw new SecretsKeyError(`a stored secret (${place}) is sealed under key ${id}, which SECRETS_KEY does not hold`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(place));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretsKeyError(`a stored secret (${place}) does not open under key ${id}: altered, or moved from another place`);
    }
  }

  /** Sealed under the key that seals now (else `secrets:rotate` has work to do). */
  isCurrent(value: string): boolean {
    return value.startsWith(`${PREFIX}${this.currentId}:`);
  }
}

export const isSealed = (value: string) => value.startsWith(PREFIX);

// One keyring for the process: the storage layer's column types seal and open through it, whatever
// code reads or writes the row. Without one (development without SECRETS_KEY) values are stored as
// given; a sealed value then cannot be read.
let active: Keyring | null = null;

export function useKeyring(keyring: Keyring | null): void {
  active = keyring;
}

export function activeKeyring(): Keyring | null {
  return active;
}

export function seal(plain: string, place: string): string {
  return active ? active.seal(plain, place) : plain;
}

export function open(value: string, place: string): string {
  if (!isSealed(value)) return value; // stored before SECRETS_KEY was set; sealed by the next start
  if (!active) throw new SecretsKeyError(`a stored secret (${place}) is sealed, and SECRETS_KEY is not set`);
  return active.open(value, place);
}
