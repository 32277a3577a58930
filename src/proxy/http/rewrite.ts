/**
 * Request and response heads as they leave the proxy: origin-form request line, `Host` set from
 * the canonical target, hop-by-hop headers removed in both directions (RFC 9110 section 7.6.1),
 * including every header named in `Connection`, `Proxy-Connection`, and spellings that some
 * servers fold to a hop-by-hop name (`Proxy_Authorization`).
 */
import { foldName, type CompiledHook } from "../../policy/hooks.ts";
import { METHOD_OVERRIDE_HEADERS, type MethodRequest } from "../../policy/method.ts";
import type { Header, RequestHead, ResponseHead } from "./head.ts";

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // framing is re-emitted by us
  "content-length",
  // never forwarded: it addresses the proxy itself
  "x-unix-socket",
]);

/** Every name the rewrite of a response takes out (plain-head.ts passes on only heads without one). */
export const REWRITTEN_NAMES: readonly string[] = [...HOP_BY_HOP, "host"];

function dropped(h: Header, named: ReadonlySet<string>): boolean {
  const n = h.lower.includes("_") ? h.lower.replaceAll("_", "-") : h.lower;
  return HOP_BY_HOP.has(n) || named.has(n) || n === "host";
}

export interface Framing {
  readonly contentLength: number | null;
  readonly chunked: boolean;
}

function framingLines(f: Framing): string {
  if (f.chunked) return "Transfer-Encoding: chunked\r\n";
  if (f.contentLength !== null) return `Content-Length: ${f.contentLength}\r\n`;
  return "";
}

/**
 * The request head sent upstream. `upgrade` keeps `Connection: Upgrade` + `Upgrade` (WebSocket
 * pass-through in full mode).
 */
export function upstreamRequestHead(
  req: RequestHead,
  path: string,
  hostHeader: string,
  upgrade: string | null,
  hook: CompiledHook | null = null,
  proxyAuthorization: string | null = null,
): Buffer {
  let s = `${req.method} ${path} HTTP/1.${req.minor}\r\nHost: ${hostHeader}\r\n`;
  if (proxyAuthorization !== null) s += `Proxy-Authorization: ${proxyAuthorization}\r\n`;
  if (hook === null) {
    for (const h of req.headers) if (!dropped(h, req.connection)) s += `${h.name}: ${h.value}\r\n`;
  } else {
    // The hook's actions: its stripped and injected names go, in every spelling the client
    // used, and the injected values (the only place a secret is revealed) come last.
    for (const h of req.headers) if (!dropped(h, req.connection) && !hook.strip.has(foldName(h.lower))) s += `${h.name}: ${h.value}\r\n`;
    for (const h of hook.inject) s += `${h.name}: ${h.value.reveal()}\r\n`;
  }
  s += framingLines(req);
  if (upgrade !== null) s += `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n`;
  return Buffer.from(s + "\r\n", "latin1");
}

/**
 * The response head sent to the client. `close` adds `Connection: close`; `upgrade` keeps the
 * upgrade headers of a 101.
 */
export function clientResponseHead(res: ResponseHead, opts: { close: boolean; upgrade: string | null; framing: Framing | null }): Buffer {
  let s = `HTTP/1.1 ${res.status} ${res.reason}\r\n`;
  let framed = opts.framing === null;
  for (const h of res.headers) {
    if (h.lower === "content-length" && opts.framing === null) {
      s += `${h.name}: ${h.value}\r\n`; // HEAD / 304 keep the representation's length
      continue;
    }
    // Our framing line takes the place of the upstream's (plain-head.ts relies on this).
    if (!framed && (h.lower === "content-length" || h.lower === "transfer-encoding")) {
      s += framingLines(opts.framing!);
      framed = true;
      continue;
    }
    if (!dropped(h, res.connection)) s += `${h.name}: ${h.value}\r\n`;
  }
  if (!framed) s += framingLines(opts.framing!);
  if (opts.upgrade !== null) s += `Connection: Upgrade\r\nUpgrade: ${opts.upgrade}\r\n`;
  else if (opts.close) s += "Connection: close\r\n";
  return Buffer.from(s + "\r\n", "latin1");
}

/** What the method policy and the hooks judge about a request; `path` is its origin-form target. */
export function requestFacts(req: RequestHead, path: string): MethodRequest {
  return {
    method: req.method,
    hasBody: hasBody(req),
    upgrade: req.upgrade !== null,
    overrides: overrideValues(req, METHOD_OVERRIDE_HEADERS),
    path,
    headers: req.headers,
  };
}

export function hasBody(req: RequestHead): boolean {
  return req.chunked || (req.contentLength ?? 0) > 0;
}

/** Values of the method-override headers, for limited mode. */
export function overrideValues(req: RequestHead, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const h of req.headers) {
    // CGI/WSGI servers read X_HTTP_Method_Override as the same variable as the hyphenated name.
    const n = h.lower.includes("_") ? h.lower.replaceAll("_", "-") : h.lower;
    if (names.includes(n)) out.push(h.value);
  }
  return out;
}

export function headerValue(headers: readonly Header[], lower: string): string | undefined {
  for (const h of headers) if (h.lower === lower) return h.value;
  return undefined;
}
