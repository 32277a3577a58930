/**
 * Listener addresses: the original's loose `host:port` parsing and its loopback clamping
 * rules, with a warning wherever the original substituted silently.
 */
import type ipaddr from "ipaddr.js";
import { ipaddrJs } from "../policy/ipaddr.ts";
import { isCanonicalDottedQuad } from "../policy/ip-text.ts";

export interface ListenAddr {
  /** An IP literal (never a name: listeners never resolve names). */
  readonly host: string;
  readonly port: number;
}

export type ListenerName = "HTTP proxy" | "SOCKS5 proxy" | "admin API";

/** Split a loosely written listener URL into host and port (port falls back to `defaultPort`). */
export function parseHostPort(input: string, defaultPort: number): { host: string; port: number } {
  let s = input.trim();
  if (s === "") return { host: "127.0.0.1", port: defaultPort };
  const scheme = s.indexOf("://");
  if (scheme >= 0) s = s.slice(scheme + 3);
  const slash = s.indexOf("/");
  if (slash >= 0) s = s.slice(0, slash);
  const at = s.lastIndexOf("@");
  if (at >= 0) s = s.slice(at + 1);

  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close > 0) {
      const host = s.slice(1, close);
      const rest = s.slice(close + 1);
      const port = rest.startsWith(":") ? parsePort(rest.slice(1)) : undefined;
      return { host, port: port ?? defaultPort };
    }
  }
  const colons = s.split(":").length - 1;
  if (colons === 1) {
    const i = s.indexOf(":");
    const port = parsePort(s.slice(i + 1));
    if (port !== undefined) return { host: s.slice(0, i), port };
    return { host: s.slice(0, i), port: defaultPort };
  }
  return { host: s, port: defaultPort };
}

function parsePort(s: string): number | undefined {
  if (!isDigits(s, 5)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** True when `s` is 1 to `max` ASCII digits (a scan: no regular expression at start-up). */
function isDigits(s: string, max: number): boolean {
  const n = s.length;
  if (n === 0 || n > max) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Turn a parsed host into something to bind: `localhost` becomes 127.0.0.1, IP literals are kept,
 * and any other name becomes 127.0.0.1 (the original's rule: listeners never resolve names).
 */
export function resolveListenHost(host: string): { host: string; substituted: boolean } {
  if (host.toLowerCase() === "localhost") return { host: "127.0.0.1", substituted: false };
  // The usual spelling, read without ipaddr.js (which runs regular expressions): see isCanonicalDottedQuad.
  if (isCanonicalDottedQuad(host)) return { host, substituted: false };
  const ip = ipaddrJs();
  if (ip.isValid(host) && (host.includes(":") || ip.IPv4.isValidFourPartDecimal(host))) {
    const a = ip.parse(host);
    // An IPv4-mapped address is that IPv4 address: bind and compare it as such.
    if (a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress()) return { host: (a as ipaddr.IPv6).toIPv4Address().toString(), substituted: false };
    return { host: a.toString(), substituted: false };
  }
  return { host: "127.0.0.1", substituted: true };
}

export function isLoopbackAddr(host: string): boolean {
  if (isCanonicalDottedQuad(host)) return host.startsWith("127.");
  const ip = ipaddrJs();
  if (!ip.isValid(host)) return false;
  const a = ip.parse(host);
  if (a.kind() === "ipv4") return a.range() === "loopback";
  return (a as ipaddr.IPv6).toNormalizedString() === "0:0:0:0:0:0:0:1";
}

export interface ClampInput {
  readonly name: ListenerName;
  readonly url: string;
  readonly key: string;
  readonly defaultPort: number;
  /** The flag that allows a non-loopback bind, and its name for messages. */
  readonly allowNonLoopback: boolean;
  readonly flagName: string;
}

/**
 * Resolve one listener address and apply the loopback clamp. `unixSocketsEnabled` forces
 * 127.0.0.1 whatever the flags say, so the proxy can never become a remote bridge into local
 * daemons. Returns the address and the warnings to log.
 */
export function listenAddress(input: ClampInput, unixSocketsEnabled: boolean): { addr: ListenAddr; warnings: string[] } {
  const warnings: string[] = [];
  const parsed = parseHostPort(input.url, input.defaultPort);
  const resolved = resolveListenHost(parsed.host);
  if (resolved.substituted) {
    warnings.push(`${input.key} host "${parsed.host}" is not an IP literal or localhost; listener names are never resolved, binding 127.0.0.1:${parsed.port}`);
  }
  let addr: ListenAddr = { host: resolved.host, port: parsed.port };
  const loopback = isLoopbackAddr(addr.host);
  if (!loopback) {
    if (input.allowNonLoopback) {
      warnings.push(`DANGEROUS: ${input.name} listening on non-loopback address ${fmtAddr(addr)}`);
    } else {
      warnings.push(`${input.name} requested non-loopback bind (${fmtAddr(addr)}); clamping to 127.0.0.1:${addr.port} (set ${input.flagName} to override)`);
      addr = { host: "127.0.0.1", port: addr.port };
    }
  }
  if (unixSocketsEnabled && addr.host !== "127.0.0.1") {
    if (!loopback && input.allowNonLoopback) {
      warnings.push(`unix socket proxying is enabled; ignoring ${input.flagName} and clamping ${input.name} to loopback`);
    }
    addr = { host: "127.0.0.1", port: addr.port };
  }
  return { addr, warnings };
}

export function fmtAddr(a: ListenAddr): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
