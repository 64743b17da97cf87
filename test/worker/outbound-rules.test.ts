// Outbound webhooks, the pure parts: the retry schedule, the URL policy (SSRF), the signature and
// the 5-day disable rule.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OUTBOUND_BACKOFF_TYPE, OUTBOUND_RETRY_SCHEDULE_MS, outboundJobOptions, outboundRetryDelay } from '../../src/queue/queues.js';
import { DISABLE_AFTER_MS, shouldDisable } from '../../src/db/subscription-health.js';
import { DELIVERY_TIMEOUT_MS, sign } from '../../src/outbound/send.js';
import { addressAllowed, checkUrl, classifyAddress, UrlNotAllowed, type Resolver } from '../../src/outbound/url-policy.js';
import { outboundBackoffStrategy } from '../../src/worker/outbound-worker.js';

const s = 1000;
const min = 60 * s;
const h = 60 * min;

describe('the retry schedule', () => {
  it('is about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed (8 attempts in all)', () => {
    expect(OUTBOUND_RETRY_SCHEDULE_MS).toEqual([5 * s, 5 * min, 30 * min, 2 * h, 5 * h, 10 * h, 10 * h]);
    const opts = outboundJobOptions();
    expect(opts.attempts).toBe(8);
    expect(opts.backoff).toEqual({ type: OUTBOUND_BACKOFF_TYPE });
    // failed jobs stay in the failed set (the queue dashboard, a retry by hand)
    expect(opts.removeOnFail).toEqual({ age: 14 * 24 * 3600 });
  });

  it('is what the BullMQ backoff strategy answers after each failed attempt', async () => {
    const strategy = outboundBackoffStrategy();
    const delays = [];
    for (let attemptsMade = 1; attemptsMade <= 7; attemptsMade++) delays.push(await strategy(attemptsMade, OUTBOUND_BACKOFF_TYPE));
    expect(delays).toEqual([5 * s, 5 * min, 30 * min, 2 * h, 5 * h, 10 * h, 10 * h]);
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total / h).toBeCloseTo(27.6, 1);
    // another backoff type is not ours: no retry
    expect(await strategy(1, 'exponential')).toBe(-1);
  });

  it('can be shortened (tests, WEBHOOKS_RETRY_DELAYS_MS) and then keeps its last delay', async () => {
    const strategy = outboundBackoffStrategy([100, 200]);
    expect([await strategy(1, OUTBOUND_BACKOFF_TYPE), await strategy(2, OUTBOUND_BACKOFF_TYPE), await strategy(9, OUTBOUND_BACKOFF_TYPE)]).toEqual([100, 200, 200]);
    expect(outboundJobOptions([100, 200]).attempts).toBe(3);
    expect(outboundRetryDelay([], 1)).toBe(0);
  });
});

