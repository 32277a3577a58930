/**
 * Independent references for hosts and policy, for the fuzz tests: the WHATWG IPv4 parser
 * written from the spec, a list of address blocks that are certainly not public, and a slow
 * pattern matcher. None of it shares code with src/.
 */
import ipaddr from "ipaddr.js";

/**
 * The WHATWG URL standard's "ends in a number" check and IPv4 parser (section 3.5), written
 * from the spec text for ASCII hosts: "not-ipv4" (a domain), "fail" (looks numeric, invalid),
 * or the 32-bit address.
 */
export function whatwgIpv4(host: string): number | "fail" | "not-ipv4" {
  const parts = host.split(".");
  if (parts[parts.length - 1] === "") {
    if (parts.length === 1) return "not-ipv4";
    parts.pop();
  }
  const last = parts[parts.length - 1]!;
  const endsInNumber = (last !== "" && /^[0-9]+$/.test(last)) || ipv4Number(last) !== null;
  if (!endsInNumber) return "not-ipv4";
  if (parts.length > 4) return "fail";
  const numbers: bigint[] = [];
  for (const p of parts) {
    const n = ipv4Number(p);
    if (n === null) return "fail";
    numbers.push(n);
  }
  for (let i = 0; i < numbers.length - 1; i++) if (numbers[i]! > 255n) return "fail";
  if (numbers[numbers.length - 1]! >= 256n ** BigInt(5 - numbers.length)) return "fail";
  let ipv4 = numbers[numbers.length - 1]!;
  for (let i = 0; i < numbers.length - 1; i++) ipv4 += numbers[i]! * 256n ** BigInt(3 - i);
  return Number(ipv4);
}

function ipv4Number(input: string): bigint | null {
  if (input === "") return null;
  let s = input;
  let radix = 10;
  if (s.length >= 2 && (s.startsWith("0x") || s.startsWith("0X"))) {
    s = s.slice(2);
    radix = 16;
  } else if (s.length >= 2 && s.startsWith("0")) {
    s = s.slice(1);
    radix = 8;
  }
  if (s === "") return 0n;
  const ok = radix === 10 ? /^[0-9]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/;
  if (!ok.test(s)) return null;
  return radix === 10 ? BigInt(s) : radix === 8 ? BigInt("0o" + s) : BigInt("0x" + s);
}

// ------------------------------------------------------------------------------- non-public addresses

const V4_LOCAL: ReadonlyArray<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

const V6_LOCAL: ReadonlyArray<[string, number]> = [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["3fff::", 20],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
];

/** IPv6 blocks that embed an IPv4 address in their last 32 bits (or bits 16-47 for 6to4). */
function embeddedV4(a: ipaddr.IPv6): string | null {
  const p = a.parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (a.match(ipaddr.IPv6.parse("::ffff:0:0"), 96) || a.match(ipaddr.IPv6.parse("::"), 96) || a.match(ipaddr.IPv6.parse("64:ff9b::"), 96))
    return v4(p[6]!, p[7]!);
  if (a.match(ipaddr.IPv6.parse("2002::"), 16)) return v4(p[1]!, p[2]!);
  return null;
}

/**
 * A deliberately partial oracle: true for addresses that are certainly not public (the README's
 * list), false for everything else (including blocks it does not decide, such as Teredo).
 */
export function certainlyLocal(kind: "ipv4" | "ipv6", host: string): boolean {
  if (kind === "ipv4") {
    const a = ipaddr.IPv4.parse(host);
    return host === "255.255.255.255" || V4_LOCAL.some(([net, bits]) => a.match(ipaddr.IPv4.parse(net), bits));
  }
  const a = ipaddr.IPv6.parse(host);
  if (V6_LOCAL.some(([net, bits]) => a.match(ipaddr.IPv6.parse(net), bits))) return true;
  const inner = embeddedV4(a);
  if (inner !== null) return certainlyLocal("ipv4", inner);
  if (a.match(ipaddr.IPv6.parse("2001::"), 32)) return false; // Teredo: not decided here
  return !a.match(ipaddr.IPv6.parse("2000::"), 3);
}

// ------------------------------------------------------------------------------- patterns

