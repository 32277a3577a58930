/**
 * One list (`allowed_domains` or `denied_domains`) compiled into indexes whose lookup cost does
 * not grow with the number of patterns:
 *
 * - name patterns (exact, `*.`/`**.` leads and label globs) go into a label trie read from the
 *   right (name-index.ts): fixed suffixes are hashed whole, one probe per target label, and
 *   glob labels are hashed by their literal prefix and suffix, so a lookup costs a number of
 *   probes bounded by the target's length, never a scan of the patterns;
 * - IP literals are one hash probe;
 * - CIDRs are grouped by prefix length, one hash probe per distinct length;
 * - in front of the literal and IPv4 CIDR maps, a small filter (bit-filter.ts) answers most
 *   probes for addresses no rule names without reading the maps, which a large list spreads
 *   over memory that is rarely cached.
 *
 * The pattern language is in pattern.ts; compiling the lists is in rules.ts.
 */
import { embeddedIpv4, intToIpv4, ipv4ToInt, v6Parts } from "./ip.ts";
import { BitFilter } from "./bit-filter.ts";
import { NameIndex } from "./name-index.ts";
import { hashForward } from "./str-table.ts";
import type { ListName, ParsedPattern, Rule } from "./pattern.ts";
import type { Target } from "./target.ts";

/** One compiled list (allowed_domains or denied_domains). */
export class RuleSet {
  readonly any: Rule[] = [];
  /** Name patterns: exact names, `*.`/`**.` leads and label globs (see name-index.ts). */
  readonly names = new NameIndex();
  readonly ips = new Map<string, Rules>();
  /** prefix length -> masked network (uint32) -> rules */
  readonly v4cidrs = new Map<number, Map<number, Rules>>();
  /** prefix length -> masked network (see v6NetKey) -> rules */
  readonly v6cidrs = new Map<number, Map<V6NetKey, Rules>>();
  /** The keys of `ips` (hashForward of the text) and of `v4cidrs` (v4NetHash). */
  readonly #ipKeys = new BitFilter();
  readonly #v4NetKeys = new BitFilter();
  size = 0;

  constructor(readonly list: ListName) {}

  get empty(): boolean {
    return this.size === 0;
  }

  get hasAny(): boolean {
    return this.any.length > 0;
  }

  /** First rule matching the target (name or IP) on its port, or null. */
  match(t: Target, opts: { explicitOnly?: boolean } = {}): Rule | null {
    const explicitOnly = opts.explicitOnly === true;
    if (!explicitOnly) {
      const r = firstForPort(this.any, t.port, false);
      if (r) return r;
    }
    return t.kind === "domain" ? this.matchName(t.host, t.port, explicitOnly) : this.matchIp(t.kind, t.host, t.port, explicitOnly);
  }

