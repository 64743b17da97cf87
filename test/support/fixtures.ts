// Reading gateway fixtures as exact bytes (never re-serialized: signatures are over the bytes).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function fixture(gateway: string, name: string): Buffer {
  return readFileSync(path.join(root, gateway, name));
}

export function fixtureJson<T = Record<string, unknown>>(gateway: string, name: string): T {
  return JSON.parse(fixture(gateway, name).toString('utf8')) as T;
}

/** A Stripe event body from a fixture with its object changed (ids, amounts), as compact JSON. */
export function stripeEvent(name: string, change: (event: any) => void): Buffer { // eslint-disable-line @typescript-eslint/no-explicit-any
  const event = fixtureJson('stripe', name);
  change(event);
  return Buffer.from(JSON.stringify(event));
}
