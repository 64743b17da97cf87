// The shared checks the receivers (and the dashboard) use.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { basicCredentialsMatch, hmacSha256, matchesAny } from '../../src/gateways/signing.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('signing', () => {
  it('hmacSha256 is HMAC-SHA256 of the parts in order', () => {
    expect(hmacSha256('k', '1700000000:', Buffer.from('{"a":1}'))).toEqual(createHmac('sha256', 'k').update('1700000000:{"a":1}').digest());
  });

  it('matchesAny: any given against any expected; a length mismatch is no match, not a throw', () => {
    const a = hmacSha256('a', 'x');
    const b = hmacSha256('b', 'x');
    expect(matchesAny([a], [b, a])).toBe(true);
    expect(matchesAny([b.subarray(0, 16), a], [a])).toBe(true);
    expect(matchesAny([b.subarray(0, 16)], [a])).toBe(false);
    expect(matchesAny([], [a])).toBe(false);
  });

  it('basicCredentialsMatch: both halves must match; what is not Basic is malformed', () => {
    const expected = { user: 'u', password: 'p:w' };
    expect(basicCredentialsMatch(basic('u', 'p:w'), expected)).toBe(true);
    expect(basicCredentialsMatch(basic('u', 'p'), expected)).toBe(false);
    expect(basicCredentialsMatch(basic('v', 'p:w'), expected)).toBe(false);
    expect(basicCredentialsMatch('Bearer x', expected)).toBe('malformed');
    expect(basicCredentialsMatch(`Basic ${Buffer.from('nocolon').toString('base64')}`, expected)).toBe('malformed');
  });
});
