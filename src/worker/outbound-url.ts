// Where outbound webhooks may be sent: http(s) URLs whose host resolves only to public addresses.
// Checked when a subscription is saved and again at every delivery (DNS may change in between); a
// delivery then connects to the very addresses it checked, so a rebinding DNS answer cannot slip a
// private address in between the check and the connection.
import { lookup } from 'node:dns';
import { isIP } from 'node:net';

export type UrlPolicy = {
  /** Local development and tests: 127.0.0.0/8 and ::1 are allowed. Private ranges never are. */
  allowLoopback: boolean;
};

export type ResolvedAddress = { address: string; family: 4 | 6 };
/** All the addresses a host name resolves to (node:dns lookup, as connections use). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    lookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'shared'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

const KIND_TEXT: Record<AddressKind, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address',
  shared: 'a carrier-grade NAT (100.64.0.0/10) address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

export class UrlNotAllowed extends Error {
  override name = 'UrlNotAllowed';
  constructor(
    /** `invalid`: not an http(s) URL; `unresolvable`: no address; `address`: a refused address. */
    readonly reason: 'invalid' | 'unresolvable' | 'address',
    message: string,
  ) {
    super(message);
  }
}

function ipv4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function classifyV4([a, b]: number[]): AddressKind {
  if (a === undefined || b === undefined) return 'reserved';
  if (a === 0) return 'unspecified'; // 0.0.0.0/8: "this network" (0.0.0.0 reaches the local host)
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'shared';
  if (a === 169 && b === 254) return 'link_local';
  if (a === 192 && b === 0) return 'reserved'; // 192.0.0.0/24 protocol assignments, 192.0.2.0/24 documentation
  if (a === 198 && (b === 18 || b === 19)) return 'reserved'; // benchmarking
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved'; // 240.0.0.0/4 and the broadcast address
  return 'public';
}

/** An IPv6 address as its 16 bytes (the textual forms: `::`, an embedded dotted quad). */
function ipv6Bytes(ip: string): number[] | null {
  let text = ip.split('%')[0]!.toLowerCase();
  const tail: number[] = [];
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    tail.push(...ipv4Bytes(quad[1]!));
    text = text.slice(0, -quad[1]!.length);
    text = text.endsWith('::') ? text : text.replace(/:$/, '');
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string) => (s ? s.split(':').filter((g) => g !== '') : []);
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const missing = 8 - tail.length / 2 - left.length - right.length;
  if (missing < 0 || (rest === undefined && missing !== 0)) return null;
  const words = [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16));
  if (words.some((w) => Number.isNaN(w) || w < 0 || w > 0xffff)) return null;
  return [...words.flatMap((w) => [w >> 8, w & 0xff]), ...tail];
}

function classifyV6(bytes: number[]): AddressKind {
  const zero = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zero(0, 16)) return 'unspecified';
  if (zero(0, 15) && bytes[15] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) name an IPv4 address
  if (zero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(bytes.slice(12));
  if (zero(0, 12)) return classifyV4(bytes.slice(12));
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zero(4, 12)) return classifyV4(bytes.slice(12));
  // 6to4 (2002:a.b.c.d::/48) embeds one too
  if (bytes[0] === 0x20 && bytes[1] === 0x02) {
    const inner = classifyV4(bytes.slice(2, 6));
    if (inner !== 'public') return inner;
  }
  const [b0 = 0, b1 = 0] = bytes;
  if ((b0 & 0xfe) === 0xfc) return 'private'; // fc00::/7 unique local
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link_local'; // fe80::/10
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return 'private'; // fec0::/10, the old site-local
  if (b0 === 0xff) return 'multicast';
  return 'public';
}

/** What kind of address an IP literal is; anything that does not parse is `reserved` (refused). */
export function classifyAddress(ip: string): AddressKind {
  const family = isIP(ip.split('%')[0]!);
  if (family === 4) return classifyV4(ipv4Bytes(ip));
  if (family === 6) {
    const bytes = ipv6Bytes(ip);
    return bytes ? classifyV6(bytes) : 'reserved';
  }
  return 'reserved';
}

export function addressAllowed(ip: string, policy: UrlPolicy): boolean {
  const kind = classifyAddress(ip);
  return kind === 'public' || (kind === 'loopback' && policy.allowLoopback);
}

/** A URL is refused when it is not http(s) or when its host resolves to any address the policy refuses. */
export async function checkUrl(
  raw: string,
  policy: UrlPolicy,
  resolver: Resolver = systemResolver,
): Promise<{ url: URL; addresses: ResolvedAddress[] }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlNotAllowed('invalid', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlNotAllowed('invalid', 'the URL must start with http:// or https://');
  // (the URL parser has already turned 0x7f.1, 2130706433 and the like into dotted quads)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new UrlNotAllowed('invalid', 'the URL names no host');
  const family = isIP(host);
  let addresses: ResolvedAddress[];
  if (family) {
    addresses = [{ address: host, family: family === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolver(host);
    } catch (err) {
      throw new UrlNotAllowed('unresolvable', `the host ${host} does not resolve (${(err as { code?: string }).code ?? (err as Error).message})`);
    }
    if (!addresses.length) throw new UrlNotAllowed('unresolvable', `the host ${host} does not resolve`);
  }
  for (const a of addresses) {
    if (!addressAllowed(a.address, policy)) {
      const kind = classifyAddress(a.address);
      const hint = kind === 'loopback' ? ' (WEBHOOKS_ALLOW_LOOPBACK=true allows it for local development)' : '';
      throw new UrlNotAllowed('address', `the host ${host} resolves to ${a.address}, ${KIND_TEXT[kind]}; webhooks are sent to public addresses only${hint}`);
    }
  }
  return { url, addresses };
}
