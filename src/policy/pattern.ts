/**
 * One allowlist or denylist entry, parsed and canonicalized (pure). The pattern language:
 *
 *   example.com        exactly that name
 *   *.example.com      subdomains at any depth, not the apex
 *   **.example.com     the apex and its subdomains
 *   region*.example.com  `*` inside a label matches within that one label only
 *   *                  everything (allowlist only; never unlocks local/private targets)
 *   host:port, [v6]:port   the rule applies to that port only
 *   10.0.0.1, ::1, [::1], 10.0.0.0/8, fd00::/8   IP literals and CIDR blocks
 *   10.*, 169.254.*, 192.168.1.*, 10.**   old-style IPv4 globs: read as the CIDR block they mean
 *                      (10.0.0.0/8, ...); any other wildcard in an IPv4 address is a config error
 */
import { ipaddrJs } from "./ipaddr.ts";
import { formatIpv6, isCanonicalDottedQuad, parseIpv6Groups } from "./ip-text.ts";
import { cidrInsideSpecialBlock, hostBitsSet, intToIpv4, ipv4ToInt, maskParts, v6CidrInsideSpecialBlock, v6InBlock } from "./ip.ts";
import { canonicalHost, parsePort, plainName, TargetError } from "./target.ts";

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
  /**
   * `suffix`: the fixed (glob-free) trailing labels, canonical; `labels`: for a pattern with an
   * in-label glob, the labels left of that suffix, left to right (a LabelGlob for each with `*`;
   * the last one always is), else none.
   */
  | { kind: "name"; suffix: string; lead: Lead; labels: ReadonlyArray<string | LabelGlob>; rule: Rule };

export class PatternError extends Error {}

/** Whether `s` has one of "?", "{", "}" and "\\" (a scan: no regular expression at start-up). */
function hasUnsupported(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3f || c === 0x7b || c === 0x7d || c === 0x5c) return true;
  }
  return false;
}

/** Parse and canonicalize one pattern. Throws PatternError with a message naming the problem. */
export function parsePattern(raw: string, list: ListName): ParsedPattern {
  return parseTrimmed(raw, list, raw.trim());
}

/**
 * parsePattern for a caller that has `s = raw.trim()` already (compiling a list). (No default
 * parameter: JSC runs a function with one markedly slower.)
 */
export function parseTrimmed(raw: string, list: ListName, s: string): ParsedPattern {
  // The usual entry, a canonical name alone or under `*.` / `**.`: every check of the general
  // path would pass it through to canonical(), which would hand plainName's answer back
  // (compile.fuzz.test.ts holds the two paths equal).
  const c0 = s.charCodeAt(0);
  const lead: Lead = c0 !== 0x2a ? "none" : s.startsWith("**.") ? "zero_or_more" : s.startsWith("*.") ? "one_or_more" : "none";
  const plain = lead === "none" ? (c0 === 0x2a ? null : plainName(s)) : plainName(s.slice(lead === "zero_or_more" ? 3 : 2));
  if (plain !== null) {
    const form: RuleForm = lead === "none" ? "name" : lead === "one_or_more" ? "subdomains" : "apex_and_subdomains";
    return { kind: "name", suffix: plain, lead, labels: NO_LABELS, rule: newRule(list, raw, form, null, lead === "none") };
  }
  // An IPv4 address in canonical form: parseGeneral would find no port, no glob and no CIDR in
  // it, and canonicalHost would hand it back as it is.
  if (lead === "none" && c0 >= 0x30 && c0 <= 0x39 && isCanonicalDottedQuad(s)) return { kind: "ip", host: s, rule: newRule(list, raw, "ip", null, true) };
  return globName(raw, list, s, lead) ?? parseGeneral(raw, list, s);
}

/**
 * The usual label-glob entry, `region*.example.com` or `*.api-*.example.com`: lowercase ASCII
 * letters, digits, "-", "_", "*" and dots only, no port, every label 1 to 63 characters, and
 * what follows the label of the last `*` (the fixed suffix) a canonical name. parseGeneral would
 * split it the same way and hand the same labels back; anything else (null here) goes there.
 * (compile.fuzz.test.ts holds the two equal.)
 */
