/**
 * Reference for the pattern parser and the broad-entry warning: the implementation as it was
 * before its fast paths (one closure per rule, regular expressions for label globs, split for
 * the fixed suffix), kept verbatim so that the fuzz tests can check the fast one against it.
 */
import ipaddr from "ipaddr.js";
import { formatIpv6, isCanonicalDottedQuad, parseIpv6Groups } from "../../../src/policy/ip-text.ts";
import { cidrInsideSpecialBlock, intToIpv4, ipv4ToInt, v6CidrInsideSpecialBlock, v6InBlock } from "../../../src/policy/ip.ts";
import { canonicalHost, parsePort, TargetError } from "../../../src/policy/target.ts";

export type ListName = "allowed_domains" | "denied_domains";
export type RuleForm = "any" | "name" | "subdomains" | "apex_and_subdomains" | "glob" | "ip" | "cidr";

export interface Rule {
  readonly list: ListName;
  /** The entry as written in the config. */
  readonly raw: string;
  readonly form: RuleForm;
  /** Only this port, or any port. */
  readonly port: number | null;
  /**
   * May unlock a local/private target when allowlisted: an exact name, an IP literal, or a CIDR
   * block that lies inside one special-purpose block (see cidrInsideSpecialBlock).
   */
  readonly explicit: boolean;
}

/** A label with `*` in it, split at the stars: `re*gi*on` is ["re", "gi", "on"]. */
export interface LabelGlob {
  readonly pieces: readonly string[];
}

export type Lead = "none" | "one_or_more" | "zero_or_more";

export type ParsedPattern =
  | { kind: "any"; rule: Rule }
  | { kind: "ip"; host: string; rule: Rule }
  | { kind: "cidr"; family: "ipv4" | "ipv6"; host: string; bits: number; rule: Rule; parts?: readonly number[] }
  | { kind: "name"; suffix: string; lead: Lead; labels: Array<string | LabelGlob>; rule: Rule };

export class PatternError extends Error {}

const UNSUPPORTED = /[?{}\\]/;

/** Parse and canonicalize one pattern. Throws PatternError with a message naming the problem. */
export function parsePattern(raw: string, list: ListName): ParsedPattern {
  const s = raw.trim();
  if (s === "") throw new PatternError("empty pattern");
  // One scan for the common case (none of them); the message names the first in this order.
  if (UNSUPPORTED.test(s))
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
    const i = s.indexOf(":");
    const colons = i < 0 ? 0 : s.indexOf(":", i + 1) < 0 ? 1 : 2;
    if (colons === 1) {
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

  const v4glob = ipv4Glob(host);
  if (v4glob)
    return { kind: "cidr", family: "ipv4", host: v4glob.host, bits: v4glob.bits, rule: rule("cidr", cidrInsideSpecialBlock("ipv4", v4glob.host, v4glob.bits)) };

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
    return { kind: "name", suffix: h.host, lead, labels: [], rule: rule(form, lead === "none") };
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
        throw new PatternError(
          `label ${JSON.stringify(l)} may contain only letters, digits, "-", "_" and "*" (write Unicode names without wildcards, or in punycode)`,
        );
      }
      if (lower.length > 63) throw new PatternError(`label ${JSON.stringify(l)} is longer than 63 characters`);
      return { pieces: lower.split(/\*+/) };
    }
    return oneLabel(l);
  });
  return { kind: "name", suffix: suffix?.host ?? "", lead, labels: compiled, rule: rule("glob", false) };
}

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Old-style IPv4 globs. The original matched patterns as text globs against the host the client
 * sent, so configs written for it say `169.254.*` or `10.*` (in denied_domains above all) to
 * mean an address block. Here IP targets are never matched against names, so such an entry
 * read as a name glob would silently match nothing: a fail-open denylist.
 *
 * A pattern is IPv4-looking when it has at least two labels, every label is made of digits and
 * `*` only, at least one label is a number (all digits) and at least one has a `*`. (`*.*1` is
 * not: it is a name glob, for names whose last label ends in 1.) It is accepted when its
 * labels are 1-3 decimal octets (0-255, no leading zeros) followed by whole `*` (or `**`)
 * labels, at most four labels in all: it then is the CIDR block of those octets (`10.*` and
 * `10.*.*.*` are 10.0.0.0/8, `169.254.*` is 169.254.0.0/16, `192.168.1.*` is 192.168.1.0/24),
 * and matches IP literal targets and resolved addresses exactly as that CIDR entry would (also
 * explicit: in the allowlist it unlocks local addresses in the block; in the denylist it also
 * catches the IPv4 embedded in NAT64/6to4/Teredo/compatible addresses). Every other
 * IPv4-looking glob (`10.*.1.1`, `1*.0.0.1`, `*.10.0.0.1`, `010.*`) is a config error: no CIDR
 * block means what it says.
 *
 * Decision: such an entry does NOT also match names. Read as a name glob, `10.*` would match
 * `10.com` and `169.254.*` would match `169.254.example`: names made of numeric labels under
 * some top-level domain, which is not what anyone writing an address range meant (and in the
 * allowlist would grant public names nobody asked for). Returns null when `host` is not
 * IPv4-looking.
 */
