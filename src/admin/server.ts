/**
 * The admin API on Bun.serve, bound only to the clamped admin address, with the checks the
 * original lacked:
 *
 * - every request's Host must be a loopback literal, `localhost`, or the listener's own address,
 *   with the listener's port: a web page cannot reach it through DNS rebinding;
 * - a cross-site `Origin` or `Sec-Fetch-Site` is refused: a browser cannot be made to POST here;
 * - POST endpoints need `Authorization: Bearer <token>` unless dangerously_disable_admin_auth;
 * - the proxy listeners refuse the admin address as a target (policy step "own listener").
 */
import type { Server } from "bun";
import { fmtAddr, isLoopbackAddr, type ListenAddr } from "../config/addr.ts";
import type { Logger } from "../log.ts";
import { canonicalIp } from "../policy/ip.ts";
import type { ProxyState } from "../runtime/state.ts";
import type { Service } from "../service.ts";
import { jsonError, ROUTES } from "./routes.ts";
import { bearerMatches } from "./token.ts";

export interface AdminOptions {
  /** The bearer token, or null when auth is disabled (read per request: a reload may change it). */
  readonly token: () => string | null;
  /** Where the token is, in words, for the 401 answer (never the token itself). */
  readonly tokenWhere: () => string;
}

/** Is `host` (a Host header value) an acceptable way to address this listener? */
export function hostAllowed(host: string | null, bound: { host: string; port: number }): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(host);
  if (!m || Number(m[2]) !== bound.port) return false;
  const name = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
  if (name.toLowerCase() === "localhost") return true;
  const ip = canonicalIp(name);
  if (!ip) return false; // names other than localhost: DNS rebinding
  if (isLoopbackAddr(ip.host)) return true;
  if (ip.host === bound.host) return true;
  return bound.host === "0.0.0.0" || bound.host === "::"; // a dangerous wildcard bind: any literal
}

function originAllowed(req: Request, bound: { host: string; port: number }): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // "null" and other opaque origins
  }
  return u.protocol === "http:" && hostAllowed(u.port ? `${u.hostname}:${u.port}` : `${u.hostname}:80`, bound);
}

export async function handleAdmin(req: Request, state: ProxyState, bound: { host: string; port: number }, opts: AdminOptions): Promise<Response> {
  if (!hostAllowed(req.headers.get("host"), bound)) {
    return jsonError("admin_forbidden", `Host ${JSON.stringify(req.headers.get("host"))} is not allowed; use http://${fmtAddr(bound)}`);
  }
  if (!originAllowed(req, bound)) return jsonError("admin_forbidden", "cross-site requests are not allowed");
  const path = new URL(req.url).pathname;
  const route = ROUTES[path];
  if (!route) return jsonError("admin_not_found", `not found: ${path}`);
  if (req.method !== route.method && !(req.method === "HEAD" && route.method === "GET")) {
    return jsonError("admin_method_not_allowed", `method ${req.method} not allowed on ${path}; use ${route.method}`, {}, { allow: route.method });
  }
  // Mutations need the token: the POSTs, and draining the blocked-event log (the audit trail).
  const mutates = route.method === "POST" || (path === "/blocked" && new URL(req.url).searchParams.has("drain"));
  const token = mutates ? opts.token() : null;
  if (token !== null && !bearerMatches(req.headers.get("authorization"), token)) {
    return jsonError(
      "admin_unauthorized",
      `missing or wrong bearer token; send Authorization: Bearer <token>, the token ${opts.tokenWhere()}`,
      {},
      { "www-authenticate": 'Bearer realm="codex-network-proxy"', connection: "close" },
    );
  }
  return route.handler(req, state);
}

export function startAdmin(state: ProxyState, log: Logger, addr: ListenAddr, opts: AdminOptions): Service {
  let server: Server<undefined>;
  let bound = { host: addr.host, port: addr.port };
  try {
    server = Bun.serve({
      hostname: addr.host,
      port: addr.port,
      development: false,
      idleTimeout: 30,
      // No body cap here: Bun's own 413 has an empty body. The routes read at most MAX_BODY
      // bytes, answer a JSON 413 past that and close (routes.ts), so nothing is buffered.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: (req) => handleAdmin(req, state, bound, opts),
      error: (err) => {
        log.error("admin API error", { error: err.message });
        return jsonError("admin_internal", "internal error");
      },
    });
  } catch (e) {
    throw new Error(`bind admin API ${fmtAddr(addr)}: ${(e as Error).message}`);
  }
  bound = { host: addr.host, port: server.port! };
  log.info("admin API listening", { addr: fmtAddr(bound), auth: opts.token() === null ? "disabled (dangerously_disable_admin_auth)" : "bearer token" });
  return {
    name: "admin API",
    address: bound,
    async stop(graceMs: number) {
      const closing = server.stop(false);
      if (graceMs > 0) await Promise.race([closing, new Promise((r) => setTimeout(r, graceMs))]);
      await server.stop(true);
    },
  };
}
