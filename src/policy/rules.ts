/**
 * `allowed_domains` / `denied_domains` compiled once into indexes whose lookup cost does not grow
 * with the number of patterns:
 *
 * - name patterns are bucketed by their fixed (wildcard-free) suffix, and a lookup walks the
 *   target's suffixes (one hash probe per label);
 * - IP literals are one hash probe;
 * - CIDRs are grouped by prefix length, one hash probe per distinct length.
 *
 * Pattern language (codex V1.x semantics, label-aware):
 *   example.com        exactly that name
 *   *.example.com      subdomains at any depth, not the apex
 *   **.example.com     the apex and its subdomains
 *   region*.example.com  `*` inside a label matches within that one label only
 *   *                  everything (allowlist only; never unlocks local/private targets)
 *   host:port, [v6]:port   the rule applies to that port only
 *   10.0.0.1, ::1, [::1], 10.0.0.0/8, fd00::/8   IP literals and CIDR blocks
 */
import ipaddr from "ipaddr.js";
import type { PolicyConfig, Problem } from "../config/schema.ts";
import { embeddedIpv4, ipv4ToInt, v6InBlock } from "./ip.ts";
import { canonicalHost, parsePort, TargetError, type Target } from "./target.ts";

export type ListName = "allowed_domains" | "denied_domains";
export type RuleForm = "any" | "name" | "subdomains" | "apex_and_subdomains" | "glob" | "ip" | "cidr";

export interface Rule {
  readonly list: ListName;
  /** The entry as written in the config. */
  readonly raw: string;
  readonly form: RuleForm;
  /** Only this port, or any port. */
  readonly port: number | null;
  /** An exact name, IP literal or CIDR: may unlock a local/private target when allowlisted. */
  readonly explicit: boolean;
}

type Lead = "none" | "one_or_more" | "zero_or_more";

/** A label with `*` in it, split at the stars: `re*gi*on` is ["re", "gi", "on"]. */
export interface LabelGlob {
  readonly pieces: readonly string[];
}

interface NameRule {
  readonly rule: Rule;
  readonly lead: Lead;
  /** Labels after the lead, left to right; a LabelGlob for labels containing `*`. */
  readonly labels: ReadonlyArray<string | LabelGlob>;
}

/**
 * Does `label` match a glob whose only wildcard is `*` (any run of characters)? Greedy and
 * linear: the first piece must be a prefix, the last a suffix, and the middle pieces are found
 * left to right; for `*`-only globs the leftmost placement is never worse. (A RegExp of
 * `[^.]*` runs backtracks exponentially in the number of stars, and the label is the client's.)
 */
