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
  | 'documentation'
  | 'discard'
  | 'ipv4_mapped'
  | 'ipv4_compatible'
  | 'reserved';

const KIND_TEXT: Record<AddressKind, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address',
  shared: 'a carrier-grade NAT (100.64.0.0/10) address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  documentation: 'an address reserved for documentation and examples',
  discard: 'a discard-only address (100::/64)',
  ipv4_mapped: 'an IPv4-mapped IPv6 address (::ffff:0:0/96), refused whatever it maps to',
  ipv4_compatible: 'a deprecated IPv4-compatible IPv6 address (::/96), refused whatever it embeds',
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

/** Whether the leading `bits` of `bytes` equal those of `prefix`. */
function inPrefix(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

type Range = { prefix: number[]; bits: number; kind: AddressKind };
const ranges = (parse: (ip: string) => number[] | null, table: [string, AddressKind][]): Range[] =>
  table.map(([cidr, kind]) => {
    const [ip, bits] = cidr.split('/') as [string, string];
    return { prefix: parse(ip)!, bits: Number(bits), kind };
  });
const kindIn = (bytes: number[], table: Range[]): AddressKind | undefined =>
  table.find((r) => inPrefix(bytes, r.prefix, r.bits))?.kind;

// The IANA special-purpose registries, as far as they matter for where a request may go.
const V4_RANGES = ranges(ipv4Bytes, [
  ['0.0.0.0/8', 'unspecified'], // "this network": 0.0.0.0 reaches the local host
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // the deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // and the broadcast address
]);

function classifyV4(bytes: number[]): AddressKind {
  if (bytes.length !== 4) return 'reserved';
  return kindIn(bytes, V4_RANGES) ?? 'public';
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

// First match wins: the exact addresses before the ranges that hold them.
const V6_RANGES = ranges(ipv6Bytes, [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  // these reach an IPv4 host by another spelling: refused whole, not judged by the address they carry
  ['::ffff:0:0/96', 'ipv4_mapped'],
  ['::/96', 'ipv4_compatible'],
  ['::ffff:0:0:0/96', 'reserved'], // the old SIIT "IPv4-translated" form
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64: translates to whatever the local network chose
  ['100::/64', 'discard'],
  ['2001::/23', 'reserved'], // IETF protocol assignments, Teredo among them
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'], // unique local
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'private'], // the old site-local
  ['ff00::/8', 'multicast'],
]);
const NAT64 = ipv6Bytes('64:ff9b::')!;
const SIX_TO_FOUR = ipv6Bytes('2002::')!;

function classifyV6(bytes: number[]): AddressKind {
  // well-known NAT64 (64:ff9b::a.b.c.d) reaches the IPv4 address it embeds: judge that one
  if (inPrefix(bytes, NAT64, 96)) return classifyV4(bytes.slice(12));
  // 6to4 (2002:a.b.c.d::/48) embeds one too
  if (inPrefix(bytes, SIX_TO_FOUR, 16)) {
    const inner = classifyV4(bytes.slice(2, 6));
    if (inner !== 'public') return inner;
  }
  return kindIn(bytes, V6_RANGES) ?? 'public';
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

/** The kind in words; an IPv4-mapped or -compatible address also names the IPv4 address it carries. */
function describe(ip: string, kind: AddressKind): string {
  const bytes = kind === 'ipv4_mapped' || kind === 'ipv4_compatible' ? ipv6Bytes(ip) : null;
  if (!bytes) return KIND_TEXT[kind];
  const v4 = bytes.slice(12);
  return `${KIND_TEXT[kind]} (here ${v4.join('.')}, ${KIND_TEXT[classifyV4(v4)]})`;
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
      throw new UrlNotAllowed('address', `the host ${host} resolves to ${a.address}, ${describe(a.address, kind)}; webhooks are sent to public addresses only${hint}`);
    }
  }
  return { url, addresses };
}
