/**
 * The head parser as it was before it read bytes directly (src/proxy/http/fields.ts): the whole
 * head decoded as latin1 text and split into strings. Kept as the reference the byte parser must
 * agree with, result for result and error message for error message (head.fuzz.test.ts).
 */
import { ProxyError } from "../../../src/outcomes.ts";
import type { Header, HeadLimits, RequestHead, ResponseHead } from "../../../src/proxy/http/head.ts";

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** VCHAR, SP, HTAB, obs-text; no other control characters. */
function badValueChar(v: string): number {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return c;
  }
  return -1;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

interface Fields {
  headers: Header[];
  contentLength: number | null;
  chunked: boolean;
  connection: Set<string>;
  host: string | null;
  upgradeValue: string | null;
}

/** Parse the header lines of a head (text between the start line and the final CRLF). */
function parseFields(text: string, start: number, limits: HeadLimits, err: "bad_request" | "upstream_bad_response", isRequest: boolean): Fields {
  const headers: Header[] = [];
  let contentLength: number | null = null;
  let te: string | null = null;
  const connection = new Set<string>();
  let host: string | null = null;
  let upgradeValue: string | null = null;
  let pos = start;
  const end = text.length - 2; // final CRLF
  while (pos < end) {
    const eol = text.indexOf("\r\n", pos);
    const line = text.slice(pos, eol);
    pos = eol + 2;
    if (line.length === 0) break;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) throw new ProxyError(err, "obsolete line folding (a header line starting with whitespace) is not accepted");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ProxyError(err, `malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (!isToken(name)) {
      const ws = /[ \t]$/.test(name);
      throw new ProxyError(
        err,
        ws ? `whitespace before the colon in header ${JSON.stringify(name.trim())}` : `invalid header name ${JSON.stringify(name.slice(0, 60))}`,
      );
    }
    const value = trimOws(line.slice(colon + 1));
    const bad = badValueChar(value);
    if (bad >= 0) throw new ProxyError(err, `control character 0x${bad.toString(16).padStart(2, "0")} in header ${name}`);
    if (headers.length >= limits.maxHeaders) {
      throw new ProxyError(err === "bad_request" ? "head_too_large" : err, `more than ${limits.maxHeaders} header lines`);
    }
    const lower = name.toLowerCase();
    headers.push({ name, lower, value });
    switch (lower) {
      case "content-length": {
        if (contentLength !== null) throw new ProxyError(err, "more than one Content-Length header");
        if (!/^\d{1,15}$/.test(value)) throw new ProxyError(err, `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
        contentLength = Number(value);
        break;
      }
      case "transfer-encoding":
        te = te === null ? value : `${te}, ${value}`;
        break;
      case "connection":
        for (const tok of value.split(",")) {
          // Folded like header names (rewrite.ts): `Connection: X_Secret` names X-Secret too.
          const low = trimOws(tok).toLowerCase();
          const t = low.includes("_") ? low.replaceAll("_", "-") : low;
          if (t) connection.add(t);
        }
        break;
      case "host":
        if (isRequest) {
          if (host !== null) throw new ProxyError(err, "more than one Host header");
          host = value;
        }
        break;
      case "upgrade":
        upgradeValue = value;
        break;
    }
  }
  let chunked = false;
  if (te !== null) {
    if (contentLength !== null) throw new ProxyError(err, "both Transfer-Encoding and Content-Length are present");
    const codings = te.split(",").map((c) => trimOws(c).toLowerCase());
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new ProxyError(
        err === "bad_request" ? "unsupported_transfer_encoding" : err,
        `Transfer-Encoding ${JSON.stringify(te.slice(0, 60))} is not supported (only a single "chunked")`,
      );
    }
    chunked = true;
  }
  return { headers, contentLength, chunked, connection, host, upgradeValue };
}

/** Parse a request head (`head` ends with CRLFCRLF, leading empty lines already skipped). */
export function textRequestHead(head: Uint8Array, limits: HeadLimits): RequestHead {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString("latin1");
  const eol = text.indexOf("\r\n");
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(" ", sp2 + 1) >= 0) {
    throw new ProxyError("bad_request", `malformed request line ${JSON.stringify(line.slice(0, 80))}`);
  }
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!isToken(method)) throw new ProxyError("bad_request", `invalid method ${JSON.stringify(method.slice(0, 40))}`);
  if (target.length === 0) throw new ProxyError("bad_request", "empty request-target");
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new ProxyError("bad_request", "request-target contains a control, space or non-ASCII character");
  }
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new ProxyError("version_not_supported", `${version} is not supported; use HTTP/1.1`);
  else throw new ProxyError("bad_request", `malformed HTTP version ${JSON.stringify(version.slice(0, 20))}`);

  const f = parseFields(text, eol + 2, limits, "bad_request", true);
  if (f.chunked && minor === 0) throw new ProxyError("bad_request", "Transfer-Encoding in an HTTP/1.0 request");
  const upgrade = f.upgradeValue !== null && f.connection.has("upgrade") ? f.upgradeValue : null;
  return { method, target, minor, headers: f.headers, contentLength: f.contentLength, chunked: f.chunked, connection: f.connection, host: f.host, upgrade };
}

/** Parse a response head from an upstream. */
export function textResponseHead(head: Uint8Array, limits: HeadLimits): ResponseHead {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString("latin1");
  const eol = text.indexOf("\r\n");
  const line = text.slice(0, eol);
  const m = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/.exec(line);
  if (!m) throw new ProxyError("upstream_bad_response", `malformed status line ${JSON.stringify(line.slice(0, 80))}`);
  const status = Number(m[2]);
  if (status < 100) throw new ProxyError("upstream_bad_response", `invalid status code ${status}`);
  const reason = m[3] ?? "";
  if (badValueChar(reason) >= 0) throw new ProxyError("upstream_bad_response", "control character in the reason phrase");
  const f = parseFields(text, eol + 2, limits, "upstream_bad_response", false);
  return { minor: m[1] === "1" ? 1 : 0, status, reason, headers: f.headers, contentLength: f.contentLength, chunked: f.chunked, connection: f.connection };
}