/** A pattern as intended, before it is spelled out as text. Hosts are canonical. */
export type PatternSpec =
  | { readonly form: "any"; readonly port: number | null }
  | { readonly form: "name"; readonly lead: "" | "*." | "**."; readonly name: string; readonly port: number | null }
  | { readonly form: "glob"; readonly lead: "" | "*." | "**."; readonly labels: readonly string[]; readonly port: number | null }
  | { readonly form: "ip"; readonly kind: "ipv4" | "ipv6"; readonly host: string; readonly port: number | null }
  | { readonly form: "cidr"; readonly kind: "ipv4" | "ipv6"; readonly net: string; readonly bits: number };

export interface RefTarget {
  readonly kind: "domain" | "ipv4" | "ipv6";
  readonly host: string;
  readonly port: number;
}

/**
 * Old-style IPv4 globs: a glob whose labels (a lead counts as a `*`/`**` label) are digits and
 * `*` only, with a number label and a `*`, is IPv4-looking. It is the CIDR block of its leading
 * 1-3 decimal octets when the rest are whole `*`/`**` labels, 4 labels at most (`10.*` is
 * 10.0.0.0/8, `192.168.1.*` 192.168.1.0/24), and matches no name; any other is refused.
 */
export function ipv4GlobOf(p: PatternSpec): { net: string; bits: number } | "invalid" | null {
  if (p.form !== "glob") return null;
  const all = p.lead === "" ? [...p.labels] : [p.lead.slice(0, -1), ...p.labels];
  if (all.length < 2 || !all.some((l) => l.includes("*")) || !all.every((l) => /^[0-9*]+$/.test(l)) || !all.some((l) => /^[0-9]+$/.test(l))) return null;
  let k = 0;
  while (k < all.length && /^(0|[1-9][0-9]{0,2})$/.test(all[k]!) && Number(all[k]) <= 255) k++;
  if (k < 1 || k > 3 || all.length > 4 || !all.slice(k).every((l) => /^\*+$/.test(l))) return "invalid";
  return { net: [...all.slice(0, k), "0", "0", "0"].slice(0, 4).join("."), bits: 8 * k };
}

/** The CIDR spec an IPv4 glob spec means, or the spec itself. */
export function asCidr(p: PatternSpec): PatternSpec {
  const g = ipv4GlobOf(p);
  return g !== null && g !== "invalid" ? { form: "cidr", kind: "ipv4", net: g.net, bits: g.bits } : p;
}

/**
 * Every IANA special-purpose block (and the cloud metadata address the proxy adds), with whether
 * its addresses embed an IPv4 address that decides what they reach.
 */
const SPECIAL_V4: ReadonlyArray<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["168.63.129.16", 32],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
  ["255.255.255.255", 32],
];
const SPECIAL_V6: ReadonlyArray<[string, number, boolean]> = [
  ["::", 128, false],
  ["::1", 128, false],
  ["::ffff:0:0", 96, true],
  ["::ffff:0:0:0", 96, true],
  ["::", 96, true],
  ["64:ff9b::", 96, true],
  ["64:ff9b:1::", 48, true],
  ["100::", 64, false],
  ["2001::", 32, true],
  ["2001::", 23, false],
  ["2001:db8::", 32, false],
  ["2002::", 16, true],
  ["3fff::", 20, false],
  ["5f00::", 16, false],
  ["fc00::", 7, false],
  ["fe80::", 10, false],
  ["fec0::", 10, false],
  ["ff00::", 8, false],
];

/**
 * Does an allowlisted CIDR unlock the local addresses in it? Only when it lies wholly inside a
 * special-purpose block, and the most specific such block is not one whose addresses embed IPv4.
 */
export function refCidrUnlocks(kind: "ipv4" | "ipv6", net: string, bits: number): boolean {
  if (kind === "ipv4") {
    const a = ipaddr.IPv4.parse(net);
    return SPECIAL_V4.some(([n, b]) => bits >= b && a.match(ipaddr.IPv4.parse(n), b));
  }
  const a = ipaddr.IPv6.parse(net);
  const holding = SPECIAL_V6.filter(([n, b]) => bits >= b && a.match(ipaddr.IPv6.parse(n), b)).sort((x, y) => y[1] - x[1]);
  return holding.length > 0 && !holding[0]![2];
}

