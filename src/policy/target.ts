/**
 * Target canonicalization: every entry point (absolute-form URL, Host header, CONNECT authority,
 * SOCKS5 DOMAINNAME/IPv4/IPv6, config patterns) turns what it received into one canonical
 * `Target` here, or into a typed error. Nothing downstream ever sees a raw spelling.
 *
 * Names go through the WHATWG URL host parser for `http:` (the parser browsers, curl-alikes and
 * Bun itself use), which applies IDNA/UTS-46 (Unicode to punycode, full-width forms, case) and
 * parses every inet_aton-style IPv4 spelling (`127.1`, `0x7f.1`, `0177.0.0.1`, `2130706433`,
 * `0`) into the dotted quad it means. A string the OS would dial as an IP is therefore always
 * judged as that IP, never as a name.
 */
import { canonicalIp, hexGroupsAddress } from "./ip.ts";
import { isCanonicalDottedQuad } from "./ip-text.ts";

export type TargetKind = "domain" | "ipv4" | "ipv6";

export interface Target {
  readonly kind: TargetKind;
  /** Lowercase punycode name without trailing dot, dotted-quad IPv4, or compressed IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

export type TargetErrorCode =
  | "empty_host"
  | "invalid_host_char"
  | "invalid_host"
  | "host_too_long"
  | "label_too_long"
  | "empty_label"
  | "bracketed_name"
  | "ipv6_needs_brackets"
  | "zone_id"
  | "invalid_port"
  | "missing_port"
  | "userinfo"
  | "bad_url";

export class TargetError extends Error {
  constructor(
    readonly code: TargetErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const MAX_NAME = 253;
const MAX_LABEL = 63;

/**
 * Characters never allowed in a raw host. Letters, digits, `.`, `-`, `_` and non-ASCII (for IDNA)
 * are the only things that reach the URL parser; `%` is allowed only where a URL was received
 * (absolute-form), because there the WHATWG parser's percent-decoding is what the client meant.
 */
function badHostChar(host: string, allowPercent: boolean, allowColon?: boolean): string | null {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 0x80) continue;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) continue;
    if (c === 0x2e || c === 0x2d || c === 0x5f) continue; // . - _
    if (c === 0x25 && allowPercent) continue;
    if (c === 0x3a && allowColon) continue;
    return host[i]!;
  }
  return null;
}

function describeChar(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c < 0x20 || c === 0x7f) return `control character 0x${c.toString(16).padStart(2, "0")}`;
  if (ch === " ") return "a space";
  return JSON.stringify(ch);
}

export interface HostOptions {
  /** The host came out of a URL (absolute-form): percent-encoding is decoded as WHATWG does. */
  readonly fromUrl?: boolean;
  /** Unbracketed IPv6 literals are acceptable (SOCKS5 DOMAINNAME, where no port follows). */
  readonly bareIpv6?: boolean;
}

/**
 * For the options not given. (Optional parameters rather than defaults: JSC runs a function
 * with a default parameter markedly slower, and these are on every request's path.)
 */
const NO_OPTIONS: HostOptions = Object.freeze({});

/** Canonicalize a host (no port). Throws TargetError. */
export function canonicalHost(raw: string, options?: HostOptions): { kind: TargetKind; host: string } {
  const opts = options ?? NO_OPTIONS;
  const plain = plainName(raw);
  if (plain !== null) return { kind: "domain", host: plain };
  // An IPv4 address already in canonical form (a proxy's most common literal target): the URL
  // parser would hand it back unchanged.
  if (isCanonicalDottedQuad(raw)) return { kind: "ipv4", host: raw };
  // An IPv6 literal in plain hex groups (no zone, no dotted tail): read and written here, as
  // the URL parser and ipaddr.js would, without either (about 3 µs of each request's decision).
  const bracketed = raw.charCodeAt(0) === 0x5b && raw.charCodeAt(raw.length - 1) === 0x5d;
  if (bracketed || (opts.bareIpv6 === true && raw.includes(":"))) {
    const v6 = hexGroupsAddress(bracketed ? raw.slice(1, -1) : raw);
    if (v6 !== null) return v6;
  }
  return canonicalHostByUrl(raw, opts);
}