function ipv4Glob(host: string): { host: string; bits: number } | null {
  if (!host.includes("*") || !digitsStarsDots(host)) return null;
  // Full-width digits and dots are what URL parsers read as ASCII ones: so do we, here.
  const ascii = /[^\p{ASCII}]/u.test(host) ? host.normalize("NFKC").replace(/[\u3002\uff0e\uff61]/g, ".") : host;
  const text = ascii.endsWith(".") ? ascii.slice(0, -1) : ascii;
  const labels = text.split(".");
  if (labels.length < 2 || !text.includes("*")) return null;
  if (!labels.every((l) => /^[0-9*]+$/.test(l)) || !labels.some((l) => /^[0-9]+$/.test(l))) return null;
  let k = 0;
  while (k < labels.length && OCTET.test(labels[k]!) && Number(labels[k]) <= 255) k++;
  const octets = labels.slice(0, k).map(Number);
  const wild = labels.slice(k);
  if (k >= 1 && k <= 3 && labels.length <= 4 && wild.every((l) => /^\*+$/.test(l))) {
    while (octets.length < 4) octets.push(0);
    return { host: octets.join("."), bits: 8 * k };
  }
  const suggestion = k >= 1 && k <= 3 ? `${[...octets, 0, 0, 0].slice(0, 4).join(".")}/${8 * k}` : "10.0.0.0/8";
  throw new PatternError(
    `wildcards do not apply to IP addresses, except as whole trailing labels after 1-3 decimal octets (10.*, 169.254.*, 192.168.1.* mean 10.0.0.0/8, 169.254.0.0/16, 192.168.1.0/24); write a CIDR block instead, such as ${suggestion}`,
  );
}

/**
 * False when `host` has an ASCII character other than a digit, "*" or ".": then some label of it
 * is not made of digits and stars, even after NFKC (which leaves ASCII alone), so it is not
 * IPv4-looking. True otherwise (non-ASCII: ipv4Glob normalizes and looks again).
 */
function digitsStarsDots(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x80 && !((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x2e)) return false;
  }
  return true;
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
  const rule = (family: "ipv4", host: string): Rule =>
    Object.freeze({ list, raw, form: "cidr" as const, port: null, explicit: cidrInsideSpecialBlock(family, host, bits) });
  if (!addr.includes(":")) {
    const canonical = isCanonicalDottedQuad(addr);
    if (!canonical && !ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new PatternError(`${JSON.stringify(addr)} is not a dotted-quad IPv4 address`);
    if (bits > 32) throw new PatternError(`prefix length ${bits} is more than 32`);
    const host = canonical ? addr : ipaddr.IPv4.parse(addr).toString();
    const n = ipv4ToInt(host);
    const net = bits === 0 ? 0 : ((n >>> (32 - bits)) << (32 - bits)) >>> 0;
    if (net !== n) throw new PatternError(`${s} has host bits set; did you mean ${intToIpv4(net)}/${bits}?`);
    return { kind: "cidr", family: "ipv4", host, bits, rule: rule("ipv4", host) };
  }
  if (addr.includes("%")) throw new PatternError("IPv6 zone ids are not supported");
  // Parsed once: the network is masked from the parts and compared part by part (a canonical
  // text is a function of the parts), and the parts go along to the index.
  let parts: readonly number[];
  try {
    parts = parseIpv6Groups(addr) ?? ipaddr.IPv6.parse(addr).parts;
  } catch {
    throw new PatternError(`${JSON.stringify(addr)} is not a valid IPv6 address`);
  }
  if (bits > 128) throw new PatternError(`prefix length ${bits} is more than 128`);
  const net = maskParts(parts, bits);
  if (net.some((x, i) => x !== parts[i])) throw new PatternError(`${s} has host bits set; did you mean ${formatIpv6(net)}/${bits}?`);
  if (v6InBlock(parts, MAPPED, 96)) {
    throw new PatternError(`${s} covers IPv4-mapped addresses, which are judged as IPv4; write the IPv4 block instead (e.g. 10.0.0.0/8)`);
  }
  if (bits < 96 && v6InBlock(MAPPED, parts, bits)) {
    throw new PatternError(
      `${s} covers IPv4-mapped addresses, which are judged as IPv4; write IPv4 blocks for those, and 2000::/3 for every public IPv6 address`,
    );
  }
  const host = formatIpv6(parts);
  const v6rule: Rule = Object.freeze({ list, raw, form: "cidr" as const, port: null, explicit: v6CidrInsideSpecialBlock(parts, bits) });
  return { kind: "cidr", family: "ipv6", host, bits, rule: v6rule, parts };
}

