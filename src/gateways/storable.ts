// What PostgreSQL cannot store: text and jsonb refuse the NUL character, and jsonb a lone UTF-16
// surrogate; JSON carries both as \u escapes. A verified delivery carrying one is refused at the door
// (400 invalid_payload) rather than answered 503 by an inbox that cannot keep it, or retried by a
// worker whose every write fails.
import { rejected, type Rejected } from './gateway.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const fits = (s: string) => !s.includes('\u0000') && !LONE_SURROGATE.test(s);

/** Whether every string of a parsed JSON value, keys included, can be stored. Iterative: depth is no limit. */
export function storable(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!fits(v)) return false;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!fits(k)) return false;
        stack.push(x);
      }
    }
  }
  return true;
}

export const unstorable = (): Rejected =>
  rejected('invalid_payload', 'the body contains a NUL character or a lone UTF-16 surrogate (\\u0000, \\ud800 ...), which cannot be stored');