/**
 * A host already in canonical form, which the URL host parser would hand back unchanged (and
 * every check below pass): labels of 1 to 63 lowercase ASCII letters, digits, "-" and "_", none
 * starting with "xn--" (IDNA validates those), at most one trailing dot, at most 253 characters
 * without it, and a last label that starts with a letter, so that no parser can read the name
 * as a number (IPv4). Returns the name without its trailing dot, or null for anything else,
 * which then goes the whole way through the URL parser. (target.fuzz.test.ts checks the two
 * agree.) The common case, and what most allowlist entries are, skips the URL parser.
 */
export function plainName(raw: string): string | null {
  let n = raw.length;
  if (n > 1 && raw.charCodeAt(n - 1) === 0x2e) n--;
  if (n === 0 || n > MAX_NAME) return null;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? raw.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const len = i - start;
      if (len === 0 || len > MAX_LABEL) return null;
      // xn--: a punycode label
      if (
        len >= 4 &&
        raw.charCodeAt(start) === 0x78 &&
        raw.charCodeAt(start + 1) === 0x6e &&
        raw.charCodeAt(start + 2) === 0x2d &&
        raw.charCodeAt(start + 3) === 0x2d
      )
        return null;
      if (i === n) {
        const f = raw.charCodeAt(start);
        if (f < 0x61 || f > 0x7a) return null;
      }
      start = i + 1;
    } else if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) {
      return null;
    }
  }
  return n === raw.length ? raw : raw.slice(0, n);
}

/** canonicalHost the whole way, through the URL host parser: the reference plainName must agree with. */
export function canonicalHostByUrl(raw: string, options?: HostOptions): { kind: TargetKind; host: string } {
  const opts = options ?? NO_OPTIONS;
  if (raw.length === 0) throw new TargetError("empty_host", "empty host");
  if (raw.length > 1024) throw new TargetError("host_too_long", "host is longer than 1024 characters");
  if (raw.startsWith("[")) {
    if (!raw.endsWith("]")) throw new TargetError("invalid_host", `unterminated IPv6 bracket in ${JSON.stringify(raw)}`);
    return ipv6Literal(raw.slice(1, -1), raw);
  }
  if (raw.includes(":") && raw.includes("%")) throw new TargetError("zone_id", `IPv6 zone ids are not supported (${JSON.stringify(raw)})`);
  const bad = badHostChar(raw, opts.fromUrl === true, true);
  if (bad !== null) throw new TargetError("invalid_host_char", `host ${JSON.stringify(raw)} contains ${describeChar(bad)}`);
  if (raw.includes(":")) {
    if (opts.bareIpv6) return ipv6Literal(raw, raw);
    throw new TargetError("ipv6_needs_brackets", `IPv6 literals must be written in brackets, e.g. [${raw}]`);
  }

  let parsed: string;
  try {
    parsed = new URL(`http://${raw}/`).hostname;
  } catch {
    throw new TargetError("invalid_host", `${JSON.stringify(raw)} is not a valid host name or IPv4 address`);
  }
  if (parsed.startsWith("[")) return ipv6Literal(parsed.slice(1, -1), raw);
  if (isDottedQuad(parsed)) return { kind: "ipv4", host: parsed };

  const name = parsed.endsWith(".") ? parsed.slice(0, -1) : parsed;
  if (name.length === 0) throw new TargetError("empty_host", "empty host");
  if (name.length > MAX_NAME) throw new TargetError("host_too_long", `host name is ${name.length} bytes; the limit is ${MAX_NAME}`);
  const post = badHostChar(name, false);
  if (post !== null) throw new TargetError("invalid_host_char", `host ${JSON.stringify(raw)} decodes to ${describeChar(post)}`);
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i === name.length || name.charCodeAt(i) === 0x2e) {
      const len = i - start;
      if (len === 0) throw new TargetError("empty_label", `host ${JSON.stringify(raw)} has an empty label`);
      if (len > MAX_LABEL) throw new TargetError("label_too_long", `a label of ${JSON.stringify(raw)} is ${len} bytes; the limit is ${MAX_LABEL}`);
      start = i + 1;
    }
  }
  return { kind: "domain", host: name };
}

