/**
 * Independent, deliberately simple reference recognizers for the fuzz tests: RFC 9112 request
 * and response heads, and `Transfer-Encoding: chunked` bodies in the subset the proxy accepts.
 * They share no code with src/ and are written for obviousness, not speed (all linear).
 *
 * Relaxations, on purpose (documented so a reader knows what is not checked here):
 * - request-target is any 1*VCHAR; its form (origin, absolute, authority, "*") is checked later
 *   by the target parsers, which have their own fuzz tests;
 * - the SP after a status code may be missing (RFC 9112 section 4 lets clients accept that).
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** VCHAR, SP, HTAB, obs-text: a field value after OWS is trimmed (and a reason phrase). */
const VALUE_CHARS = /^[\t\x20-\x7e\x80-\xff]*$/;

export type Ref<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: string };
const no = (why: string): { ok: false; why: string } => ({ ok: false, why });

export interface RefFields {
  readonly fields: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly contentLength: number | null;
  /** Longest Content-Length value, in digits (the parser caps it). */
  readonly contentLengthDigits: number;
  readonly chunked: boolean;
  readonly connection: ReadonlySet<string>;
  readonly host: string | null;
  readonly hasUpgradeHeader: boolean;
}

export interface RefRequest extends RefFields {
  readonly method: string;
  readonly target: string;
  readonly minor: 0 | 1;
}

export interface RefResponse extends RefFields {
  readonly minor: 0 | 1;
  readonly status: number;
  readonly reason: string;
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
}

/** `text` is a whole head ending in CRLFCRLF; returns its lines, or null if any line end is not CRLF. */
function splitLines(text: string): string[] | null {
  if (!text.endsWith("\r\n\r\n")) return null;
  const lines = text.slice(0, -4).split("\r\n");
  for (const l of lines) if (l === "" || l.includes("\r") || l.includes("\n")) return null;
  return lines;
}

