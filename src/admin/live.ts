/**
 * The admin API's live parts: held approvals (`/pending`), runtime rules (`/runtime-rules`) and
 * the event stream (`/events`, server-sent events with a bounded queue per reader).
 */
import { addToList } from "../config/persist.ts";
import { replaceFile } from "../fsutil.ts";
import { DECISIONS, SCOPES, type Decision, type Scope } from "../runtime/approvals.ts";
import type { ProxyState } from "../runtime/state.ts";
import { json, jsonError, readJson, type Route } from "./routes.ts";

/** Persisting answers one at a time: each edit reads the file the previous one wrote. */
let writing: Promise<unknown> = Promise.resolve();

function persist(state: ProxyState, list: "allow" | "deny", pattern: string): Promise<string | null> {
  const next = writing.then(() => persistNow(state, list, pattern));
  writing = next;
  return next;
}

/** Add a runtime rule's pattern to the config file, keeping the rest byte for byte; then reload. */
async function persistNow(state: ProxyState, list: "allow" | "deny", pattern: string): Promise<string | null> {
  const path = state.config.source.path;
  let text = "";
  try {
    text = state.config.source.exists ? await Bun.file(path).text() : "";
    const next = addToList(text, list === "allow" ? "allowed_domains" : "denied_domains", pattern);
    replaceFile(path, next);
  } catch (e) {
    return (e as Error).message;
  }
  const r = await state.reload();
  if (!r.ok) return `written to ${path}, but the reload failed: ${r.problems[0]}`;
  const now = list === "allow" ? state.config.policy.allowedRaw : state.config.policy.deniedRaw;
  if (!now.includes(pattern)) return `written to ${path}, but the list in force does not come from that file (a -c override?)`;
  return null;
}

export async function answerPending(req: Request, state: ProxyState, id: string, by: string): Promise<Response> {
  const body = await readJson(req);
  if (body instanceof Response) return body;
  const { decision, scope = "host", persist: keep = false } = body as { decision?: unknown; scope?: unknown; persist?: unknown };
  if (!(DECISIONS as readonly unknown[]).includes(decision)) return jsonError("admin_bad_request", `decision must be one of ${DECISIONS.join(", ")}`);
  if (!(SCOPES as readonly unknown[]).includes(scope)) return jsonError("admin_bad_request", `scope must be one of ${SCOPES.join(", ")}`);
  if (typeof keep !== "boolean") return jsonError("admin_bad_request", "persist must be true or false");
  if (keep && decision === "allow_once") return jsonError("admin_bad_request", "allow_once cannot be persisted; use allow_session");
  const done = state.approvals.answer(Number(id), decision as Decision, scope as Scope, by);
  if (!done) return jsonError("admin_not_found", `no pending entry ${id} (answered, timed out, or never held)`);
  if ("refused" in done) return jsonError("admin_bad_request", done.refused);
  const failed = keep ? await persist(state, decision === "allow_session" ? "allow" : "deny", done.pattern) : null;
  if (failed) return jsonError("admin_bad_request", `answered, but not persisted: ${failed}`, { pattern: done.pattern });
  return json({ status: "answered", decision, pattern: done.pattern, persisted: keep });
}

export function deleteRuntimeRule(state: ProxyState, id: string): Response {
  if (!state.approvals.removeRule(Number(id))) return jsonError("admin_not_found", `no runtime rule ${id}`);
  return json({ status: "deleted", id: Number(id) });
}

/** `GET /events`: server-sent events until the reader goes away. */
export function events(state: ProxyState): Response {
  const sub = state.events.subscribe();
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      // The state at the time of subscribing, so a page has something before the first event.
      controller.enqueue(
        encoder.encode(`event: hello\ndata: ${JSON.stringify({ mode: state.mode, pending: state.approvals.pending, rules: state.approvals.rules })}\n\n`),
      );
    },
    async pull(controller) {
      const text = await sub.take();
      if (text) controller.enqueue(encoder.encode(text));
      if (sub.closed) controller.close(); // after what was queued before the end
    },
    cancel() {
      state.events.unsubscribe(sub);
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" } });
}

export const LIVE_ROUTES: Readonly<Record<string, Route>> = {
  "/pending": { method: "GET", handler: (_req, state) => json({ pending: state.approvals.pending }) },
  "/pending/:id": { method: "POST", handler: (req, state, ctx) => answerPending(req, state, ctx.param!, ctx.by) },
  "/runtime-rules": { method: "GET", handler: (_req, state) => json({ rules: state.approvals.rules }) },
  "/runtime-rules/:id": { method: "DELETE", handler: (_req, state, ctx) => deleteRuntimeRule(state, ctx.param!) },
  "/events": {
    method: "GET",
    auth: true,
    handler: (_req, state, ctx) => {
      ctx.keepOpen();
      return events(state);
    },
  },
};
