/**
 * The common response the proxy passes on byte for byte: an HTTP/1.1 status line and header
 * lines the rewrite (rewrite.ts, clientResponseHead) would write back exactly as they came —
 * `Name: value` with one space and no other optional whitespace, no hop-by-hop header (so no
 * Connection, Keep-Alive, Transfer-Encoding, ...), no Host, and exactly one Content-Length in
 * its canonical spelling. For such a head the rewrite is the identity, so the proxy can send the
 * upstream's own bytes (head and body in one write) instead of decoding the head into strings
 * and encoding it again. Anything else returns null and takes the general path, which parses,
 * validates and rewrites as before; plain-head.fuzz.test.ts holds the two equal.
 *
 * Scanned as bytes: no string or object is made for a head that qualifies.
 */
import { asciiBytes, NO_TOKENS } from "./fields.ts";
import type { ResponseHead } from "./head.ts";
import { REWRITTEN_NAMES } from "./rewrite.ts";

export interface PlainResponse {
  readonly status: number;
  readonly contentLength: number;
}

/** A plain response as the exchange keeps it (its headers stay in the upstream's bytes). */
export function asResponseHead(p: PlainResponse): ResponseHead {
  return { minor: 1, status: p.status, reason: "", headers: [], contentLength: p.contentLength, chunked: false, connection: NO_TOKENS };
}

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

/** Field-value and reason-phrase bytes: VCHAR, SP, HTAB, obs-text (the parser's rule). */
function valueByte(c: number): boolean {
  return c === HTAB || (c >= 0x20 && c !== 0x7f);
}

/**
 * Header names the rewrite drops or replaces (rewrite.ts: its hop-by-hop set, which holds
 * Content-Length too, and Host), as bytes; compared in lower case with "_" read as "-". A head
 * that has one is not passed on.
 */
const REWRITTEN = [...REWRITTEN_NAMES].map(asciiBytes);
const CONTENT_LENGTH = asciiBytes("Content-Length");

/** buf[from, to) equals `name` ignoring ASCII case, "_" counting as "-". */
function sameName(buf: Uint8Array, from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = buf[from + i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    else if (c === 0x5f) c = 0x2d;
    if (c !== name[i]) return false;
  }
  return true;
}

function exact(buf: Uint8Array, from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[from + i] !== name[i]) return false;
  return true;
}

/**
 * `buf[0, end)` is a whole response head (ending CRLFCRLF, as findHeadEnd found it). Its status
 * and length when the head can be passed on unchanged; null otherwise. Status 1xx, 101, 204, 304
 * and 407 are never plain here: each has handling of its own.
 */
export function plainResponseHead(buf: Uint8Array, end: number, maxHeaders: number): PlainResponse | null {
  // "HTTP/1.1 " DIGIT DIGIT DIGIT SP
  if (end < 17) return null;
  if (buf[0] !== 0x48 || buf[1] !== 0x54 || buf[2] !== 0x54 || buf[3] !== 0x50 || buf[4] !== 0x2f) return null;
  if (buf[5] !== 0x31 || buf[6] !== 0x2e || buf[7] !== 0x31 || buf[8] !== SP) return null;
  const d1 = buf[9]! - 0x30;
  const d2 = buf[10]! - 0x30;
  const d3 = buf[11]! - 0x30;
  if (d1 < 2 || d1 > 5 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9 || buf[12] !== SP) return null;
  const status = d1 * 100 + d2 * 10 + d3;
  if (status === 204 || status === 304 || status === 407) return null;
  let i = 13;
  while (i < end && buf[i] !== CR) {
    if (!valueByte(buf[i]!)) return null;
    i++;
  }
  if (buf[i + 1] !== LF) return null;
  i += 2;
  let contentLength = -1;
  let lines = 0;
  while (i < end - 2) {
    if (++lines > maxHeaders) return null;
    const nameStart = i;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === nameStart || buf[i] !== 0x3a || buf[i + 1] !== SP) return null;
    const nameEnd = i;
    const valueStart = i + 2;
    i = valueStart;
    while (i < end && buf[i] !== CR) {
      if (!valueByte(buf[i]!)) return null;
      i++;
    }
    if (buf[i + 1] !== LF) return null;
    const valueEnd = i;
    i += 2;
    // No optional whitespace the parser would trim.
    if (valueEnd > valueStart) {
      const first = buf[valueStart]!;
      const last = buf[valueEnd - 1]!;
      if (first === SP || first === HTAB || last === SP || last === HTAB) return null;
    }
    if (exact(buf, nameStart, nameEnd, CONTENT_LENGTH)) {
      if (contentLength >= 0) return null;
      const n = valueEnd - valueStart;
      if (n < 1 || n > 15 || (n > 1 && buf[valueStart] === 0x30)) return null; // the rewrite writes the number without leading zeros
      let v = 0;
      for (let k = valueStart; k < valueEnd; k++) {
        const d = buf[k]! - 0x30;
        if (d < 0 || d > 9) return null;
        v = v * 10 + d;
      }
      contentLength = v;
      continue;
    }
    for (const name of REWRITTEN) if (sameName(buf, nameStart, nameEnd, name)) return null;
  }
  if (i !== end - 2 || buf[i] !== CR || buf[i + 1] !== LF || contentLength < 0) return null;
  return { status, contentLength };
}