function refFields(lines: readonly string[], isRequest: boolean, minor: 0 | 1): Ref<RefFields> {
  const fields: Array<{ name: string; value: string }> = [];
  const cls: string[] = [];
  const tes: string[] = [];
  const hosts: string[] = [];
  const connection = new Set<string>();
  let hasUpgradeHeader = false;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) return no(`no colon in ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    // A token cannot start with SP/HTAB (obs-fold) nor end with it (whitespace before the colon).
    if (!TOKEN.test(name)) return no(`field name ${JSON.stringify(name)} is not a token`);
    const value = trimOws(line.slice(colon + 1));
    if (!VALUE_CHARS.test(value)) return no(`bad character in the value of ${name}`);
    fields.push({ name, value });
    const lower = name.toLowerCase();
    if (lower === "content-length") cls.push(value);
    else if (lower === "transfer-encoding") tes.push(value);
    else if (lower === "host") hosts.push(value);
    else if (lower === "upgrade") hasUpgradeHeader = true;
    else if (lower === "connection") {
      for (const t of value.split(",")) {
        // Folded '_' -> '-' like header names, so `Connection: X_Y` names X-Y (and X_Y) too.
        const tok = trimOws(t).toLowerCase().replaceAll("_", "-");
        if (tok !== "") connection.add(tok);
      }
    }
  }
  if (cls.length > 1) return no("more than one Content-Length");
  if (cls.length === 1 && !/^[0-9]+$/.test(cls[0]!)) return no("Content-Length is not 1*DIGIT");
  if (tes.length > 1) return no("more than one Transfer-Encoding");
  if (tes.length === 1 && tes[0]!.toLowerCase() !== "chunked") return no("Transfer-Encoding other than chunked");
  if (tes.length === 1 && cls.length === 1) return no("Transfer-Encoding with Content-Length");
  if (tes.length === 1 && isRequest && minor === 0) return no("Transfer-Encoding in an HTTP/1.0 request");
  if (isRequest && hosts.length > 1) return no("more than one Host");
  return {
    ok: true,
    value: {
      fields,
      contentLength: cls.length === 1 ? Number(cls[0]) : null,
      contentLengthDigits: cls.length === 1 ? cls[0]!.length : 0,
      chunked: tes.length === 1,
      connection,
      host: isRequest && hosts.length === 1 ? hosts[0]! : null,
      hasUpgradeHeader,
    },
  };
}

/** request-line = method SP request-target SP HTTP-version; then field lines. */
export function refRequestHead(text: string): Ref<RefRequest> {
  const lines = splitLines(text);
  if (!lines) return no("line ends are not all CRLF, or an empty line inside");
  const m = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(lines[0]!);
  if (!m) return no("malformed request-line");
  const method = m[1]!;
  const target = m[2]!;
  if (!TOKEN.test(method)) return no("method is not a token");
  if (!/^[\x21-\x7e]+$/.test(target)) return no("request-target is not 1*VCHAR");
  const minor = m[3] === "1" ? 1 : 0;
  const f = refFields(lines.slice(1), true, minor);
  if (!f.ok) return f;
  return { ok: true, value: { ...f.value, method, target, minor } };
}

/**
 * status-line = HTTP-version SP 3DIGIT [SP reason-phrase]. The grammar allows any 3DIGIT; codes
 * below 100 have no meaning and are refused. (RFC 9110 section 15 calls only 100-599 valid; the
 * parser forwards 600-999, which is a semantic question rather than a framing one, so it is
 * allowed here.)
 */
export function refResponseHead(text: string): Ref<RefResponse> {
  const lines = splitLines(text);
  if (!lines) return no("line ends are not all CRLF, or an empty line inside");
  const m = /^HTTP\/1\.([01]) ([0-9]{3})(?: (.*))?$/s.exec(lines[0]!);
  if (!m) return no("malformed status-line");
  const status = Number(m[2]);
  if (status < 100) return no(`status code ${status} is below 100`);
  const reason = m[3] ?? "";
  if (!VALUE_CHARS.test(reason)) return no("bad character in the reason phrase");
  const minor = m[1] === "1" ? 1 : 0;
  const f = refFields(lines.slice(1), false, minor);
  if (!f.ok) return f;
  return { ok: true, value: { ...f.value, minor, status, reason } };
}

// ------------------------------------------------------------------------------- chunked

export type RefChunked =
  | { readonly state: "done"; readonly end: number; readonly payload: number; readonly nearLimits: boolean }
  | { readonly state: "incomplete"; readonly nearLimits: boolean }
  | { readonly state: "invalid"; readonly nearLimits: boolean };

const T = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/** chunk-size *( ";" token [ "=" token ] ) CRLF */
const SIZE_LINE = new RegExp(`([0-9A-Fa-f]+)((?:;${T}+(?:=${T}+)?)*)\\r\\n`, "y");
/** What can still become a size line with more bytes. */
const SIZE_PREFIX = new RegExp(`^(?:[0-9A-Fa-f]*|[0-9A-Fa-f]+(?:;${T}+(?:=${T}+)?)*(?:;${T}*|;${T}+=${T}*|\\r)?)$`);
/** field-line CRLF in a trailer: token ":" value (no CTLs) CRLF */
const TRAILER_LINE = new RegExp(`${T}+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n`, "y");
const TRAILER_PREFIX = new RegExp(`^(?:${T}*|${T}+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r?|\\r)$`);

/**
 * Recognize one chunked message at the start of `s` (latin1). `nearLimits` says the input came
 * near a cap of the streaming reader (13 hex digits, a 4 KiB size line, a 16 KiB trailer
 * section), where refusing is allowed.
 */
export function refChunked(s: string): RefChunked {
  let pos = 0;
  let payload = 0;
  let near = false;
  for (;;) {
    SIZE_LINE.lastIndex = pos;
    const m = SIZE_LINE.exec(s);
    if (!m) {
      const rest = s.slice(pos);
      const digits = /^[0-9A-Fa-f]*/.exec(rest)![0].length;
      const lineChars = /^[!#$%&'*+\-.^_`|~0-9A-Za-z;=]*/.exec(rest)![0].length;
      const nearLimits = near || digits > 13 || lineChars > 4000;
      return { state: SIZE_PREFIX.test(rest) ? "incomplete" : "invalid", nearLimits };
    }
    if (m[1]!.length > 13) return { state: "invalid", nearLimits: true };
    if (m[0].length > 4000) near = true;
    const size = parseInt(m[1]!, 16);
    pos += m[0].length;
    if (size === 0) break;
    if (pos + size > s.length) return { state: "incomplete", nearLimits: near };
    payload += size;
    pos += size;
    const crlf = s.slice(pos, pos + 2);
    if (crlf === "\r\n") pos += 2;
    else if (crlf === "" || crlf === "\r") return { state: "incomplete", nearLimits: near };
    else return { state: "invalid", nearLimits: near };
  }
  const trailerStart = pos;
  for (;;) {
    const nearLimits = near || pos - trailerStart > 16000;
    if (s.startsWith("\r\n", pos)) return { state: "done", end: pos + 2, payload, nearLimits };
    TRAILER_LINE.lastIndex = pos;
    const m = TRAILER_LINE.exec(s);
    if (!m) {
      const rest = s.slice(pos);
      const lf = rest.indexOf("\n");
      const partial = pos - trailerStart + (lf < 0 ? rest.length : lf + 1);
      return { state: TRAILER_PREFIX.test(rest) ? "incomplete" : "invalid", nearLimits: near || partial > 16000 };
    }
    pos += m[0].length;
  }
}
