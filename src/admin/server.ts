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
import { dashboardRoutes, Sessions } from "./dashboard.ts";
import { LIVE_ROUTES } from "./live.ts";
import { jsonError, ROUTES, type Route } from "./routes.ts";
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

/** Routes that need no token: the page, and signing in and out of it. */
const OPEN = new Set(["/", "/session", "/login", "/logout"]);

function findRoute(routes: Readonly<Record<string, Route>>, path: string): { key: string; route: Route; param: string | null } | null {
  const exact = routes[path];
  if (exact) return { key: path, route: exact, param: null };
  const slash = path.lastIndexOf("/");
  const key = `${path.slice(0, slash)}/:id`;
  const param = path.slice(slash + 1);
  const r = routes[key];
  return r && /^\d{1,15}$/.test(param) ? { key, route: r, param } : null;
}

/** What the listener adds to a request's handling: its sign-in sessions, its routes, and a way to exempt a stream from the idle time-out. */
export interface AdminListener {
  readonly sessions: Sessions;
  readonly routes: Readonly<Record<string, Route>>;
  readonly keepOpen: (req: Request) => void;
}

const READ_ONLY: AdminListener = { sessions: new Sessions(), routes: ROUTES, keepOpen: () => {} };

export async function handleAdmin(
  req: Request,
  state: ProxyState,
  bound: { host: string; port: number },
  opts: AdminOptions,
  listener: AdminListener = READ_ONLY,
): Promise<Response> {
  const { sessions, routes } = listener;
  if (!hostAllowed(req.headers.get("host"), bound)) {
    return jsonError("admin_forbidden", `Host ${JSON.stringify(req.headers.get("host"))} is not allowed; use http://${fmtAddr(bound)}`);
  }
  if (!originAllowed(req, bound)) return jsonError("admin_forbidden", "cross-site requests are not allowed");
  const path = new URL(req.url).pathname;
  const found = findRoute(routes, path);
  if (!found) return jsonError("admin_not_found", `not found: ${path}`);
  const { route, key, param } = found;
  if (req.method !== route.method && !(req.method === "HEAD" && route.method === "GET")) {
    return jsonError("admin_method_not_allowed", `method ${req.method} not allowed on ${path}; use ${route.method}`, {}, { allow: route.method });
  }
  // Mutations need the token: the POSTs and DELETEs, the live stream, and draining the
  // blocked-event log (the audit trail). A signed-in page's cookie counts too, for its own
  // calls (see dashboard.ts).
  const mutates = route.method !== "GET";
  const guarded = !OPEN.has(key) && (mutates || route.auth === true || (path === "/blocked" && new URL(req.url).searchParams.has("drain")));
  const token = guarded ? opts.token() : null;
  let by = "api";
  if (token !== null && !bearerMatches(req.headers.get("authorization"), token)) {
    const fromPage = sessions.valid(req, token);
    if (!fromPage) {
      return jsonError(
        "admin_unauthorized",
        `missing or wrong bearer token; send Authorization: Bearer <token>, the token ${opts.tokenWhere()}`,
        {},
        { "www-authenticate": 'Bearer realm="codex-network-proxy"', connection: "close" },
      );
    }
    by = "dashboard";
  }
  return route.handler(req, state, { param, by, keepOpen: () => listener.keepOpen(req) });
}

export function startAdmin(state: ProxyState, log: Logger, addr: ListenAddr, opts: AdminOptions): Service {
  const sessions = new Sessions();
  const routes = { ...ROUTES, ...LIVE_ROUTES, ...dashboardRoutes(sessions, opts.token) };
  // A live stream may be quiet for long; it ends when its reader goes, not on the idle time-out.
  const listener: AdminListener = { sessions, routes, keepOpen: (req) => server.timeout(req, 0) };
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
      fetch: (req) => handleAdmin(req, state, bound, opts, listener),
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
