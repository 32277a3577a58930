/**
 * The route an allowed target takes: directly, or through an upstream proxy (a corporate proxy
 * that is the only way out). The route never changes a decision: it is asked only after the
 * policy allowed the target. Pure: the config and the environment the proxy started with in, a
 * route table out; `upstreamFor` picks the upstream for one target.
 *
 * - `[network_proxy.upstream] url` names the upstream for everything; with
 *   `allow_upstream_proxy = true` and no url, the environment's: HTTPS_PROXY for TLS and tunnels,
 *   HTTP_PROXY for plain HTTP, ALL_PROXY for both when those are missing (upper case first).
 * - `no_proxy` (or the environment's NO_PROXY) lists targets dialed directly: names (a name also
 *   covers its subdomains; `.x` and `*.x` the same), IP addresses, CIDRs, `*` for everything,
 *   each optionally with `:port`.
 * - Loopback targets (`localhost`, 127.0.0.0/8, ::1) are always direct: an upstream would reach
 *   its own loopback, not ours.
 */
import type ipaddr from "ipaddr.js";
import { ipaddrJs } from "./ipaddr.ts";
import type { Secret } from "../secret.ts";
import type { Target } from "./target.ts";

export type UpstreamScheme = "http" | "https" | "socks5" | "socks5h";

export interface UpstreamProxy {
  readonly scheme: UpstreamScheme;
  readonly host: string;
  readonly port: number;
  readonly auth: { readonly username: string; readonly password: Secret } | null;
  /** Extra roots (PEM) for an https:// upstream. */
  readonly ca: readonly string[];
  /** `http://proxy.corp:8080`: how logs and /config name it (never with credentials). */
  readonly label: string;
}

interface NoProxyEntry {
  readonly any: boolean;
  readonly name: string | null;
  readonly cidr: [ipaddr.IPv4 | ipaddr.IPv6, number] | null;
  readonly port: number | null;
}

export interface Route {
  /** For plain HTTP requests. */
  readonly http: UpstreamProxy | null;
  /** For tunnels (CONNECT, SOCKS5) and the upstream leg of intercepted HTTPS. */
  readonly tls: UpstreamProxy | null;
  readonly noProxy: readonly NoProxyEntry[];
  /** "upstream": names routed upstream are not resolved here. */
  readonly resolve: "local" | "upstream";
  /** Send the vetted address upstream instead of the name. */
  readonly pin: boolean;
}

export const DIRECT: Route = Object.freeze({ http: null, tls: null, noProxy: [], resolve: "local", pin: false });

const DEFAULT_PORTS: Readonly<Record<UpstreamScheme, number>> = { http: 80, https: 443, socks5: 1080, socks5h: 1080 };

/** Parse an upstream URL. Throws an Error whose message never contains the password. */
export function parseProxyUrl(text: string): { scheme: UpstreamScheme; host: string; port: number; username: string; password: string } {
  let u: URL;
  try {
    u = new URL(text.includes("://") ? text : `http://${text}`);
  } catch {
    throw new Error("is not a URL (expected http://host:port, https://..., socks5h://... or socks5://...)");
  }
  const scheme = u.protocol.slice(0, -1);
  if (!(scheme in DEFAULT_PORTS)) throw new Error(`uses ${scheme}://; an upstream must be http://, https://, socks5h:// or socks5://`);
  if (u.pathname !== "/" && u.pathname !== "" && scheme.startsWith("socks")) throw new Error("a SOCKS5 upstream URL has no path");
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  if (host === "") throw new Error("names no host");
  const s = scheme as UpstreamScheme;
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw new Error("has a malformed %-escape in its user information");
  }
  return { scheme: s, host: host.toLowerCase(), port: u.port === "" ? DEFAULT_PORTS[s] : Number(u.port), username, password };
}

export function proxyLabel(p: { scheme: string; host: string; port: number }): string {
  return `${p.scheme}://${p.host.includes(":") ? `[${p.host}]` : p.host}:${p.port}`;
}

/** Parse no_proxy / NO_PROXY entries; unusable ones are returned as problems. */
export function parseNoProxy(entries: readonly string[]): { entries: NoProxyEntry[]; problems: string[] } {
  const out: NoProxyEntry[] = [];
  const problems: string[] = [];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (e === "") continue;
    if (e === "*") {
      out.push({ any: true, name: null, cidr: null, port: null });
      continue;
    }
    let host = e;
    let port: number | null = null;
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(e);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
    if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
    // ipaddr.js reads what may be an address or a block (it loads on first use); a name has a
    // character no address spelling has.
    const ip = mayBeAddress(host) ? ipaddrJs() : null;
    if (ip !== null) {
      try {
        const cidr = host.includes("/")
          ? ip.parseCIDR(host)
          : ip.isValid(host)
            ? ([ip.parse(host), host.includes(":") ? 128 : 32] as [ipaddr.IPv4 | ipaddr.IPv6, number])
            : null;
        if (cidr) {
          out.push({ any: false, name: null, cidr, port });
          continue;
        }
      } catch {
        problems.push(`${JSON.stringify(raw)} is not a valid CIDR block`);
        continue;
      }
    }
    const name = host.replace(/^\*?\./, "").replace(/\.$/, "");
    if (!/^[a-z0-9_.-]+$/.test(name)) {
      problems.push(`${JSON.stringify(raw)} is not a host name, address, CIDR block or *`);
      continue;
    }
    out.push({ any: false, name, cidr: null, port });
  }
  return { entries: out, problems };
}

function noProxyMatches(entries: readonly NoProxyEntry[], t: Target): boolean {
  for (const e of entries) {
    if (e.port !== null && e.port !== t.port) continue;
    if (e.any) return true;
    if (e.name !== null) {
      if (t.kind === "domain" && (t.host === e.name || t.host.endsWith(`.${e.name}`))) return true;
      continue;
    }
    if (e.cidr && t.kind !== "domain") {
      const a = ipaddrJs().parse(t.host);
      if (a.kind() === e.cidr[0].kind() && a.match(e.cidr)) return true;
    }
  }
  return false;
}

function isLoopback(t: Target): boolean {
  if (t.kind === "domain") return t.host === "localhost" || t.host.endsWith(".localhost");
  return t.kind === "ipv4" ? t.host.startsWith("127.") : t.host === "::1";
}

/** The upstream for `t`, or null to dial directly. `tls`: a tunnel or TLS to the origin, else plain HTTP. */
export function upstreamFor(route: Route, t: Target, tls: boolean): UpstreamProxy | null {
  const up = tls ? route.tls : route.http;
  if (up === null || isLoopback(t) || noProxyMatches(route.noProxy, t)) return null;
  return up;
}

/**
 * Whether ipaddr.js could take `s` for an address or a block: anything with a ":" (an IPv6
 * spelling, with or without a zone) or a "/" (a block, whose error is ipaddr.js's to give), or
 * only what IPv4 spellings use (digits, hex letters, "x", "."). A name with any other character
 * is never one.
 */
export function mayBeAddress(s: string): boolean {
  if (s.includes(":") || s.includes("/")) return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x78 || c === 0x58 || c === 0x2e;
    if (!ok) return false;
  }
  return s.length > 0;
}