function globName(raw: string, list: ListName, s: string, lead: Lead): ParsedPattern | null {
  const from = lead === "none" ? 0 : lead === "one_or_more" ? 2 : 3;
  const n = s.length;
  let lastStar = -1;
  // A character other than a digit, "*" or ".": without one, the entry may be an IPv4 glob.
  let named = false;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2a) lastStar = i;
    else if ((c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f) named = true;
    else if (!(c === 0x2e || (c >= 0x30 && c <= 0x39))) return null;
  }
  if (lastStar < 0 || !named) return null;
  const dot = s.indexOf(".", lastStar);
  const suffix = dot < 0 ? "" : s.slice(dot + 1);
  if (dot >= 0 && plainName(suffix) !== suffix) return null;
  const end = dot < 0 ? n : dot;
  const labels: Array<string | LabelGlob> = [];
  let start = from;
  for (let i = from; i <= end; i++) {
    if (i < end && s.charCodeAt(i) !== 0x2e) continue;
    if (i === start || i - start > 63) return null;
    const pieces = starPieces(s, start, i);
    labels.push(pieces === null ? s.slice(start, i) : { pieces });
    start = i + 1;
  }
  return { kind: "name", suffix, lead, labels, rule: newRule(list, raw, "glob", null, false) };
}

/** No label left of the fixed suffix: a name pattern without an in-label glob. */
const NO_LABELS: ReadonlyArray<string | LabelGlob> = [];

/**
 * parseTrimmed without its fast paths (plain names, canonical IPv4 literals, label globs): the
 * reference they must agree with.
 */
export function parseGeneral(raw: string, list: ListName, s: string): ParsedPattern {
  if (s === "") throw new PatternError("empty pattern");
  // One scan for the common case (none of them); the message names the first in this order.
  if (hasUnsupported(s))
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

  if (host === "*") {
    if (list === "denied_domains") {
      throw new PatternError(
        'the global wildcard "*" is not supported in denied_domains (it would block everything); use exact hosts or scoped wildcards like *.example.com or **.example.com',
      );
    }
    return { kind: "any", rule: newRule(list, raw, "any", port, false) };
  }
  const bracketed = host.startsWith("[") && host.endsWith("]");
  if (!bracketed && (host.includes("[") || host.includes("]"))) throw new PatternError("brackets are only for IPv6 literals, e.g. [::1] or [::1]:8080");

  const v4glob = ipv4Glob(host);
  if (v4glob)
    return {
      kind: "cidr",
      family: "ipv4",
      host: v4glob.host,
      bits: v4glob.bits,
      rule: newRule(list, raw, "cidr", port, cidrInsideSpecialBlock("ipv4", v4glob.host, v4glob.bits)),
    };

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
      return { kind: "ip", host: h.host, rule: newRule(list, raw, "ip", port, true) };
    }
    const form: RuleForm = lead === "none" ? "name" : lead === "one_or_more" ? "subdomains" : "apex_and_subdomains";
    return { kind: "name", suffix: h.host, lead, labels: NO_LABELS, rule: newRule(list, raw, form, port, lead === "none") };
  }

  // Label globs: keep the wildcard labels as globs, canonicalize the fixed suffix.
  const labels = (rest.endsWith(".") ? rest.slice(0, -1) : rest).split(".");
  if (labels.includes("")) throw new PatternError("empty label in pattern");
  let fixedFrom = labels.length;
  while (fixedFrom > 0 && !labels[fixedFrom - 1]!.includes("*")) fixedFrom--;
  const fixed = fixedFrom < labels.length ? labels.slice(fixedFrom).join(".") : null;
  const suffix = fixed === null ? null : canonical(fixed);
  if (suffix && suffix.kind !== "domain") throw new PatternError("wildcards do not apply to IP addresses; use a CIDR block such as 10.0.0.0/8");
  const compiled: Array<string | LabelGlob> = [];
  for (let k = 0; k < fixedFrom; k++) compiled.push(globOrLabel(labels[k]!));
  return { kind: "name", suffix: suffix?.host ?? "", lead, labels: compiled, rule: newRule(list, raw, "glob", port, false) };
}

function newRule(list: ListName, raw: string, form: RuleForm, port: number | null, explicit: boolean): Rule {
  return Object.freeze({ list, raw, form, port, explicit });
}

