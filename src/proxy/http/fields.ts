/**
 * The header lines of a head, read from its bytes. Strings are made only for what the proxy
 * keeps: each value, and each name unless it is a common one in its usual spelling, which is
 * shared (`Host`, `user-agent`, ...). Checks are made on the bytes, in the order and with the
 * words the head parser's contract (head.ts) gives; error texts are built only on the way out.
 * (head.fuzz.test.ts holds this equal to the string parser it replaced.)
 */
import { ProxyError } from "../../outcomes.ts";

export interface Header {
  /** As received (case preserved, for forwarding). */
  readonly name: string;
  readonly lower: string;
  /** Without leading/trailing whitespace. */
  readonly value: string;
}

export interface HeadLimits {
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Whether buf[from, to) is a token (RFC 9110 section 5.6.2); empty is not. */
export function tokenBytes(buf: Uint8Array, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) if (TCHAR[buf[i]!] === 0) return false;
  return true;
}

const ASCII = new TextEncoder();

/** The bytes of an ASCII string, made natively (no JS callback per character). */
export function asciiBytes(s: string): Uint8Array {
  return ASCII.encode(s);
}

/** buf[from, to) as a string, one character per byte. */
export function latin1(buf: Uint8Array, from: number, to: number): string {
  if (from >= to) return "";
  return Buffer.prototype.latin1Slice.call(buf, from, to);
}

/** Common header names in their usual spellings, kept as one shared string each. */
const COMMON = [
  "Host",
  "User-Agent",
  "Accept",
  "Accept-Encoding",
  "Accept-Language",
  "Accept-Ranges",
  "Authorization",
  "Cache-Control",
  "Connection",
  "Content-Encoding",
  "Content-Length",
  "Content-Type",
  "Cookie",
  "Date",
  "ETag",
  "Expires",
  "If-Modified-Since",
  "If-None-Match",
  "Keep-Alive",
  "Last-Modified",
  "Location",
  "Origin",
  "Pragma",
  "Proxy-Authorization",
  "Proxy-Connection",
  "Range",
  "Referer",
  "Server",
  "Set-Cookie",
  "Transfer-Encoding",
  "Upgrade",
  "Vary",
  "Sec-Fetch-Mode",
  "Sec-Fetch-Site",
  "Sec-Fetch-Dest",
  "X-Forwarded-For",
  "X-Requested-With",
];

interface Known {
  readonly bytes: Uint8Array;
  readonly header: { readonly name: string; readonly lower: string };
}

/** By length: the common spellings (as listed, and in lower case) of that many bytes. */
const KNOWN: Known[][] = [];
for (const name of COMMON) {
  const lower = name.toLowerCase();
  for (const spelling of new Set([name, lower])) {
    KNOWN[spelling.length] ??= [];
    KNOWN[spelling.length]!.push({ bytes: asciiBytes(spelling), header: { name: spelling, lower } });
  }
}

/** The shared name and lower-case name for buf[from, to) when it is a common spelling, else null. */
function knownName(buf: Uint8Array, from: number, to: number): Known["header"] | null {
  const list = KNOWN[to - from];
  if (list === undefined) return null;
  next: for (const k of list) {
    const b = k.bytes;
    for (let i = 0; i < b.length; i++) if (buf[from + i] !== b[i]) continue next;
    return k.header;
  }
  return null;
}

/** Index of the first CRLF at or after `from` (its LF before `limit`), or -1. */
export function crlf(buf: Uint8Array, from: number, limit: number): number {
  let i = from;
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= limit) return -1;
    if (lf > from && buf[lf - 1] === CR) return lf - 1;
    i = lf + 1;
  }
}

/** The first control character (not HTAB) in buf[from, to), or -1. */
function badValueByte(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if ((c < 0x20 && c !== HTAB) || c === 0x7f) return c;
  }
  return -1;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Whether buf[from, to) is 1 to 15 decimal digits. */
function digits15(buf: Uint8Array, from: number, to: number): boolean {
  if (to - from < 1 || to - from > 15) return false;
  for (let i = from; i < to; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return true;
}

/** The Connection tokens of a head without a Connection header (never written to). */
export const NO_TOKENS: ReadonlySet<string> = new Set<string>();

export interface Fields {
  headers: Header[];
  contentLength: number | null;
  chunked: boolean;
  connection: ReadonlySet<string>;
  host: string | null;
  upgradeValue: string | null;
}

/**
 * Parse the header lines of a head, buf[0, headEnd) ending with CRLFCRLF: from `start` (just
 * after the start line's CRLF) to its final CRLF.
 */
export function parseFields(
  buf: Uint8Array,
  start: number,
  headEnd: number,
  limits: HeadLimits,
  err: "bad_request" | "upstream_bad_response",
  isRequest: boolean,
): Fields {
  const headers: Header[] = [];
  let contentLength: number | null = null;
  let te: string | null = null;
  let connection: Set<string> | null = null;
  let host: string | null = null;
  let upgradeValue: string | null = null;
  let pos = start;
  const end = headEnd - 2; // final CRLF
  while (pos < end) {
    const eol = crlf(buf, pos, headEnd);
    if (eol === pos) break;
    const first = buf[pos]!;
    if (first === SP || first === HTAB) throw new ProxyError(err, "obsolete line folding (a header line starting with whitespace) is not accepted");
    let colon = -1;
    for (let i = pos; i < eol; i++) {
      if (buf[i] === COLON) {
        colon = i;
        break;
      }
    }
    if (colon <= pos) throw new ProxyError(err, `malformed header line ${JSON.stringify(latin1(buf, pos, Math.min(eol, pos + 60)))}`);
    if (!tokenBytes(buf, pos, colon)) {
      const name = latin1(buf, pos, colon);
      const ws = /[ \t]$/.test(name);
      throw new ProxyError(
        err,
        ws ? `whitespace before the colon in header ${JSON.stringify(name.trim())}` : `invalid header name ${JSON.stringify(name.slice(0, 60))}`,
      );
    }
    let a = colon + 1;
    let b = eol;
    while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++;
    while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--;
    const bad = badValueByte(buf, a, b);
    if (bad >= 0) throw new ProxyError(err, `control character 0x${bad.toString(16).padStart(2, "0")} in header ${latin1(buf, pos, colon)}`);
    if (headers.length >= limits.maxHeaders) {
      throw new ProxyError(err === "bad_request" ? "head_too_large" : err, `more than ${limits.maxHeaders} header lines`);
    }
    const known = knownName(buf, pos, colon);
    const name = known === null ? latin1(buf, pos, colon) : known.name;
    const lower = known === null ? name.toLowerCase() : known.lower;
    const value = latin1(buf, a, b);
    headers.push({ name, lower, value });
    switch (lower) {
      case "content-length": {
        if (contentLength !== null) throw new ProxyError(err, "more than one Content-Length header");
        if (!digits15(buf, a, b)) throw new ProxyError(err, `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
        contentLength = Number(value);
        break;
      }
      case "transfer-encoding":
        te = te === null ? value : `${te}, ${value}`;
        break;
      case "connection":
        connection ??= new Set<string>();
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
    pos = eol + 2;
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
  return { headers, contentLength, chunked, connection: connection ?? NO_TOKENS, host, upgradeValue };
}
