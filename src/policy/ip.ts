/**
 * Is an address public? "Non-public" is every block of the IANA IPv4 and IPv6 special-purpose
 * registries that is not globally reachable, plus multicast; IPv6 addresses that embed an IPv4
 * address (mapped, compatible, NAT64, 6to4, Teredo) are judged by what they embed, and IPv6
 * outside global unicast space (2000::/3) is never public.
 *
 * Addresses here are canonical strings (dotted quad, compressed IPv6) from target.ts, or from
 * canonicalIp and hexGroupsAddress below, which read raw text (a resolver's answer, a bind
 * address) into that form.
 */
import { ipaddrJs } from "./ipaddr.ts";
import { formatIpv6, isCanonicalDottedQuad, parseIpv6Groups } from "./ip-text.ts";

/** The 8 x 16-bit parts of an IPv6 address (the fast reader first, ipaddr.js for other spellings). */
export function v6Parts(s: string): readonly number[] {
  return parseIpv6Groups(s) ?? ipaddrJs().IPv6.parse(s).parts;
}

export interface IpVerdict {
  readonly public: boolean;
  /** Human description of the block, e.g. "loopback (127.0.0.0/8)". */
  readonly why: string;
}

export function ipv4ToInt(s: string): number {
  let n = 0;
  let part = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      n = n * 256 + part;
      part = 0;
      dots++;
    } else {
      part = part * 10 + (c - 0x30);
    }
  }
  if (dots !== 3) throw new Error(`not a dotted quad: ${s}`);
  return n * 256 + part;
}