/** Can an allowlist entry of this form unlock a local target by itself? */
export function isExplicit(p: PatternSpec): boolean {
  const c = asCidr(p);
  if (c.form === "cidr") return refCidrUnlocks(c.kind, c.net, c.bits);
  return p.form === "ip" || (p.form === "name" && p.lead === "");
}

/** The IPv4 address an IPv4-mapped or IPv4-compatible (not :: or ::1) address is, or null. */
function mappedOrCompatible(t: RefTarget): string | null {
  if (t.kind !== "ipv6") return null;
  const a = ipaddr.IPv6.parse(t.host);
  const p = a.parts;
  if (!a.match(ipaddr.IPv6.parse("::ffff:0:0"), 96) && !(a.match(ipaddr.IPv6.parse("::"), 96) && !(p[6] === 0 && p[7]! <= 1))) return null;
  return `${p[6]! >> 8}.${p[6]! & 255}.${p[7]! >> 8}.${p[7]! & 255}`;
}

/**
 * The slow, obvious matcher: does `p` match `t`? An IPv4-mapped or IPv4-compatible target is
 * also its IPv4 address for IP and CIDR entries.
 */
export function refMatches(spec: PatternSpec, t: RefTarget): boolean {
  if (spec.form !== "cidr" && spec.port !== null && spec.port !== t.port) return false;
  const p = asCidr(spec);
  if (p.form === "ip" || p.form === "cidr") {
    const v4 = mappedOrCompatible(t);
    if (v4 !== null && refMatchesOne(p, { kind: "ipv4", host: v4, port: t.port })) return true;
  }
  return refMatchesOne(p, t);
}

function refMatchesOne(p: PatternSpec, t: RefTarget): boolean {
  switch (p.form) {
    case "any":
      return true;
    case "ip":
      return t.kind === p.kind && t.host === p.host;
    case "cidr": {
      if (t.kind !== p.kind) return false;
      const a = ipaddr.parse(t.host);
      return a.kind() === (p.kind === "ipv4" ? "ipv4" : "ipv6") && a.match(ipaddr.parse(p.net), p.bits);
    }
    case "name":
    case "glob": {
      if (t.kind !== "domain") return false;
      const want = p.form === "name" ? p.name.split(".") : p.labels;
      const have = t.host.split(".");
      const extra = have.length - want.length;
      if (extra < 0) return false;
      if (p.lead === "" && extra !== 0) return false;
      if (p.lead === "*." && extra < 1) return false;
      return want.every((w, i) => labelMatches(w, have[extra + i]!));
    }
  }
}

/** `*` in a label matches any run of characters within that label. */
function labelMatches(pattern: string, label: string): boolean {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return pattern === label;
  // Greedy left-to-right placement of the literal pieces is exact for single-* wildcards.
  if (!label.startsWith(pieces[0]!) || !label.endsWith(pieces[pieces.length - 1]!)) return false;
  if (pieces[0]!.length + pieces[pieces.length - 1]!.length > label.length) return false;
  let pos = pieces[0]!.length;
  const stop = label.length - pieces[pieces.length - 1]!.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const at = label.indexOf(pieces[i]!, pos);
    if (at < 0 || at + pieces[i]!.length > stop) return false;
    pos = at + pieces[i]!.length;
  }
  return true;
}

/**
 * Every IPv4 address an IPv6 address carries, for deny rules (deny wins whatever the spelling):
 * mapped, compatible (not :: or ::1), NAT64, 6to4, and Teredo's server and (inverted) client.
 */
export function embeddedForDeny(host: string): string[] {
  const a = ipaddr.IPv6.parse(host);
  const p = a.parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (a.match(ipaddr.IPv6.parse("2001::"), 32)) return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
  if (a.match(ipaddr.IPv6.parse("::"), 96) && p[6] === 0 && p[7]! <= 1) return [];
  const one = embeddedV4(a);
  return one === null ? [] : [one];
}

/** A deny entry matches the target itself, or an IPv4 address the target embeds. */
export function refDenies(p: PatternSpec, t: RefTarget): boolean {
  if (refMatches(p, t)) return true;
  if (t.kind !== "ipv6" || p.form === "name" || asCidr(p).form === "glob" || p.form === "any") return false;
  return embeddedForDeny(t.host).some((h) => refMatches(p, { kind: "ipv4", host: h, port: t.port }));
}