export function globMatches(g: LabelGlob, label: string): boolean {
  const p = g.pieces;
  const first = p[0]!;
  const last = p[p.length - 1]!;
  if (label.length < first.length + last.length || !label.startsWith(first) || !label.endsWith(last)) return false;
  let at = first.length;
  const end = label.length - last.length;
  for (let i = 1; i < p.length - 1; i++) {
    const piece = p[i]!;
    if (piece === "") continue;
    const found = label.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

interface CidrRule {
  readonly rule: Rule;
  readonly bits: number;
}

export class RuleSet {
  readonly any: Rule[] = [];
  /** Fixed suffix ("" when the last label is a glob) -> rules. */
  readonly names = new Map<string, NameRule[]>();
  readonly ips = new Map<string, Rule[]>();
  /** prefix length -> masked network (uint32) -> rules */
  readonly v4cidrs = new Map<number, Map<number, CidrRule[]>>();
  /** prefix length -> masked network (hex key) -> rules */
  readonly v6cidrs = new Map<number, Map<string, CidrRule[]>>();
  size = 0;

  constructor(readonly list: ListName) {}

  get empty(): boolean {
    return this.size === 0;
  }

  /** First rule matching the target (name or IP) on its port, or null. */
  match(t: Target, opts: { explicitOnly?: boolean } = {}): Rule | null {
    const explicitOnly = opts.explicitOnly === true;
    if (!explicitOnly) {
      const r = firstForPort(this.any, t.port);
      if (r) return r;
    }
    return t.kind === "domain" ? this.matchName(t.host, t.port, explicitOnly) : this.matchIp(t.kind, t.host, t.port);
  }

  /**
   * For the denylist: like matchIp, and an IPv6 address also matches the IPv4 rules of the
   * address it embeds (NAT64, 6to4, Teredo, IPv4-compatible). Deny wins, whatever the spelling.
   * (The allowlist does not do this: reaching an address through a translator is not the same
   * grant as reaching it.)
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
    if (this.names.size === 0) return null;
    let labels: string[] | null = null;
    // Probe the whole name, then each suffix after a dot, then "" (patterns ending in a glob).
    let from = 0;
    for (;;) {
      const key = from === 0 ? name : from > name.length ? "" : name.slice(from);
      const bucket = this.names.get(key);
      if (bucket) {
        labels ??= name.split(".");
        for (const nr of bucket) {
          if (explicitOnly && !nr.rule.explicit) continue;
          if (nr.rule.port !== null && nr.rule.port !== port) continue;
          if (nameMatches(nr, labels)) return nr.rule;
        }
      }
      if (from > name.length) return null;
      const dot = name.indexOf(".", from);
      from = dot < 0 ? name.length + 1 : dot + 1;
    }
  }

  matchIp(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null {
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
          const r = firstCidrForPort(hit, port);
          if (r) return r;
        }
      }
      return null;
    }
    if (this.v6cidrs.size === 0) return null;
    const parts = ipaddr.IPv6.parse(host).parts;
    for (const [bits, byNet] of this.v6cidrs) {
      const hit = byNet.get(maskV6Key(parts, bits));
      if (hit) {
        const r = firstCidrForPort(hit, port);
        if (r) return r;
      }
    }
    return null;
  }

  add(p: ParsedPattern): void {
    this.size++;
    switch (p.kind) {
      case "any":
        this.any.push(p.rule);
        return;
      case "ip":
        push(this.ips, p.host, p.rule);
        return;
      case "cidr":
        if (p.family === "ipv4") {
          const byNet = this.v4cidrs.get(p.bits) ?? new Map<number, CidrRule[]>();
          this.v4cidrs.set(p.bits, byNet);
          push(byNet, maskV4(ipv4ToInt(p.host), p.bits), { rule: p.rule, bits: p.bits });
        } else {
          const byNet = this.v6cidrs.get(p.bits) ?? new Map<string, CidrRule[]>();
          this.v6cidrs.set(p.bits, byNet);
          push(byNet, maskV6Key(ipaddr.IPv6.parse(p.host).parts, p.bits), { rule: p.rule, bits: p.bits });
        }
        return;
      case "name":
        push(this.names, p.suffix, { rule: p.rule, lead: p.lead, labels: p.labels });
        return;
    }
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function firstForPort(rules: readonly Rule[], port: number): Rule | null {
  for (const r of rules) if (r.port === null || r.port === port) return r;
  return null;
}

function firstCidrForPort(rules: readonly CidrRule[], port: number): Rule | null {
  for (const c of rules) if (c.rule.port === null || c.rule.port === port) return c.rule;
  return null;
}

function maskV4(n: number, bits: number): number {
  return bits === 0 ? 0 : (n >>> (32 - bits)) >>> 0;
}

function maskV6Key(parts: readonly number[], bits: number): string {
  let key = "";
  let left = bits;
  for (let i = 0; i < 8 && left > 0; i++, left -= 16) {
    const p = left >= 16 ? parts[i]! : parts[i]! >>> (16 - left);
    key += p.toString(16) + ":";
  }
  return key;
}

function nameMatches(nr: NameRule, target: readonly string[]): boolean {
  const m = nr.labels.length;
  const extra = target.length - m;
  if (extra < 0) return false;
  if (nr.lead === "none" ? extra !== 0 : nr.lead === "one_or_more" ? extra < 1 : false) return false;
  for (let i = 0; i < m; i++) {
    const p = nr.labels[i]!;
    const t = target[extra + i]!;
    if (typeof p === "string" ? p !== t : !globMatches(p, t)) return false;
  }
  return true;
}

export type ParsedPattern =
  | { kind: "any"; rule: Rule }
  | { kind: "ip"; host: string; rule: Rule }
  | { kind: "cidr"; family: "ipv4" | "ipv6"; host: string; bits: number; rule: Rule }
  | { kind: "name"; suffix: string; lead: Lead; labels: Array<string | LabelGlob>; rule: Rule };

export class PatternError extends Error {}

/** Parse and canonicalize one pattern. Throws PatternError with a message naming the problem. */
export function parsePattern(raw: string, list: ListName): ParsedPattern {
  const s = raw.trim();
  if (s === "") throw new PatternError("empty pattern");
  for (const ch of ["?", "{", "}", "\\"]) {
    if (s.includes(ch)) throw new PatternError(`${JSON.stringify(ch)} is not supported in patterns; use * within a label, *.name or **.name`);
  }

  if (s.includes("/")) return parseCidr(s, raw, list);

  let host = s;
  let port: number | null = null;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new PatternError("unterminated [ (brackets are only for IPv6 literals, e.g. [::1]:8080)");
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new PatternError(`unexpected ${JSON.stringify(rest)} after ${host}`);
      port = portOf(rest.slice(1));
    }
  } else {
    const colons = s.split(":").length - 1;
    if (colons === 1) {
      const i = s.indexOf(":");
      host = s.slice(0, i);
      port = portOf(s.slice(i + 1));
    } else if (colons > 1) {
      host = s; // a bare IPv6 literal; a port needs brackets
    }
  }

  const rule = (form: RuleForm, explicit: boolean): Rule => Object.freeze({ list, raw, form, port, explicit });

  if (host === "*") {
    if (list === "denied_domains") {
      throw new PatternError(
        'the global wildcard "*" is not supported in denied_domains (it would block everything); use exact hosts or scoped wildcards like *.example.com or **.example.com',
      );
    }
    return { kind: "any", rule: rule("any", false) };
  }
  const bracketed = host.startsWith("[") && host.endsWith("]");
  if (!bracketed && (host.includes("[") || host.includes("]"))) throw new PatternError("brackets are only for IPv6 literals, e.g. [::1] or [::1]:8080");

  let lead: Lead = "none";
  let rest = host;
  if (rest.startsWith("**.")) {
    lead = "zero_or_more";
    rest = rest.slice(3);
  } else if (rest.startsWith("*.")) {
    lead = "one_or_more";
    rest = rest.slice(2);
  }

  if (!rest.includes("*")) {
    const h = canonical(rest);
    if (h.kind !== "domain") {
      if (lead !== "none") throw new PatternError("wildcards do not apply to IP addresses; use a CIDR block such as 10.0.0.0/8");
      return { kind: "ip", host: h.host, rule: rule("ip", true) };
    }
    const form: RuleForm = lead === "none" ? "name" : lead === "one_or_more" ? "subdomains" : "apex_and_subdomains";
    return { kind: "name", suffix: h.host, lead, labels: h.host.split("."), rule: rule(form, lead === "none") };
  }

  // Label globs: keep the wildcard labels as globs, canonicalize the fixed suffix.
  const labels = (rest.endsWith(".") ? rest.slice(0, -1) : rest).split(".");
  if (labels.some((l) => l === "")) throw new PatternError("empty label in pattern");
  let fixedFrom = labels.length;
  while (fixedFrom > 0 && !labels[fixedFrom - 1]!.includes("*")) fixedFrom--;
  const suffix = fixedFrom < labels.length ? canonical(labels.slice(fixedFrom).join(".")) : null;
  if (suffix && suffix.kind !== "domain") throw new PatternError("wildcards do not apply to IP addresses; use a CIDR block such as 10.0.0.0/8");
  const compiled: Array<string | LabelGlob> = labels.slice(0, fixedFrom).map((l) => {
    const lower = l.toLowerCase();
    if (lower.includes("*")) {
      if (!/^[a-z0-9_*-]+$/.test(lower)) {
        throw new PatternError(`label ${JSON.stringify(l)} may contain only letters, digits, "-", "_" and "*" (write Unicode names without wildcards, or in punycode)`);
      }
      if (lower.length > 63) throw new PatternError(`label ${JSON.stringify(l)} is longer than 63 characters`);
      return { pieces: lower.split(/\*+/) };
    }
    return oneLabel(l);
  });
  if (suffix) compiled.push(...suffix.host.split("."));
  return { kind: "name", suffix: suffix?.host ?? "", lead, labels: compiled, rule: rule("glob", false) };
}

/**
 * One label on its own (a fixed label between globs): canonicalized as a label, never as a host,
 * so "10" stays the label "10" instead of becoming the address 0.0.0.10.
 */
function oneLabel(l: string): string {
  const lower = l.toLowerCase();
  if (/^[a-z0-9_-]{1,63}$/.test(lower)) return lower;
  const h = canonical(`${l}.invalid`); // IDNA for Unicode labels; ".invalid" keeps it a name
  if (h.kind !== "domain" || h.host.split(".").length !== 2) throw new PatternError(`${JSON.stringify(l)} is not a valid label`);
  return h.host.split(".")[0]!;
}

function portOf(s: string): number {
  try {
    return parsePort(s);
  } catch (e) {
    throw new PatternError((e as Error).message);
  }
}

function canonical(host: string): { kind: "domain" | "ipv4" | "ipv6"; host: string } {
  try {
    return canonicalHost(host, { bareIpv6: true });
  } catch (e) {
    if (e instanceof TargetError) throw new PatternError(e.message);
    throw e;
  }
}

function parseCidr(s: string, raw: string, list: ListName): ParsedPattern {
  const slash = s.indexOf("/");
  let addr = s.slice(0, slash);
  const bitsText = s.slice(slash + 1);
  if (addr.startsWith("[") && addr.endsWith("]")) addr = addr.slice(1, -1);
  if (!/^\d{1,3}$/.test(bitsText)) throw new PatternError(`invalid prefix length ${JSON.stringify(bitsText)} (ports cannot be combined with CIDR blocks)`);
  const bits = Number(bitsText);
  const rule: Rule = Object.freeze({ list, raw, form: "cidr" as const, port: null, explicit: true });
  if (!addr.includes(":")) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new PatternError(`${JSON.stringify(addr)} is not a dotted-quad IPv4 address`);
    if (bits > 32) throw new PatternError(`prefix length ${bits} is more than 32`);
    const host = ipaddr.IPv4.parse(addr).toString();
    const n = ipv4ToInt(host);
    const net = bits === 0 ? 0 : ((n >>> (32 - bits)) << (32 - bits)) >>> 0;
    if (net !== n) throw new PatternError(`${s} has host bits set; did you mean ${intToDotted(net)}/${bits}?`);
    return { kind: "cidr", family: "ipv4", host, bits, rule };
  }
  if (addr.includes("%")) throw new PatternError("IPv6 zone ids are not supported");
  if (!ipaddr.IPv6.isValid(addr)) throw new PatternError(`${JSON.stringify(addr)} is not a valid IPv6 address`);
  if (bits > 128) throw new PatternError(`prefix length ${bits} is more than 128`);
  const a = ipaddr.IPv6.parse(addr);
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${bits}`);
  if (network.toString() !== a.toString()) throw new PatternError(`${s} has host bits set; did you mean ${network.toString()}/${bits}?`);
  const mapped = ipaddr.parseCIDR("::ffff:0:0/96") as [ipaddr.IPv6, number];
  if (v6InBlock(a.parts, mapped[0].parts, 96) || (bits < 96 && v6InBlock(mapped[0].parts, a.parts, bits))) {
    throw new PatternError(`${s} covers IPv4-mapped addresses, which are judged as IPv4; write the IPv4 block instead (e.g. 10.0.0.0/8)`);
  }
  return { kind: "cidr", family: "ipv6", host: a.toString(), bits, rule };
}

function intToDotted(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface CompiledPolicy {
  readonly allow: RuleSet;
  readonly deny: RuleSet;
  readonly allowLocalBinding: boolean;
  /** The lists as configured, for GET /patterns. */
  readonly allowedRaw: readonly string[];
  readonly deniedRaw: readonly string[];
  readonly unixSockets: readonly string[];
}

/** Compile both lists; every bad entry is reported, not just the first. */
export function compilePolicy(cfg: PolicyConfig): { policy: CompiledPolicy; problems: Problem[] } {
  const problems: Problem[] = [];
  const build = (list: ListName, entries: readonly string[]) => {
    const set = new RuleSet(list);
    const seen = new Set<string>();
    entries.forEach((raw, i) => {
      const key = raw.trim().toLowerCase();
      if (seen.has(key)) return;
      seen.add(key);
      try {
        set.add(parsePattern(raw, list));
      } catch (e) {
        if (!(e instanceof PatternError)) throw e;
        problems.push({ severity: "error", key: `network_proxy.policy.${list}[${i}]`, message: `${JSON.stringify(raw)}: ${e.message}` });
      }
    });
    return set;
  };
  const policy: CompiledPolicy = Object.freeze({
    allow: build("allowed_domains", cfg.allowed_domains),
    deny: build("denied_domains", cfg.denied_domains),
    allowLocalBinding: cfg.allow_local_binding,
    allowedRaw: cfg.allowed_domains,
    deniedRaw: cfg.denied_domains,
    unixSockets: cfg.allow_unix_sockets,
  });
  return { policy, problems };
}