export function intToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The address's bytes in network order, 4 or 16 (a SOCKS5 request's address field). `host` is
 * canonical text (a target's, or a resolver answer read by canonicalIp), read here without
 * ipaddr.js: this runs for every tunnel sent on through a SOCKS5 upstream.
 */
export function ipBytes(kind: "ipv4" | "ipv6", host: string): Uint8Array {
  if (kind === "ipv4") {
    const n = ipv4ToInt(host);
    return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  const out = new Uint8Array(16);
  const p = v6Parts(host);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = p[i]! >>> 8;
    out[2 * i + 1] = p[i]! & 255;
  }
  return out;
}

interface V4Block {
  readonly base: number;
  readonly bits: number;
  readonly why: string;
}

function v4(cidr: string, name: string): V4Block {
  const [ip, bits] = cidr.split("/") as [string, string];
  return { base: ipv4ToInt(ip), bits: Number(bits), why: `${name} (${cidr})` };
}

/** Ordered most specific first where blocks nest. */
const V4_NON_PUBLIC: readonly V4Block[] = [
  v4("0.0.0.0/8", "this network"),
  v4("10.0.0.0/8", "private"),
  v4("168.63.129.16/32", "cloud metadata (Azure WireServer)"),
  v4("100.64.0.0/10", "shared address space (CGNAT)"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.0.0/16", "link-local"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignments"),
  v4("192.0.2.0/24", "documentation (TEST-NET-1)"),
  v4("192.88.99.0/24", "deprecated 6to4 relay anycast"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation (TEST-NET-2)"),
  v4("203.0.113.0/24", "documentation (TEST-NET-3)"),
  v4("224.0.0.0/4", "multicast"),
  v4("255.255.255.255/32", "broadcast"),
  v4("240.0.0.0/4", "reserved"),
];

export function v4InBlock(n: number, base: number, bits: number): boolean {
  if (bits === 0) return true;
  const shift = 32 - bits;
  return n >>> shift === base >>> shift;
}

export function classifyIpv4(s: string): IpVerdict {
  const n = ipv4ToInt(s);
  for (const b of V4_NON_PUBLIC) if (v4InBlock(n, b.base, b.bits)) return { public: false, why: b.why };
  return { public: true, why: "public IPv4" };
}

type Parts = readonly number[];

/** Does `parts` (8 x 16-bit) fall inside prefix `base/bits`? */
export function v6InBlock(parts: Parts, base: Parts, bits: number): boolean {
  let i = 0;
  for (; bits >= 16; bits -= 16, i++) if (parts[i] !== base[i]) return false;
  if (bits === 0) return true;
  const shift = 16 - bits;
  return parts[i]! >>> shift === base[i]! >>> shift;
}

interface V6Block {
  /** The block as written, `addr/bits`. */
  readonly cidr: string;
  readonly base: Parts;
  readonly bits: number;
  readonly why: string;
  /** For blocks that embed an IPv4 address: extract it (and judge that instead). */
  readonly embedded?: (p: Parts) => number[];
  /** Never public, whatever it embeds (the embedded addresses still count for the denylist). */
  readonly local?: true;
}

/**
 * A block of the IPv6 table: `cidr` as written (what a verdict names), and its network as the
 * parts it starts with (the rest are zero). The parts are written out rather than read from
 * the text, because reading the table's blocks, once each in a fresh process, took 0.4 ms of a
 * start that takes about 12; ip.test.ts holds every block's parts equal to its text.
 */
function v6(cidr: string, lead: Parts, name: string, embedded?: (p: Parts) => number[], local?: true): V6Block {
  const base = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < lead.length; i++) base[i] = lead[i]!;
  const bits = Number(cidr.slice(cidr.indexOf("/") + 1));
  return { cidr, base, bits, why: `${name} (${cidr})`, ...(embedded ? { embedded } : {}), ...(local ? { local } : {}) };
}

const u32 = (hi: number, lo: number) => (hi * 65536 + lo) >>> 0;

/**
 * Where a translator with a prefix inside 64:ff9b:1::/48 puts the IPv4 address (RFC 6052 section
 * 2.2): the prefix length in use there is local knowledge, so every length from /48 up is a
 * candidate (bits 64-71 are always skipped).
 */
function localNat64Candidates(p: Parts): number[] {
  const b = (i: number, hi: boolean) => (hi ? p[i]! >>> 8 : p[i]! & 0xff);
  const bytes = (...x: number[]) => ((x[0]! << 24) | (x[1]! << 16) | (x[2]! << 8) | x[3]!) >>> 0;
  return [
    bytes(b(3, true), b(3, false), b(4, false), b(5, true)), // /48
    bytes(b(3, false), b(4, false), b(5, true), b(5, false)), // /56
    bytes(b(4, false), b(5, true), b(5, false), b(6, true)), // /64
    u32(p[6]!, p[7]!), // /96
  ];
}

/** ISATAP interface identifier (RFC 5214): 0000:5efe or 0200:5efe (u/g bits), then the IPv4 address. */
function isatapV4(p: Parts): number | null {
  return (p[4]! & 0xfcff) === 0 && p[5] === 0x5efe ? u32(p[6]!, p[7]!) : null;
}

/** Ordered most specific first where blocks nest (the first block holding an address decides). */
export const V6_NON_PUBLIC: readonly V6Block[] = [
  v6("::/128", [], "unspecified"),
  v6("::1/128", [0, 0, 0, 0, 0, 0, 0, 1], "loopback"),
  v6("::ffff:0:0/96", [0, 0, 0, 0, 0, 0xffff], "IPv4-mapped", (p) => [u32(p[6]!, p[7]!)]),
  v6("::ffff:0:0:0/96", [0, 0, 0, 0, 0xffff], "IPv4-translated (SIIT)", (p) => [u32(p[6]!, p[7]!)]),
  v6("::/96", [], "IPv4-compatible", (p) => [u32(p[6]!, p[7]!)]),
  v6("64:ff9b::/96", [0x64, 0xff9b], "NAT64", (p) => [u32(p[6]!, p[7]!)]),
  v6("64:ff9b:1::/48", [0x64, 0xff9b, 1], "local-use NAT64", localNat64Candidates, true),
  v6("100::/64", [0x100], "discard-only"),
  // Teredo: server IPv4 in bits 32-63, client IPv4 (inverted) in the last 32 bits.
  v6("2001::/32", [0x2001], "Teredo", (p) => [u32(p[2]!, p[3]!), ~u32(p[6]!, p[7]!) >>> 0]),
  v6("2001::/23", [0x2001], "IETF protocol assignments"),
  v6("2001:db8::/32", [0x2001, 0xdb8], "documentation"),
  v6("2002::/16", [0x2002], "6to4", (p) => [u32(p[1]!, p[2]!)]),
  v6("3fff::/20", [0x3fff], "documentation"),
  v6("5f00::/16", [0x5f00], "SRv6 SIDs"),
  v6("fc00::/7", [0xfc00], "unique local"),
  v6("fe80::/10", [0xfe80], "link-local"),
  v6("fec0::/10", [0xfec0], "site-local (deprecated)"),
  v6("ff00::/8", [0xff00], "multicast"),
];

/**
 * The IPv4 addresses an IPv6 address carries (NAT64 64:ff9b::/96, IPv4-compatible, 6to4,
 * Teredo server and client), so that IPv4 deny rules also catch those spellings: on a NAT64
 * network [64:ff9b::808:808] *is* 8.8.8.8.
 */
export function embeddedIpv4(host: string): string[] {
  return embeddedInts(v6Parts(host)).map(intToIpv4);
}

function embeddedInts(p: Parts): number[] {
  const out: number[] = [];
  for (const b of V6_NON_PUBLIC) {
    if (b.embedded && v6InBlock(p, b.base, b.bits)) {
      // :: and ::1 are in the IPv4-compatible block but are not IPv4 addresses.
      if (b.bits === 96 && p[6] === 0 && p[7]! <= 1 && p.slice(0, 6).every((x) => x === 0)) break;
      out.push(...b.embedded(p));
      break;
    }
  }
  const isatap = isatapV4(p);
  if (isatap !== null) out.push(isatap);
  return out;
}

/** IPv6 global unicast space: no address outside it is public. */
export const GLOBAL_UNICAST = v6("2000::/3", [0x2000], "global unicast");

export function classifyIpv6(s: string): IpVerdict {
  return classifyIpv6Parts(v6Parts(s));
}

export function classifyIpv6Parts(p: Parts): IpVerdict {
  const isatap = isatapV4(p);
  if (isatap !== null) {
    // The IPv4 address of an ISATAP tunnel endpoint is where the packets go in the end.
    const inner = intToIpv4(isatap);
    const verdict = classifyIpv4(inner);
    if (!verdict.public) return { public: false, why: `an ISATAP address embedding ${inner}: ${verdict.why}` };
  }
  for (const b of V6_NON_PUBLIC) {
    if (!v6InBlock(p, b.base, b.bits)) continue;
    if (!b.embedded || b.local) return { public: false, why: b.why };
    for (const n of b.embedded(p)) {
      const inner = intToIpv4(n);
      const verdict = classifyIpv4(inner);
      if (!verdict.public) return { public: false, why: `${b.why} embedding ${inner}: ${verdict.why}` };
    }
    return { public: true, why: `${b.why} embedding public IPv4` };
  }
  if (!v6InBlock(p, GLOBAL_UNICAST.base, GLOBAL_UNICAST.bits)) {
    return { public: false, why: "outside IPv6 global unicast space (2000::/3)" };
  }
  return { public: true, why: "public IPv6" };
}

/**
 * Does the CIDR block lie wholly inside one special-purpose (non-public) block that it can
 * stand for? Only such blocks unlock local targets when allowlisted: `10.0.0.0/8` or
 * `fd00::/8` do, while `0.0.0.0/0`, `10.0.0.0/7` (private and public together) or a block of
 * addresses that embed IPv4 (NAT64, 6to4, Teredo: local only by what they embed) do not.
 */
export function cidrInsideSpecialBlock(kind: "ipv4" | "ipv6", host: string, bits: number): boolean {
  if (kind === "ipv4") {
    const n = ipv4ToInt(host);
    for (const b of V4_NON_PUBLIC) if (bits >= b.bits && v4InBlock(n, b.base, b.bits)) return true;
    return false;
  }
  return v6CidrInsideSpecialBlock(v6Parts(host), bits);
}

/** cidrInsideSpecialBlock for an IPv6 block given by its parts. */
export function v6CidrInsideSpecialBlock(p: Parts, bits: number): boolean {
  // The most specific block holding it decides (the table lists nested blocks first). A loop,
  // not find(): no closure per block compiled.
  for (const b of V6_NON_PUBLIC) if (bits >= b.bits && v6InBlock(p, b.base, b.bits)) return b.embedded === undefined;
  return false;
}

export function classifyIp(kind: "ipv4" | "ipv6", host: string): IpVerdict {
  return kind === "ipv4" ? classifyIpv4(host) : classifyIpv6(host);
}

/**
 * An IPv6 address written as hex groups (no zone, no dotted tail), canonical: an IPv4-mapped
 * one is its IPv4 address. Null for any other spelling.
 */
export function hexGroupsAddress(s: string): { kind: "ipv4" | "ipv6"; host: string } | null {
  const p = parseIpv6Groups(s);
  if (p === null) return null;
  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0xffff) return { kind: "ipv4", host: intToIpv4(p[6]! * 65536 + p[7]!) };
  return { kind: "ipv6", host: formatIpv6(p) };
}