  /**
   * For the denylist: like matchIp, and an IPv6 address also matches the IPv4 rules of the
   * address it embeds (NAT64, 6to4, Teredo, IPv4-compatible). Deny wins, whatever the spelling.
   * (The allowlist does this only for the IPv4-mapped and IPv4-compatible forms, in matchIp:
   * those are the IPv4 address. Reaching an address through a translator or relay (NAT64,
   * 6to4, Teredo) is not the same grant as reaching it.)
   */
  matchIpOrEmbedded(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null {
    const direct = this.matchIp(kind, host, port);
    if (direct || kind === "ipv4" || (this.ips.size === 0 && this.v4cidrs.size === 0)) return direct;
    for (const v4 of embeddedIpv4(host)) {
      const r = this.matchIp("ipv4", v4, port);
      if (r) return r;
    }
    return null;
  }

  /** `match` for the denylist (see matchIpOrEmbedded). */
  matchDenied(t: Target): Rule | null {
    if (t.kind === "domain") return this.match(t);
    return firstForPort(this.any, t.port, false) ?? this.matchIpOrEmbedded(t.kind, t.host, t.port);
  }

  matchName(name: string, port: number, explicitOnly = false): Rule | null {
    return this.names.match(name, port, explicitOnly);
  }

  /**
   * IP literal and CIDR rules. An IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d)
   * IPv6 address is the IPv4 address it carries, so it
   * also matches that address's IPv4 rules, in both lists.
   */
  matchIp(kind: "ipv4" | "ipv6", host: string, port: number, explicitOnly = false): Rule | null {
    const exact = this.ips.size > 0 && this.#ipKeys.mayHave(hashForward(host, 0, host.length)) ? this.ips.get(host) : undefined;
    if (exact) {
      const r = firstForPort(exact, port, false);
      if (r) return r;
    }
    if (kind === "ipv4") {
      if (this.v4cidrs.size === 0) return null;
      const n = ipv4ToInt(host);
      for (const [bits, byNet] of this.v4cidrs) {
        const net = maskV4(n, bits);
        if (!this.#v4NetKeys.mayHave(v4NetHash(bits, net))) continue;
        const hit = byNet.get(net);
        if (hit) {
          const r = firstForPort(hit, port, explicitOnly);
          if (r) return r;
        }
      }
      return null;
    }
    if (this.v6cidrs.size === 0 && this.ips.size === 0 && this.v4cidrs.size === 0) return null;
    const parts = v6Parts(host);
    for (const [bits, byNet] of this.v6cidrs) {
      const hit = byNet.get(v6NetKey(parts, bits));
      if (hit) {
        const r = firstForPort(hit, port, explicitOnly);
        if (r) return r;
      }
    }
    const v4 = mappedOrCompatibleV4(parts);
    return v4 === null ? null : this.matchIp("ipv4", v4, port, explicitOnly);
  }

  add(p: ParsedPattern): void {
    this.size++;
    switch (p.kind) {
      case "any":
        if (!placed(this.any, p.rule.port)) this.any.push(p.rule);
        return;
      case "ip":
        if (push(this.ips, p.host, p.rule)) this.#ipKeys.add(hashForward(p.host, 0, p.host.length));
        return;
      case "cidr":
        if (p.family === "ipv4") {
          const net = maskV4(ipv4ToInt(p.host), p.bits);
          if (push(byPrefix(this.v4cidrs, p.bits), net, p.rule)) this.#v4NetKeys.add(v4NetHash(p.bits, net));
        } else push(byPrefix(this.v6cidrs, p.bits), v6NetKey(p.parts ?? v6Parts(p.host), p.bits), p.rule);
        return;
      case "name":
        this.names.add(p.lead, p.labels, p.rule, p.suffix);
        return;
    }
  }
}

/**
 * The IPv4 address an IPv4-mapped (::ffff:0:0/96) or IPv4-compatible (::/96, except :: and ::1)
 * IPv6 address carries, or null.
 */
export function mappedOrCompatibleV4(parts: readonly number[]): string | null {
  for (let i = 0; i < 5; i++) if (parts[i] !== 0) return null;
  const hi = parts[6]!;
  const lo = parts[7]!;
  if (parts[5] === 0xffff || (parts[5] === 0 && (hi !== 0 || lo > 1))) return intToIpv4(hi * 65536 + lo);
  return null;
}

/**
 * The rules of one address or one block: the first one alone (the usual case, and one object
 * fewer per pattern of a large list), or a list from a second one on.
 */
type Rules = Rule | Rule[];

/**
 * Add `v` to the rules at `k`, unless they have a rule for the same port already. Those are the
 * rules of one address or one block, so a rule with the same port is a repeat: it would only
 * lengthen the list every lookup scans, never change its answer (the first copy matches
 * wherever a later one would). Names need no such check: a name's slot keeps its first rule.
 * True when `k` is a new key.
 */
function push<K>(m: Map<K, Rules>, k: K, v: Rule): boolean {
  const had = m.get(k);
  if (had === undefined) {
    m.set(k, v);
    return true;
  }
  if (!Array.isArray(had)) {
    if (had.port !== v.port) m.set(k, [had, v]);
  } else if (!placed(had, v.port)) had.push(v);
  return false;
}

/** The networks of one prefix length, added empty if new. */
function byPrefix<K>(cidrs: Map<number, Map<K, Rules>>, bits: number): Map<K, Rules> {
  let byNet = cidrs.get(bits);
  if (byNet === undefined) {
    byNet = new Map();
    cidrs.set(bits, byNet);
  }
  return byNet;
}

/** Lists scanned for a port; past this length a set of their ports is kept beside them. */
const SCAN = 8;
const portsOfLongLists = new WeakMap<object, Set<number>>();

/** Whether `list` has a rule for `port` (null: any port); remembers `port` for the push that follows a false. */
function placed(list: readonly Rule[], port: number | null): boolean {
  const key = port ?? -1;
  if (list.length < SCAN) {
    for (const x of list) if (x.port === port) return true;
    return false;
  }
  let ports = portsOfLongLists.get(list);
  if (!ports) {
    ports = new Set(list.map((x) => x.port ?? -1));
    portsOfLongLists.set(list, ports);
  }
  if (ports.has(key)) return true;
  ports.add(key);
  return false;
}

/** The first of `rules` for `port` (a rule for any port fits every port); only explicit ones when `explicitOnly`. */
function firstForPort(rules: Rules, port: number, explicitOnly: boolean): Rule | null {
  if (!Array.isArray(rules)) return fits(rules, port, explicitOnly) ? rules : null;
  for (const r of rules) if (fits(r, port, explicitOnly)) return r;
  return null;
}

function fits(r: Rule, port: number, explicitOnly: boolean): boolean {
  return (r.port === null || r.port === port) && (r.explicit || !explicitOnly);
}

/** A hash of an IPv4 network (its prefix length and its masked address) for the filter of v4cidrs. */
function v4NetHash(bits: number, net: number): number {
  return Math.imul(net, 0x9e3779b1) ^ bits;
}

function maskV4(n: number, bits: number): number {
  return bits === 0 ? 0 : (n >>> (32 - bits)) >>> 0;
}

/**
 * The first `bits` bits of an IPv6 address as a map key: up to 48 bits (the usual prefixes) a
 * number, exact in a double and hashed faster than a string; past that, the parts in hex. Each
 * map holds one prefix length, so its keys are all of one kind.
 */
type V6NetKey = number | string;

function v6NetKey(parts: readonly number[], bits: number): V6NetKey {
  if (bits <= 48) {
    let key = 0;
    let left = bits;
    for (let i = 0; left > 0; i++, left -= 16) key = left >= 16 ? key * 65536 + parts[i]! : key * 2 ** left + (parts[i]! >>> (16 - left));
    return key;
  }
  let key = "";
  let left = bits;
  for (let i = 0; i < 8 && left > 0; i++, left -= 16) {
    const p = left >= 16 ? parts[i]! : parts[i]! >>> (16 - left);
    key += p.toString(16) + ":";
  }
  return key;
}