function isDottedQuad(s: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(s);
}

function ipv6Literal(inner: string, raw: string): { kind: TargetKind; host: string } {
  if (inner.includes("%")) throw new TargetError("zone_id", `IPv6 zone ids are not supported (${JSON.stringify(raw)})`);
  if (!inner.includes(":")) {
    throw new TargetError("bracketed_name", `brackets are only for IPv6 literals; write ${JSON.stringify(inner)} without them`);
  }
  let canon: string;
  try {
    if (badIpv6Char(inner)) throw new Error();
    canon = new URL(`http://[${inner}]/`).hostname.slice(1, -1);
  } catch {
    throw new TargetError("invalid_host", `${JSON.stringify(raw)} is not a valid IPv6 address`);
  }
  // The URL parser writes hex groups, which canonicalIp reads without ipaddr.js; an IPv4-mapped
  // address comes back as the IPv4 address.
  const addr = canonicalIp(canon);
  if (addr === null) throw new TargetError("invalid_host", `${JSON.stringify(raw)} is not a valid IPv6 address`);
  return addr;
}

function badIpv6Char(s: string): boolean {
  return !/^[0-9A-Fa-f:.]+$/.test(s);
}

/** Strict port: 1-65535, decimal digits only, no sign, no leading zero. */
export function parsePort(s: string): number {
  let digits = s.length >= 1 && s.length <= 5 && s.charCodeAt(0) !== 0x30;
  for (let i = 0; digits && i < s.length; i++) digits = s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39;
  if (!digits) {
    throw new TargetError("invalid_port", `invalid port ${JSON.stringify(s)}: expected 1-65535 without sign or leading zeros`);
  }
  const n = Number(s);
  if (n > 65535) throw new TargetError("invalid_port", `invalid port ${JSON.stringify(s)}: expected 1-65535`);
  return n;
}

/**
 * Split `host[:port]` (IPv6 in brackets) and canonicalize. `defaultPort` null means the port is
 * required (CONNECT).
 */
export function parseAuthority(authority: string, defaultPort: number | null, options?: HostOptions): Target {
  const opts = options ?? NO_OPTIONS;
  if (authority.includes("@")) throw new TargetError("userinfo", "userinfo (user@host) is not allowed in a proxy target");
  let hostPart: string;
  let portPart: string | null = null;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw new TargetError("invalid_host", `unterminated IPv6 bracket in ${JSON.stringify(authority)}`);
    hostPart = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new TargetError("invalid_host", `unexpected ${JSON.stringify(rest)} after IPv6 literal`);
      portPart = rest.slice(1);
    }
  } else {
    const first = authority.indexOf(":");
    if (first >= 0 && authority.indexOf(":", first + 1) >= 0) {
      throw new TargetError("ipv6_needs_brackets", `IPv6 literals must be written in brackets, e.g. [2001:db8::1]:443 (got ${JSON.stringify(authority)})`);
    }
    hostPart = first >= 0 ? authority.slice(0, first) : authority;
    if (first >= 0) portPart = authority.slice(first + 1);
  }
  let port: number;
  if (portPart === null) {
    if (defaultPort === null) throw new TargetError("missing_port", `missing port in ${JSON.stringify(authority)} (expected host:port)`);
    port = defaultPort;
  } else {
    port = parsePort(portPart);
  }
  const h = canonicalHost(hostPart, opts);
  return { kind: h.kind, host: h.host, port };
}

export interface AbsoluteUrl {
  readonly scheme: "http" | "https";
  readonly target: Target;
  /** Path and query as sent (at least "/"), for the origin-form request line. */
  readonly path: string;
}