/**
 * Canonicalize an address returned by a resolver or a socket (`::ffff:1.2.3.4` becomes
 * `1.2.3.4`). Returns null for anything that is not an IP literal.
 */
export function canonicalIp(s: string): { kind: "ipv4" | "ipv6"; host: string } | null {
  // The usual spellings, read and written here as ipaddr.js would, without its regular
  // expressions (fast-paths.fuzz.test.ts holds the two equal).
  if (isCanonicalDottedQuad(s)) return { kind: "ipv4", host: s };
  return hexGroupsAddress(s) ?? canonicalIpByIpaddr(s);
}

/** canonicalIp the whole way through ipaddr.js: the reference its fast paths must agree with. */
export function canonicalIpByIpaddr(s: string): { kind: "ipv4" | "ipv6"; host: string } | null {
  const ip = ipaddrJs();
  if (!ip.isValid(s)) return null;
  if (!s.includes(":")) {
    if (!ip.IPv4.isValidFourPartDecimal(s)) return null;
    return { kind: "ipv4", host: ip.IPv4.parse(s).toString() };
  }
  const a = ip.IPv6.parse(s);
  if (a.isIPv4MappedAddress()) return { kind: "ipv4", host: a.toIPv4Address().toString() };
  return { kind: "ipv6", host: a.toString() };
}

/** Whether an IPv6 address (8 x 16-bit parts) has a bit set past its first `bits`. */
export function hostBitsSet(parts: readonly number[], bits: number): boolean {
  for (let i = 0; i < 8; i++) {
    const keep = bits - 16 * i;
    if (keep >= 16) continue;
    const x = parts[i]!;
    if (keep <= 0 ? x !== 0 : (x & (0xffff >>> keep)) !== 0) return true;
  }
  return false;
}

/** The first `bits` bits of an IPv6 address (8 x 16-bit parts), the rest zero. */
export function maskParts(parts: readonly number[], bits: number): number[] {
  return parts.map((x, i) => {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    return keep === 16 ? x : keep === 0 ? 0 : x & ((0xffff << (16 - keep)) & 0xffff);
  });
}