describe('where webhooks may go', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['100.128.0.1', 'public'],
    ['169.254.169.254', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['ff02::1', 'multicast'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['not an ip', 'reserved'],
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  // one row per special range: an address inside it, and where the edge matters, one just outside
  it.each([
    ['IPv4-mapped, dotted', '::ffff:127.0.0.1', 'ipv4_mapped'],
    ['IPv4-mapped, hex (as the URL parser writes it)', '::ffff:7f00:1', 'ipv4_mapped'],
    ['IPv4-mapped, of a private address', '::ffff:10.0.0.1', 'ipv4_mapped'],
    ['IPv4-mapped, of a public address', '::ffff:8.8.8.8', 'ipv4_mapped'],
    ['IPv4-mapped, last', '::ffff:ffff:ffff', 'ipv4_mapped'],
    ['IPv4-compatible, dotted', '::8.8.8.8', 'ipv4_compatible'],
    ['IPv4-compatible, hex', '::808:808', 'ipv4_compatible'],
    ['IPv4-compatible, just after ::1', '::2', 'ipv4_compatible'],
    ['just outside ::/96 and ::ffff:0:0/96', '::1:0:0:0', 'public'],
    ['IPv4-translated (SIIT)', '::ffff:0:808:808', 'reserved'],
    ['NAT64 well-known, public inside', '64:ff9b::8.8.8.8', 'public'],
    ['NAT64 well-known, hex, loopback inside', '64:ff9b::7f00:1', 'loopback'],
    ['NAT64 local-use', '64:ff9b:1::8.8.8.8', 'reserved'],
    ['NAT64 local-use, last /48', '64:ff9b:1:ffff::1', 'reserved'],
    ['just outside NAT64 local-use', '64:ff9b:2::1', 'public'],
    ['discard-only', '100::1', 'discard'],
    ['discard-only, last', '100::ffff:ffff:ffff:ffff', 'discard'],
    ['just outside discard-only', '100:0:0:1::', 'public'],
    ['Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['IETF protocol assignments', '2001:1ff:ffff::1', 'reserved'],
    ['just outside IETF protocol assignments', '2001:200::1', 'public'],
    ['IPv6 documentation', '2001:db8::1', 'documentation'],
    ['IPv6 documentation, last', '2001:db8:ffff:ffff::1', 'documentation'],
    ['just before IPv6 documentation', '2001:db7:ffff::1', 'public'],
    ['just after IPv6 documentation', '2001:db9::1', 'public'],
    ['IPv6 documentation (3fff::/20)', '3fff::1', 'documentation'],
    ['IPv6 documentation (3fff::/20), last', '3fff:fff:ffff::1', 'documentation'],
    ['just outside 3fff::/20', '3fff:1000::1', 'public'],
    ['6to4 of a documentation address', '2002:c000:0201::1', 'documentation'],
    ['6to4 of a public address', '2002:808:808::1', 'public'],
    ['IPv4 protocol assignments', '192.0.0.8', 'reserved'],
    ['just before 192.0.0.0/24', '191.255.255.255', 'public'],
    ['between 192.0.0.0/24 and 192.0.2.0/24', '192.0.1.1', 'public'],
    ['TEST-NET-1', '192.0.2.1', 'documentation'],
    ['just after TEST-NET-1', '192.0.3.1', 'public'],
    ['elsewhere in 192.0.0.0/16', '192.0.128.1', 'public'],
    ['TEST-NET-2', '198.51.100.7', 'documentation'],
    ['just before TEST-NET-2', '198.51.99.255', 'public'],
    ['just after TEST-NET-2', '198.51.101.0', 'public'],
    ['TEST-NET-3', '203.0.113.200', 'documentation'],
    ['just before TEST-NET-3', '203.0.112.255', 'public'],
    ['just after TEST-NET-3', '203.0.114.0', 'public'],
    ['6to4 relay anycast', '192.88.99.1', 'reserved'],
    ['just before 6to4 relay anycast', '192.88.98.255', 'public'],
    ['just after 6to4 relay anycast', '192.88.100.0', 'public'],
    ['benchmarking', '198.19.255.255', 'reserved'],
    ['just after benchmarking', '198.20.0.0', 'public'],
  ])('%s: %s is %s', (_label, ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  it('allows public addresses; loopback only when WEBHOOKS_ALLOW_LOOPBACK=true; private never', () => {
    const production = { allowLoopback: false };
    const dev = { allowLoopback: true };
    expect(addressAllowed('8.8.8.8', production)).toBe(true);
    expect(addressAllowed('127.0.0.1', production)).toBe(false);
    expect(addressAllowed('::1', production)).toBe(false);
    expect(addressAllowed('127.0.0.1', dev)).toBe(true);
    for (const ip of ['10.0.0.1', '192.168.0.1', '172.20.0.1', '169.254.169.254', '100.64.1.1', '0.0.0.0', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::127.0.0.1', '::ffff:8.8.8.8', '192.0.2.1', '2001:db8::1', '2001::1', '100::1']) {
      expect(addressAllowed(ip, dev), ip).toBe(false);
    }
  });

  const resolver =
    (table: Record<string, string[]>): Resolver =>
    async (host) => {
      const found = table[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
  const dns = resolver({
    'hooks.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'sneaky.example.com': ['93.184.215.14', '10.0.0.7'],
    'metadata.example.com': ['169.254.169.254'],
    'localhost': ['127.0.0.1', '::1'],
  });
  const reason = async (url: string, allowLoopback = false) => {
    try {
      await checkUrl(url, { allowLoopback }, dns);
      return 'allowed';
    } catch (err) {
      expect(err).toBeInstanceOf(UrlNotAllowed);
      return `${(err as UrlNotAllowed).reason}: ${(err as Error).message}`;
    }
  };

  it('resolves the host and refuses it when any of its addresses is refused', async () => {
    expect(await reason('https://hooks.example.com/partnero')).toBe('allowed');
    expect(await reason('https://sneaky.example.com/')).toMatch(/^address: .*10\.0\.0\.7, a private address/);
    expect(await reason('http://metadata.example.com/latest')).toMatch(/^address: .*link-local/);
    expect(await reason('http://localhost:3000/hook')).toMatch(/^address: .*loopback.*WEBHOOKS_ALLOW_LOOPBACK/);
    expect(await reason('http://localhost:3000/hook', true)).toBe('allowed');
    expect(await reason('https://nowhere.example.com/')).toMatch(/^unresolvable: .*ENOTFOUND/);
  });

  it('refuses IP literals in every spelling the URL parser accepts, and anything but http(s)', async () => {
    for (const url of ['http://127.0.0.1/', 'http://2130706433/', 'http://0x7f.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://0.0.0.0:80/']) {
      expect(await reason(url), url).toMatch(/^address: /);
    }
    expect(await reason('http://10.0.0.1/', true)).toMatch(/^address: .*private/);
    expect(await reason('http://[fd00::1]/', true)).toMatch(/^address: .*private/);
    expect(await reason('ftp://hooks.example.com/')).toMatch(/^invalid: .*http/);
    expect(await reason('file:///etc/passwd')).toMatch(/^invalid: /);
    expect(await reason('not a url')).toMatch(/^invalid: /);
    expect(await reason('http://8.8.8.8/')).toBe('allowed');
  });

  it('refuses IPv4-mapped and documentation hosts with a reason that says so, loopback allowed or not', async () => {
    // the URL parser writes [::ffff:127.0.0.1] as [::ffff:7f00:1]
    expect(new URL('http://[::ffff:127.0.0.1]/').hostname).toBe('[::ffff:7f00:1]');
    for (const url of ['http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/']) {
      expect(await reason(url, true), url).toBe(
        'address: the host ::ffff:7f00:1 resolves to ::ffff:7f00:1, an IPv4-mapped IPv6 address (::ffff:0:0/96), refused whatever it maps to (here 127.0.0.1, a loopback address); webhooks are sent to public addresses only',
      );
    }
    expect(await reason('http://[::8.8.8.8]/')).toMatch(/^address: .*IPv4-compatible.*here 8\.8\.8\.8, a public address/);
    expect(await reason('https://203.0.113.9/')).toMatch(/^address: .*203\.0\.113\.9, an address reserved for documentation/);
    expect(await reason('https://[2001:db8::1]/')).toMatch(/^address: .*reserved for documentation/);
    expect(await reason('https://[100::1]/')).toMatch(/^address: .*discard-only/);
    expect(await reason('https://[2001::1]/')).toMatch(/^address: .*a reserved address/);
    expect(await reason('https://192.0.1.1/')).toBe('allowed');
  });
});

describe('the signature', () => {
  it('is the hex HMAC-SHA256 of the raw body under the subscription secret', () => {
    const body = '{"event":"partner.created","created_at":"2026-11-22T10:00:00.000000Z","data":{"key":"P1"}}';
    expect(sign('whsec_test', body)).toBe(createHmac('sha256', 'whsec_test').update(body).digest('hex'));
    expect(sign('whsec_test', body)).toMatch(/^[0-9a-f]{64}$/);
  });
  it('an attempt waits at most 10 s for the answer', () => expect(DELIVERY_TIMEOUT_MS).toBe(10_000));
});

describe('the 5-day disable rule', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  it.each([
    ['no failure', null, false],
    ['failing for 4 days 23 hours', ago(5 * 24 * h - h), false],
    ['failing for exactly 5 days', ago(5 * 24 * h), true],
    ['failing for 6 days', ago(6 * 24 * h), true],
  ])('%s → disabled: %s', (_label, since, expected) => {
    expect(shouldDisable(since, now)).toBe(expected);
  });
  it('is 5 days', () => expect(DISABLE_AFTER_MS).toBe(5 * 24 * h));
});