/**
 * Parse an absolute-form request-target (`http://host[:port]/path?query`). The authority ends at
 * the first `/` or `?`; userinfo, backslashes and fragments are refused outright rather than
 * guessed at, because parsers disagree on them (`http://a.com\@b.com/`, `http://b.com#@a.com/`).
 */
export function parseAbsoluteUrl(url: string): AbsoluteUrl {
  let scheme: "http" | "https";
  let from: number;
  if (url.startsWith("http://")) {
    scheme = "http";
    from = 7;
  } else if (url.startsWith("https://")) {
    scheme = "https";
    from = 8;
  } else {
    // Any other spelling of a scheme: upper case is accepted, other schemes are named in the error.
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
    if (!m) throw new TargetError("bad_url", `not an absolute http:// URL: ${JSON.stringify(url.slice(0, 80))}`);
    const named = m[1]!.toLowerCase();
    if (named !== "http" && named !== "https") {
      throw new TargetError(
        "bad_url",
        `unsupported scheme ${JSON.stringify(named)}: only http:// (and https://) URLs can be proxied; use CONNECT for other protocols`,
      );
    }
    scheme = named;
    from = m[0].length;
  }
  // One pass: a fragment or a backslash anywhere is refused; the authority ends at the first / or ?.
  let end = -1;
  let hash = false;
  let backslash = false;
  for (let i = from; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x23) hash = true;
    else if (c === 0x5c) backslash = true;
    else if (end < 0 && (c === 0x2f || c === 0x3f)) end = i;
  }
  if (hash) throw new TargetError("bad_url", "a request-target must not contain a fragment (#)");
  if (backslash) throw new TargetError("bad_url", "a request-target must not contain a backslash");
  if (end < 0) end = url.length;
  const authority = url.slice(from, end);
  let path = end === url.length ? "/" : url.slice(end);
  if (path.charCodeAt(0) === 0x3f) path = "/" + path;
  const target = parseAuthority(authority, scheme === "https" ? 443 : 80, { fromUrl: true });
  return { scheme, target, path };
}

/** `host:port` for logs and Host headers; brackets IPv6. */
export function formatTarget(t: Pick<Target, "kind" | "host" | "port">): string {
  return t.kind === "ipv6" ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** The authority for a Host header: the default port of the scheme is omitted. */
export function hostHeaderValue(t: Target, defaultPort: number): string {
  const h = t.kind === "ipv6" ? `[${t.host}]` : t.host;
  return t.port === defaultPort ? h : `${h}:${t.port}`;
}

/**
 * A SOCKS5 request address (RFC 1928 ATYP 1/3/4) as a canonical target. A DOMAINNAME that is an
 * address spelling (`2130706433`, `127.1`, `::1`) is judged as the address it spells.
 */
export function targetFromSocks(atyp: 1 | 3 | 4, addr: Uint8Array, port: number): Target {
  if (port < 1 || port > 65535) throw new TargetError("invalid_port", `invalid port ${port}: expected 1-65535`);
  if (atyp === 1) {
    if (addr.length !== 4) throw new TargetError("invalid_host", "IPv4 address must be 4 bytes");
    return { kind: "ipv4", host: `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`, port };
  }
  if (atyp === 4) {
    if (addr.length !== 16) throw new TargetError("invalid_host", "IPv6 address must be 16 bytes");
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((addr[i]! << 8) | addr[i + 1]!).toString(16));
    const h = canonicalHost(`[${parts.join(":")}]`);
    return { kind: h.kind, host: h.host, port };
  }
  // DOMAINNAME: bytes, not text. Anything outside printable ASCII other than UTF-8 is refused.
  let name: string;
  try {
    name = new TextDecoder("utf-8", { fatal: true }).decode(addr);
  } catch {
    throw new TargetError("invalid_host_char", "SOCKS5 domain name is not valid UTF-8");
  }
  const h = canonicalHost(name, { bareIpv6: true });
  return { kind: h.kind, host: h.host, port };
}
