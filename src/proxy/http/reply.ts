/**
 * Responses the proxy writes itself: policy blocks in the original's two formats (JSON for plain
 * HTTP, text for CONNECT and inside MITM tunnels), and errors from the catalogue.
 */
import { OUTCOMES, type BlockInfo, type ErrorCode } from "../../outcomes.ts";

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

export function statusLine(status: number, reason = STATUS_TEXT[status] ?? "Unknown"): string {
  return `HTTP/1.1 ${status} ${reason}\r\n`;
}

/**
 * The reason phrase of a block: most clients print only the status line of a refused CONNECT
 * ("CONNECT tunnel failed, response 403"; Python shows the phrase), so it says who refused what
 * and why. `target` is canonical (host:port or a checked unix socket path): never a CR or LF.
 */
function blockPhrase(b: BlockInfo, target: string): string {
  return `Blocked by codex-network-proxy: ${target} ${b.reason}`;
}

function response(status: number, contentType: string, body: string, extra: Record<string, string>, close: boolean, reason?: string): Buffer {
  const b = Buffer.from(body);
  let head = statusLine(status, reason) + `Content-Type: ${contentType}\r\nContent-Length: ${b.length}\r\nCache-Control: no-store\r\n`;
  for (const [k, v] of Object.entries(extra)) head += `${k}: ${v}\r\n`;
  head += close ? "Connection: close\r\n\r\n" : "\r\n";
  return Buffer.concat([Buffer.from(head, "latin1"), b]);
}

/**
 * Plain-HTTP block: `403` JSON with the original's keys (`status`, `host`, `reason`) plus
 * `explain` and, when there is one, `hint`, so that an agent reading it knows which rule
 * applied and what the operator could change.
 */
export function blockJson(b: BlockInfo, host: string, target: string, close: boolean): Buffer {
  const w = OUTCOMES[b.reason];
  const body = { status: "blocked", host, reason: b.reason, explain: b.explain, ...(b.hint ? { hint: b.hint } : {}) };
  return response(w.status, "application/json", JSON.stringify(body), { "x-proxy-error": w.header }, close, blockPhrase(b, target));
}

/** CONNECT and in-tunnel block: `403` text, the original's message first, then why and the hint. */
export function blockText(b: BlockInfo, target: string, close: boolean): Buffer {
  const w = OUTCOMES[b.reason];
  const body = `${w.message}\nWhy: ${b.explain}\n${b.hint ? `To allow it: ${b.hint}\n` : ""}`;
  return response(w.status, "text/plain", body, { "x-proxy-error": w.header }, close, blockPhrase(b, target));
}

/** Any other error: its status, a text body naming the cause, and an `x-proxy-error` that is never `blocked-by-*`. */
export function errorReply(code: ErrorCode, detail: string, close: boolean, extra: Record<string, string> = {}): Buffer {
  const w = OUTCOMES[code];
  const body = detail && detail !== w.message ? `${w.message}: ${detail}\n` : `${w.message}\n`;
  return response(w.status, "text/plain; charset=utf-8", body, { "x-proxy-error": w.header, ...extra }, close);
}

export const CONNECT_ESTABLISHED = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n", "latin1");
