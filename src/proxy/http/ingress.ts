/**
 * Where an HTTP request came in, and what follows from that: the plain listener (absolute-form
 * or a Host header, forwarded over TCP) or the inside of an intercepted CONNECT tunnel (every
 * request must address the tunnel's own target, forwarded over verified TLS). The session code
 * is the same for both; these two strategies are the only difference.
 */
import type { Entry } from "../../policy/admission.ts";
import type { CompiledPolicy } from "../../policy/rules.ts";
import { formatTarget, parseAbsoluteUrl, parseAuthority, TargetError, type AbsoluteUrl, type Target } from "../../policy/target.ts";
import { ProxyError } from "../../outcomes.ts";
import type { UpstreamTls } from "../dial.ts";
import type { RequestHead } from "./head.ts";

export interface Ingress {
  readonly entry: Extract<Entry, "http" | "https">;
  /** Blocks are answered as the original did: JSON on the plain listener, text inside tunnels. */
  readonly blockFormat: "json" | "text";
  /** The port a Host header may leave out. */
  readonly defaultPort: number;
  /** CONNECT and x-unix-socket are features of the listener, not of a tunnel. */
  readonly outer: boolean;
  /** The target every request must address (inside an intercepted tunnel), else null. */
  readonly pinned: Target | null;
  /** The one-off approval the intercepted tunnel was let in on: its requests ride on it too. */
  readonly grant: CompiledPolicy | null;
  /** The request's canonical target and origin-form path; throws ProxyError. */
  route(req: RequestHead): { target: Target; path: string };
  /** TLS for the upstream leg (read per dial: a reload may change the roots). */
  upstreamTls(): UpstreamTls | undefined;
}

const toProxyError = (e: unknown): unknown => (e instanceof TargetError ? new ProxyError("bad_target", e.message) : e);

/** The HTTP listener: absolute-form, or origin-form with a Host header (as the original proxied it). */
export const plainIngress: Ingress = {
  entry: "http",
  blockFormat: "json",
  defaultPort: 80,
  outer: true,
  pinned: null,
  grant: null,
  route(req) {
    try {
      if (req.target.startsWith("/") || req.target === "*") {
        if (req.host === null || req.host === "") throw new ProxyError("missing_host", "missing host: send an absolute-form URL or a Host header");
        // Host is ASCII (RFC 3986 reg-name); raw bytes there are not a name, whatever they decode to.
        if (!/^[\x21-\x7e]+$/.test(req.host)) throw new ProxyError("bad_target", "the Host header must be ASCII (use punycode for international names)");
        return { target: parseAuthority(req.host, 80), path: req.target };
      }
      const u = parseAbsoluteUrl(req.target);
      if (u.scheme === "https") throw new ProxyError("bad_target", "https:// URLs are proxied with CONNECT; point HTTPS_PROXY at this proxy");
      return { target: u.target, path: u.path };
    } catch (e) {
      throw toProxyError(e);
    }
  },
  upstreamTls: () => undefined,
};

/**
 * Inside an intercepted tunnel to `target`: a Host or absolute-form URL naming anything else is
 * refused (`onMismatch` logs it), and so is a CONNECT.
 */
export function tunnelIngress(target: Target, tls: () => UpstreamTls, onMismatch: (got: string) => void, grant: CompiledPolicy | null = null): Ingress {
  const mismatch = (got: string) => {
    onMismatch(got);
    return new ProxyError("host_mismatch", `host mismatch: this tunnel is for ${formatTarget(target)}`);
  };
  return {
    entry: "https",
    blockFormat: "text",
    defaultPort: 443,
    outer: false,
    pinned: target,
    grant,
    route(req) {
      if (req.method === "CONNECT") throw new ProxyError("connect_in_tunnel");
      let path = req.target;
      if (!path.startsWith("/") && path !== "*") {
        // An absolute-form target inside the tunnel is accepted only when it names the tunnel's target.
        let u: AbsoluteUrl;
        try {
          u = parseAbsoluteUrl(req.target);
        } catch (e) {
          throw toProxyError(e);
        }
        if (u.scheme !== "https" || !sameTarget(u.target, target)) throw mismatch(req.target);
        path = u.path;
      }
      if (req.host !== null) {
        let h: Target | null = null;
        try {
          h = parseAuthority(req.host, 443);
        } catch {
          // unparsable Host: a mismatch like any other
        }
        if (!h || !sameTarget(h, target)) throw mismatch(req.host);
      }
      return { target, path };
    },
    upstreamTls: tls,
  };
}

function sameTarget(a: Target, b: Target): boolean {
  return a.host === b.host && a.port === b.port;
}