/** A label left of the fixed suffix: a LabelGlob when it has a `*`, else a fixed label. */
function globOrLabel(l: string): string | LabelGlob {
  const lower = l.toLowerCase();
  if (!lower.includes("*")) return oneLabel(l);
  // Letters, digits, "-", "_" and "*" only (checked on the lowercase text, as a RegExp would).
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a)) {
      throw new PatternError(
        `label ${JSON.stringify(l)} may contain only letters, digits, "-", "_" and "*" (write Unicode names without wildcards, or in punycode)`,
      );
    }
  }
  if (lower.length > 63) throw new PatternError(`label ${JSON.stringify(l)} is longer than 63 characters`);
  return { pieces: starPieces(lower, 0, lower.length)! };
}

/**
 * `s.slice(from, to).split(/\*+/)`: the pieces between runs of stars, "" before a leading or
 * after a trailing one, each sliced from `s` itself (the label is never cut out whole); null
 * when the label has no star.
 */
function starPieces(s: string, from: number, to: number): string[] | null {
  let pieces: string[] | null = null;
  let start = from;
  for (let i = from; i < to; ) {
    if (s.charCodeAt(i) !== 0x2a) {
      i++;
      continue;
    }
    pieces ??= [];
    pieces.push(s.slice(start, i));
    while (i < to && s.charCodeAt(i) === 0x2a) i++;
    start = i;
  }
  if (pieces === null) return null;
  pieces.push(s.slice(start, to));
  return pieces;
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
  if (!addr.includes(":")) {
    const canonical = isCanonicalDottedQuad(addr);
    if (!canonical && !ipaddrJs().IPv4.isValidFourPartDecimal(addr)) throw new PatternError(`${JSON.stringify(addr)} is not a dotted-quad IPv4 address`);
    if (bits > 32) throw new PatternError(`prefix length ${bits} is more than 32`);
    const host = canonical ? addr : ipaddrJs().IPv4.parse(addr).toString();
    const n = ipv4ToInt(host);
    const net = bits === 0 ? 0 : ((n >>> (32 - bits)) << (32 - bits)) >>> 0;
    if (net !== n) throw new PatternError(`${s} has host bits set; did you mean ${intToIpv4(net)}/${bits}?`);
    return { kind: "cidr", family: "ipv4", host, bits, rule: newRule(list, raw, "cidr", null, cidrInsideSpecialBlock("ipv4", host, bits)) };
  }
  if (addr.includes("%")) throw new PatternError("IPv6 zone ids are not supported");
  // Parsed once: the network is masked from the parts and compared part by part (a canonical
  // text is a function of the parts), and the parts go along to the index.
  let parts: readonly number[];
  try {
    parts = parseIpv6Groups(addr) ?? ipaddrJs().IPv6.parse(addr).parts;
  } catch {
    throw new PatternError(`${JSON.stringify(addr)} is not a valid IPv6 address`);
  }
  if (bits > 128) throw new PatternError(`prefix length ${bits} is more than 128`);
  if (hostBitsSet(parts, bits)) throw new PatternError(`${s} has host bits set; did you mean ${formatIpv6(maskParts(parts, bits))}/${bits}?`);
  if (v6InBlock(parts, MAPPED, 96)) {
    throw new PatternError(`${s} covers IPv4-mapped addresses, which are judged as IPv4; write the IPv4 block instead (e.g. 10.0.0.0/8)`);
  }
  if (bits < 96 && v6InBlock(MAPPED, parts, bits)) {
    throw new PatternError(
      `${s} covers IPv4-mapped addresses, which are judged as IPv4; write IPv4 blocks for those, and 2000::/3 for every public IPv6 address`,
    );
  }
  const host = formatIpv6(parts);
  const v6rule = newRule(list, raw, "cidr", null, v6CidrInsideSpecialBlock(parts, bits));
  return { kind: "cidr", family: "ipv6", host, bits, rule: v6rule, parts };
}

/** ::ffff:0:0, the start of the IPv4-mapped block (/96). */
const MAPPED: readonly number[] = [0, 0, 0, 0, 0, 0xffff, 0, 0];
