/**
 * Strict HTTP/1.1 message heads (RFC 9112), for requests from clients and responses from
 * upstreams. Pure: bytes in, a parsed head or a typed error out.
 *
 * Refused, because two parsers could read them differently (request smuggling): bare LF or CR
 * line ends, obs-fold, whitespace before the colon, control characters (NUL, CR...) in values,
 * duplicate or conflicting Content-Length, Transfer-Encoding together with Content-Length,
 * any Transfer-Encoding other than exactly `chunked`, versions other than 1.0/1.1, duplicate Host.
 */
import { ProxyError } from "../../outcomes.ts";
import { asciiBytes, crlf, latin1, parseFields, tokenBytes, type HeadLimits, type Header } from "./fields.ts";

export type { HeadLimits, Header } from "./fields.ts";

interface CommonHead {
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  readonly headers: readonly Header[];
  /** null when absent. */
  readonly contentLength: number | null;
  readonly chunked: boolean;
  /** Lowercased tokens of the Connection header(s). */
  readonly connection: ReadonlySet<string>;
}

export interface RequestHead extends CommonHead {
  readonly method: string;
  readonly target: string;
  readonly host: string | null;
  /** Upgrade header value when Connection also lists "upgrade". */
  readonly upgrade: string | null;
}

export interface ResponseHead extends CommonHead {
  readonly status: number;
  readonly reason: string;
}

const CR = 13;
const LF = 10;
const SP = 0x20;

/**
 * Find the end of a head in `buf` (index just past CRLFCRLF), scanning from `from` (pass the
 * previous buffer length minus 3 when more bytes arrive). Returns -1 when more bytes are needed.
 * Throws on a bare LF, and on a head over the limit.
 */
export function findHeadEnd(buf: Uint8Array, from: number, limits: HeadLimits, what: "request" | "response"): number {
  let i = Math.max(0, from);
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0) break;
    // The size limit first: the answer must not depend on how the bytes were split into reads.
    if (lf + 1 > limits.maxHeadBytes) throw tooLarge(buf, lf + 1, limits, what);
    if (lf === 0 || buf[lf - 1] !== CR) throw new ProxyError(errorFor(what), `bare LF line ending in the ${what} head (lines must end with CRLF)`);
    if (lf >= 3 && buf[lf - 2] === LF && buf[lf - 3] === CR) return lf + 1;
    i = lf + 1;
  }
  if (buf.length > limits.maxHeadBytes) throw tooLarge(buf, buf.length, limits, what);
  return -1;
}

function errorFor(what: "request" | "response"): "bad_request" | "upstream_bad_response" {
  return what === "request" ? "bad_request" : "upstream_bad_response";
}

function tooLarge(buf: Uint8Array, len: number, limits: HeadLimits, what: "request" | "response"): ProxyError {
  if (what === "response") return new ProxyError("upstream_bad_response", `upstream response head is larger than ${limits.maxHeadBytes} bytes`);
  const firstLine = buf.indexOf(LF);
  if (firstLine < 0 || firstLine > limits.maxHeadBytes) {
    return new ProxyError("uri_too_long", `request line is longer than ${limits.maxHeadBytes} bytes`);
  }
  return new ProxyError("head_too_large", `request head is ${len > limits.maxHeadBytes ? "larger than" : ""} ${limits.maxHeadBytes} bytes`);
}

/** Count leading empty lines (CRLF) that RFC 9112 lets a server skip before a request line. */
export function leadingCrlf(buf: Uint8Array): number {
  let i = 0;
  while (i + 1 < buf.length && buf[i] === CR && buf[i + 1] === LF) i += 2;
  return i;
}

/** The usual methods, kept as one shared string each. */
const METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"].map((m) => ({
  name: m,
  bytes: asciiBytes(m),
}));

function methodName(buf: Uint8Array, len: number): string {
  next: for (const m of METHODS) {
    if (m.bytes.length !== len) continue;
    for (let i = 0; i < len; i++) if (buf[i] !== m.bytes[i]) continue next;
    return m.name;
  }
  return latin1(buf, 0, len);
}

