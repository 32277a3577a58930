/**
 * `allowed_domains` / `denied_domains` compiled once into indexes whose lookup cost does not grow
 * with the number of patterns:
 *
 * - name patterns (exact, `*.`/`**.` leads and label globs) go into a label trie read from the
 *   right (name-index.ts): fixed suffixes are hashed whole, one probe per target label, and
 *   glob labels are hashed by their literal prefix and suffix, so a lookup costs a number of
 *   probes bounded by the target's length, never a scan of the patterns;
 * - IP literals are one hash probe;
 * - CIDRs are grouped by prefix length, one hash probe per distinct length.
 *
 * The pattern language is in pattern.ts.
 */
import type { PolicyConfig, Problem } from "../config/schema.ts";
import { embeddedIpv4, intToIpv4, ipv4ToInt, v6Parts } from "./ip.ts";
import { NameIndex } from "./name-index.ts";
import { broadAllowWarning } from "./broad.ts";
import { parseTrimmed, PatternError, type ListName, type ParsedPattern, type Rule } from "./pattern.ts";
import type { Target } from "./target.ts";
import { runSteps } from "../config/steps.ts";

export class RuleSet {
  readonly any: Rule[] = [];
  /** Name patterns: exact names, `*.`/`**.` leads and label globs (see name-index.ts). */
  readonly names = new NameIndex();
  readonly ips = new Map<string, Rule[]>();
  /** prefix length -> masked network (uint32) -> rules */
  readonly v4cidrs = new Map<number, Map<number, Rule[]>>();
  /** prefix length -> masked network (see v6NetKey) -> rules */
  readonly v6cidrs = new Map<number, Map<V6NetKey, Rule[]>>();
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
      const r = firstForPort(this.any, t.port);
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
    return firstForPort(this.any, t.port) ?? this.matchIpOrEmbedded(t.kind, t.host, t.port);
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
    const exact = this.ips.get(host);
    if (exact) {
      const r = firstForPort(exact, port);
      if (r) return r;
    }
    if (kind === "ipv4") {
      if (this.v4cidrs.size === 0) return null;
      const n = ipv4ToInt(host);
      for (const [bits, byNet] of this.v4cidrs) {
        const hit = byNet.get(maskV4(n, bits));
        if (hit) {
          const r = firstCidrForPort(hit, port, explicitOnly);
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
        const r = firstCidrForPort(hit, port, explicitOnly);
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
        push(this.ips, p.host, p.rule);
        return;
      case "cidr":
        if (p.family === "ipv4") push(byPrefix(this.v4cidrs, p.bits), maskV4(ipv4ToInt(p.host), p.bits), p.rule);
        else push(byPrefix(this.v6cidrs, p.bits), v6NetKey(p.parts ?? v6Parts(p.host), p.bits), p.rule);
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
 * Add `v` to the list at `k`, unless the list has a rule for the same port already. A list holds
 * the rules of one address, one block or `*`, so a rule with the same port is a repeat: it would
 * only lengthen the list every lookup scans, never change its answer (the first copy matches
 * wherever a later one would). Names need no such check: a name's slot keeps its first rule.
 */
function push<K>(m: Map<K, Rule[]>, k: K, v: Rule): void {
  const list = m.get(k);
  if (!list) m.set(k, [v]);
  else if (!placed(list, v.port)) list.push(v);
}

/** The networks of one prefix length, added empty if new. */
function byPrefix<K>(cidrs: Map<number, Map<K, Rule[]>>, bits: number): Map<K, Rule[]> {
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

function firstForPort(rules: readonly Rule[], port: number): Rule | null {
  for (const r of rules) if (r.port === null || r.port === port) return r;
  return null;
}

function firstCidrForPort(rules: readonly Rule[], port: number, explicitOnly: boolean): Rule | null {
  for (const r of rules) if ((r.port === null || r.port === port) && (r.explicit || !explicitOnly)) return r;
  return null;
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

/** What the decision asks of a list: a compiled RuleSet, or several of them (runtime rules). */
export interface RuleLookup {
  readonly empty: boolean;
  /** The list has a `*` entry. */
  readonly hasAny: boolean;
  match(t: Target, opts?: { explicitOnly?: boolean }): Rule | null;
  matchIp(kind: "ipv4" | "ipv6", host: string, port: number, explicitOnly?: boolean): Rule | null;
  matchDenied(t: Target): Rule | null;
  matchIpOrEmbedded(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null;
}

/** Lists consulted in order, the first rule found winning: the config's, then the runtime's. */
export class RuleUnion implements RuleLookup {
  constructor(readonly sets: readonly RuleLookup[]) {}
  get empty(): boolean {
    return this.sets.every((s) => s.empty);
  }
  get hasAny(): boolean {
    return this.sets.some((s) => s.hasAny);
  }
  match(t: Target, opts?: { explicitOnly?: boolean }): Rule | null {
    for (const s of this.sets) {
      const r = s.match(t, opts);
      if (r) return r;
    }
    return null;
  }
  matchIp(kind: "ipv4" | "ipv6", host: string, port: number, explicitOnly?: boolean): Rule | null {
    for (const s of this.sets) {
      const r = s.matchIp(kind, host, port, explicitOnly);
      if (r) return r;
    }
    return null;
  }
  matchDenied(t: Target): Rule | null {
    for (const s of this.sets) {
      const r = s.matchDenied(t);
      if (r) return r;
    }
    return null;
  }
  matchIpOrEmbedded(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null {
    for (const s of this.sets) {
      const r = s.matchIpOrEmbedded(kind, host, port);
      if (r) return r;
    }
    return null;
  }
}

/** `p` with more entries in its lists (runtime rules, a one-off approval); p itself when there are none. */
export function withExtra(p: CompiledPolicy, extra: CompiledPolicy | null): CompiledPolicy {
  if (!extra || (extra.allow.empty && extra.deny.empty)) return p;
  return { ...p, allow: new RuleUnion([p.allow, extra.allow]), deny: new RuleUnion([p.deny, extra.deny]) };
}

export interface CompiledPolicy {
  readonly allow: RuleLookup;
  readonly deny: RuleLookup;
  readonly allowLocalBinding: boolean;
  /** The lists as configured, for GET /patterns. */
  readonly allowedRaw: readonly string[];
  readonly deniedRaw: readonly string[];
  readonly unixSockets: readonly string[];
}

/**
 * Compile both lists; every bad entry is reported, not just the first. `problems` are errors
 * (the configuration must be refused); `warnings` are entries that are accepted but dangerously
 * broad (severity "warning", keyed by entry like the errors): the loader should log them.
 */
/** What compiling reads from the policy table (not the ask settings, which the gate reads). */
export type PolicyLists = Pick<PolicyConfig, "allowed_domains" | "denied_domains" | "allow_unix_sockets" | "allow_local_binding">;

/** A policy compiled from lists: its lists are RuleSets (a CompiledPolicy may also union several). */
export type CompiledRules = CompiledPolicy & { readonly allow: RuleSet; readonly deny: RuleSet };

export interface CompileResult {
  readonly policy: CompiledRules;
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

export function compilePolicy(cfg: PolicyLists): CompileResult {
  return runSteps(compilePolicySteps(cfg));
}

export { broadAllowWarning } from "./broad.ts";

/** What compiling one list builds up, batch after batch. */
interface ListOut {
  readonly set: RuleSet;
  /**
   * Entries reported so far (a problem or a warning), trimmed and lowercased: a repeated entry is
   * reported once. (A repeated valid entry is compiled again; the index keeps the first rule.)
   */
  readonly reported: Set<string>;
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

/** Compile entries[from, to) of the list into `out`. */
function compileEntries(out: ListOut, entries: readonly string[], from: number, to: number): void {
  const list = out.set.list;
  for (let i = from; i < to; i++) {
    const raw = entries[i]!;
    const trimmed = raw.trim();
    let parsed: ParsedPattern;
    try {
      parsed = parseTrimmed(raw, list, trimmed);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      if (firstReport(out, trimmed))
        out.problems.push({ severity: "error", key: `network_proxy.policy.${list}[${i}]`, message: `${JSON.stringify(raw)}: ${e.message}` });
      continue;
    }
    out.set.add(parsed);
    const broad = list === "allowed_domains" ? broadAllowWarning(parsed) : null;
    if (broad !== null && firstReport(out, trimmed))
      out.warnings.push({ severity: "warning", key: `network_proxy.policy.${list}[${i}]`, message: `${JSON.stringify(raw)}: ${broad}` });
  }
}

/** Whether the entry `trimmed` is reported for the first time (its spellings by case count as one). */
function firstReport(out: ListOut, trimmed: string): boolean {
  const key = trimmed.toLowerCase();
  if (out.reported.has(key)) return false;
  out.reported.add(key);
  return true;
}

/** Entries compiled between two pauses of compilePolicySteps. */
const STEP_ENTRIES = 250;

/**
 * compilePolicy as steps: it pauses (yields) after every STEP_ENTRIES entries, so that a caller
 * can let other work run between them (a reload of a long list while requests are forwarded);
 * the result is the same however the steps are run.
 */
export function* compilePolicySteps(cfg: PolicyLists): Generator<void, CompileResult, void> {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  function* build(list: ListName, entries: readonly string[]): Generator<void, RuleSet, void> {
    const out: ListOut = { set: new RuleSet(list), reported: new Set(), problems, warnings };
    out.set.names.reserve(entries.length);
    // The entries are compiled by a plain function, a batch per step: the engine optimizes
    // that loop better than one inside the generator.
    for (let from = 0; from < entries.length; from += STEP_ENTRIES) {
      if (from > 0) yield;
      compileEntries(out, entries, from, Math.min(entries.length, from + STEP_ENTRIES));
    }
    return out.set;
  }
  const allow = yield* build("allowed_domains", cfg.allowed_domains);
  const deny = yield* build("denied_domains", cfg.denied_domains);
  const policy: CompiledRules = Object.freeze({
    allow,
    deny,
    allowLocalBinding: cfg.allow_local_binding,
    allowedRaw: cfg.allowed_domains,
    deniedRaw: cfg.denied_domains,
    unixSockets: cfg.allow_unix_sockets,
  });
  return { policy, problems, warnings };
}
