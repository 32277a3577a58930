/**
 * Under `run`, the command gets the admin API's address to read what the proxy blocked. It
 * reaches that address through the proxy, and the proxy never dials its own listeners, so the
 * proxy answers these few reads itself: GET or HEAD of /health, /blocked (not drained) and
 * /metrics. Everything else for that address (a POST, /config, a drain) goes to the gate and is
 * refused as `own_listener`. The token is never added: these reads need none.
 */
import type { MethodRequest } from "../../policy/method.ts";
import type { Target } from "../../policy/target.ts";
import type { AdminView } from "../context.ts";
import type { SessionHandle } from "./handle.ts";
import type { RequestHead } from "./head.ts";
import { statusLine } from "./reply.ts";

const READABLE: ReadonlySet<string> = new Set(["/health", "/blocked", "/metrics"]);

export function isAdminView(view: AdminView, req: RequestHead, target: Target, path: string, facts: MethodRequest): boolean {
  if (target.port !== view.addr.port) return false;
  if (target.host !== view.addr.host && !(target.kind === "domain" && target.host === "localhost")) return false;
  if ((req.method !== "GET" && req.method !== "HEAD") || facts.hasBody || req.upgrade !== null) return false;
  const q = path.indexOf("?");
  if (!READABLE.has(q < 0 ? path : path.slice(0, q))) return false;
  return q < 0 || !new URLSearchParams(path.slice(q + 1)).has("drain");
}

export async function answerAdminView(s: SessionHandle, req: RequestHead, target: Target, path: string): Promise<void> {
  const line = s.ctx.gate.answeredHere({ entry: "http", target, client: s.peer, method: req.method, counters: s.client }, "read-only admin view (run)");
  const res = await s.ctx.adminView!.fetch(path);
  const body = Buffer.from(await res.arrayBuffer());
  if (!s.busy) return line.finish(0, "client_closed");
  const close = req.minor === 0 || req.connection.has("close");
  let head =
    statusLine(res.status) +
    `Content-Type: ${res.headers.get("content-type") ?? "text/plain"}\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\n`;
  head += close ? "Connection: close\r\n\r\n" : "\r\n";
  const answer = Buffer.from(head, "latin1");
  s.answerLocal(req.method === "HEAD" ? answer : Buffer.concat([answer, body]), close);
  line.finish(res.status);
}