/** "HTTP/1." then `minor` at buf[from, from + 8). */
function isVersion(buf: Uint8Array, from: number, to: number): 0 | 1 | -1 {
  if (to - from !== 8) return -1;
  if (buf[from] !== 0x48 || buf[from + 1] !== 0x54 || buf[from + 2] !== 0x54 || buf[from + 3] !== 0x50) return -1;
  if (buf[from + 4] !== 0x2f || buf[from + 5] !== 0x31 || buf[from + 6] !== 0x2e) return -1;
  const m = buf[from + 7];
  return m === 0x31 ? 1 : m === 0x30 ? 0 : -1;
}

/**
 * Parse a request head: head[0, end), which ends with CRLFCRLF (leading empty lines already
 * skipped); bytes after `end` are not looked at.
 */
export function parseRequestHead(head: Uint8Array, limits: HeadLimits, end = head.length): RequestHead {
  const eol = crlf(head, 0, end);
  if (eol < 0) throw new ProxyError("bad_request", "request head without a line end");
  let sp1 = -1;
  let sp2 = -1;
  let extra = false;
  for (let i = 0; i < eol; i++) {
    if (head[i] !== SP) continue;
    if (sp1 < 0) sp1 = i;
    else if (sp2 < 0) sp2 = i;
    else {
      extra = true;
      break;
    }
  }
  if (sp1 <= 0 || sp2 < 0 || extra) {
    throw new ProxyError("bad_request", `malformed request line ${JSON.stringify(latin1(head, 0, Math.min(eol, 80)))}`);
  }
  if (!tokenBytes(head, 0, sp1)) throw new ProxyError("bad_request", `invalid method ${JSON.stringify(latin1(head, 0, Math.min(sp1, 40)))}`);
  if (sp2 === sp1 + 1) throw new ProxyError("bad_request", "empty request-target");
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = head[i]!;
    if (c <= 0x20 || c >= 0x7f) throw new ProxyError("bad_request", "request-target contains a control, space or non-ASCII character");
  }
  const v = isVersion(head, sp2 + 1, eol);
  if (v < 0) {
    const version = latin1(head, sp2 + 1, eol);
    if (/^HTTP\/\d\.\d$/.test(version)) throw new ProxyError("version_not_supported", `${version} is not supported; use HTTP/1.1`);
    throw new ProxyError("bad_request", `malformed HTTP version ${JSON.stringify(version.slice(0, 20))}`);
  }
  const method = methodName(head, sp1);
  const target = latin1(head, sp1 + 1, sp2);
  const minor: 0 | 1 = v === 1 ? 1 : 0;
  const f = parseFields(head, eol + 2, end, limits, "bad_request", true);
  if (f.chunked && minor === 0) throw new ProxyError("bad_request", "Transfer-Encoding in an HTTP/1.0 request");
  const upgrade = f.upgradeValue !== null && f.connection.has("upgrade") ? f.upgradeValue : null;
  return { method, target, minor, headers: f.headers, contentLength: f.contentLength, chunked: f.chunked, connection: f.connection, host: f.host, upgrade };
}

/** Parse a response head from an upstream: head[0, end), ending with CRLFCRLF. */
export function parseResponseHead(head: Uint8Array, limits: HeadLimits, end = head.length): ResponseHead {
  const eol = crlf(head, 0, end);
  const line = latin1(head, 0, eol);
  const m = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/.exec(line);
  if (!m) throw new ProxyError("upstream_bad_response", `malformed status line ${JSON.stringify(line.slice(0, 80))}`);
  const status = Number(m[2]);
  if (status < 100) throw new ProxyError("upstream_bad_response", `invalid status code ${status}`);
  const reason = m[3] ?? "";
  if (badValueChar(reason) >= 0) throw new ProxyError("upstream_bad_response", "control character in the reason phrase");
  const f = parseFields(head, eol + 2, end, limits, "upstream_bad_response", false);
  return { minor: m[1] === "1" ? 1 : 0, status, reason, headers: f.headers, contentLength: f.contentLength, chunked: f.chunked, connection: f.connection };
}

/** VCHAR, SP, HTAB, obs-text; no other control characters. */
function badValueChar(v: string): number {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return c;
  }
  return -1;
}
