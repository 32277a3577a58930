/**
 * The admin API's endpoints as pure request -> response functions over the live state. The
 * server (server.ts) adds the transport checks (Host, Origin, auth) in front of them.
 *
 *   GET  /health    ok
 *   GET  /config    the effective config (secrets redacted, runtime mode)
 *   GET  /patterns  {"allowed": [...], "denied": [...]}
 *   GET  /blocked   {"blocked": [...], "dropped": N, "last_id": N}   ?since=ID  ?drain=1
 *   GET  /metrics   Prometheus text format
 *   POST /mode      {"mode": "limited" | "full"}
 *   POST /reload    re-read the config file
 *
 * (The live parts, /pending, /runtime-rules and /events, are in live.ts; sign-in and the
 * dashboard page in dashboard.ts.)
 */
import { effectiveView } from "../config/view.ts";
import type { Mode } from "../config/schema.ts";
import { MODES } from "../config/schema.ts";
import { OUTCOMES, type AdminCode } from "../outcomes.ts";
import type { ProxyState } from "../runtime/state.ts";

export const MAX_BODY = 8 * 1024;

/** What a route learns besides the request: the `:id` of its path, and who is calling. */
export interface RouteContext {
  readonly param: string | null;
  /** "dashboard" (a signed-in page) or "api" (a bearer token), for runtime rules' records. */
  readonly by: string;
  /** Exempt this request from the listener's idle time-out (a long-lived stream). */
  readonly keepOpen: () => void;
}

export interface Route {
  readonly method: "GET" | "POST" | "DELETE";
  readonly handler: (req: Request, state: ProxyState, ctx: RouteContext) => Response | Promise<Response>;
  /** Needs the token even though it is a GET (the live stream). */
  readonly auth?: true;
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store", ...headers } });
}

/** An admin error: its status from the outcome table, JSON `{"error": message, "code": code}`. */
export function jsonError(code: AdminCode, error: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return json({ error, code, ...extra }, OUTCOMES[code].status, headers);
}

/** Read a small request body; null when it is over MAX_BODY. */
async function readBody(req: Request): Promise<string | null> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY) return null;
  if (!req.body) return "";
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** A small JSON body, or the error Response to answer instead. */
export async function readJson(req: Request): Promise<unknown> {
  const text = await readBody(req);
  // Close: the rest of an oversized body is not worth reading to keep the connection.
  if (text === null) return jsonError("admin_too_large", `body too large (limit ${MAX_BODY} bytes)`, {}, { connection: "close" });
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return jsonError("admin_bad_request", "the body must be JSON");
  }
}

export const ROUTES: Readonly<Record<string, Route>> = {
  "/health": { method: "GET", handler: () => new Response("ok", { headers: { "content-type": "text/plain", "cache-control": "no-store" } }) },
  "/config": { method: "GET", handler: (_req, state) => json(effectiveView(state.config, state.mode, state.bound ?? state.config.listeners)) },
  // The config's lists as written, and beside them the rules approvals added at run time.
  "/patterns": {
    method: "GET",
    handler: (_req, state) => json({ allowed: state.config.policy.allowedRaw, denied: state.config.policy.deniedRaw, runtime: state.approvals.rules }),
  },
  "/blocked": {
    method: "GET",
    handler: (req, state) => {
      const q = new URL(req.url).searchParams;
      const sinceText = q.get("since");
      const drain = q.get("drain");
      if (sinceText !== null && !/^\d{1,15}$/.test(sinceText)) return jsonError("admin_bad_request", "since must be a non-negative integer event id");
      if (drain !== null && drain !== "1" && drain !== "true") return jsonError("admin_bad_request", "drain must be 1 or true");
      const events = drain !== null ? state.blocked.drain() : state.blocked.since(Number(sinceText ?? 0));
      return json({ blocked: events, dropped: state.blocked.dropped, last_id: state.blocked.lastId });
    },
  },
  "/metrics": {
    method: "GET",
    handler: (_req, state) => new Response(state.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4", "cache-control": "no-store" } }),
  },
  "/mode": {
    method: "POST",
    handler: async (req, state) => {
      const text = await readBody(req);
      // Close: the rest of an oversized body is not worth reading to keep the connection.
      if (text === null) return jsonError("admin_too_large", `body too large (limit ${MAX_BODY} bytes)`, {}, { connection: "close" });
      if (text.trim() === "") return jsonError("admin_bad_request", 'missing body; send {"mode":"limited"} or {"mode":"full"}');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return jsonError("admin_bad_request", 'invalid JSON; send {"mode":"limited"} or {"mode":"full"}');
      }
      const mode = (body as { mode?: unknown } | null)?.mode;
      if (typeof mode !== "string" || !(MODES as readonly string[]).includes(mode)) {
        return jsonError("admin_bad_request", `mode must be "limited" or "full", got ${JSON.stringify(mode ?? null)}`);
      }
      state.setMode(mode as Mode);
      return json({ status: "ok", mode });
    },
  },
  "/reload": {
    method: "POST",
    handler: async (_req, state) => {
      const r = await state.reload();
      if (!r.ok) return jsonError("admin_bad_request", "reload failed; the previous config stays in force", { problems: r.problems });
      return json({ status: "reloaded", changes: r.changes });
    },
  },
};