/** ::ffff:0:0, the start of the IPv4-mapped block (/96). */
const MAPPED: readonly number[] = [0, 0, 0, 0, 0, 0xffff, 0, 0];

/** The first `bits` bits of an IPv6 address (8 x 16-bit parts), the rest zero. */
function maskParts(parts: readonly number[], bits: number): number[] {
  return parts.map((x, i) => {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    return keep === 16 ? x : keep === 0 ? 0 : x & ((0xffff << (16 - keep)) & 0xffff);
  });
}

// ------------------------------------------------------------------ the broad-entry warning (rules.ts)

const PRIVATE_TLDS = new Set(["localhost", "test", "invalid", "example", "local", "internal", "onion", "alt"]);

/**
 * Second-level labels that, under a two-letter country code, make a public registry suffix
 * (co.uk, com.au, ac.jp, ...). A heuristic: the project ships no public suffix list, and a
 * false alarm only costs a warning.
 */
const REGISTRY_SLDS = new Set(["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "gouv", "ltd", "plc", "nic", "mil", "nom", "gen"]);

/**
 * Why an allowlist entry is dangerously broad, or null. `*` allows every public host; a
 * wildcard whose fixed (wildcard-free) trailing part is a single label, a top-level domain
 * (`*.com`, `**.com`, `*.*.com`, `a*.com`), or a public registry suffix (`*.co.uk`) matches
 * names that anyone can register; a wildcard in the last label (`example.*`) matches names
 * under every top-level domain.
 */
export function broadAllowWarning(p: ParsedPattern): string | null {
  const port = p.rule.port === null ? "" : ` on port ${p.rule.port}`;
  if (p.kind === "any") {
    return `allows every public host${port} (only local and private addresses stay blocked); list the domains the agent needs instead, e.g. **.example.com`;
  }
  if (p.kind === "cidr" && p.bits < (p.family === "ipv4" ? 8 : 32)) {
    return `allows every public address in a block wider than /${p.family === "ipv4" ? 8 : 32} (it does not unlock local and private addresses: only a block inside one private or special range does); list the addresses the agent needs instead`;
  }
  if (p.kind !== "name") return null;
  const wildcard = p.lead !== "none" || p.labels.some((l) => typeof l !== "string");
  if (!wildcard) return null;
  if (p.suffix === "") {
    return `its last label is a wildcard, so it matches names under every top-level domain${port} (including ones anyone can register); write the top-level domain out, e.g. ${exampleFix(p)}`;
  }
  const fixed = p.suffix.split(".");
  const pureLead = p.labels.length === 0; // `*.com` / `**.com`: no glob label
  if (fixed.length === 1 && !PRIVATE_TLDS.has(p.suffix)) {
    return pureLead
      ? `matches every name under the top-level domain .${p.suffix}${port}, names anyone can register; allow the domains you mean instead, e.g. **.example.${p.suffix}`
      : `has a wildcard directly under the top-level domain .${p.suffix}, so it matches names anyone can register${port}; allow the domains you mean instead, e.g. **.example.${p.suffix}`;
  }
  if (fixed.length === 2 && fixed[1]!.length === 2 && REGISTRY_SLDS.has(fixed[0]!)) {
    return `matches ${pureLead ? "every name" : "names"} under .${p.suffix}${port}, a public registry suffix where anyone can register names; allow the domains you mean instead, e.g. **.example.${p.suffix}`;
  }
  return null;
}
function exampleFix(p: ParsedPattern & { kind: "name" }): string {
  const shown = p.rule.raw.trim().replace(/:\d+$/, "").replace(/\.$/, "");
  const cut = shown.lastIndexOf(".");
  return cut < 0 ? "**.example.com" : `${shown.slice(0, cut)}.com`;
}

/**
 * The problems and warnings compiling `entries` reports, as the compile loop made them: entries
 * deduplicated by their trimmed lowercase text, the first one kept.
 */
export function refListMessages(list: ListName, entries: readonly string[]): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  entries.forEach((raw, i) => {
    const key = raw.trim().toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    let parsed: ParsedPattern;
    try {
      parsed = parsePattern(raw, list);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      problems.push(`network_proxy.policy.${list}[${i}]: ${JSON.stringify(raw)}: ${e.message}`);
      return;
    }
    const broad = list === "allowed_domains" ? broadAllowWarning(parsed) : null;
    if (broad !== null) warnings.push(`network_proxy.policy.${list}[${i}]: ${JSON.stringify(raw)}: ${broad}`);
  });
  return { problems, warnings };
}
