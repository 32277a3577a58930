/**
 * Fuzz: the strict HTTP/1.1 head parser (src/proxy/http/head.ts), driven the way the proxy's
 * session drives it: skip leading CRLFs, findHeadEnd on a growing buffer (re-scanning from the
 * previous length minus 3), then parseRequestHead / parseResponseHead on the head.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProxyError } from "../../../src/outcomes.ts";
import {
  findHeadEnd,
  leadingCrlf,
  parseRequestHead,
  parseResponseHead,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
} from "../../../src/proxy/http/head.ts";
import { bigBytes, chunksOf, cuts, enc, latin1, mutatedBytes, outcome, type Outcome } from "../../helpers/fuzz/mutate.ts";
import { textRequestHead, textResponseHead } from "../../helpers/fuzz/head-text.ts";
import { refRequestHead, refResponseHead, type RefFields } from "../../helpers/fuzz/ref-http.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../../helpers/fuzz/runs.ts";

const DEFAULT_LIMITS: HeadLimits = { maxHeadBytes: 32 * 1024, maxHeaders: 100 };

// ------------------------------------------------------------------------------- generators

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TCHARS.split("")), minLength: 1, maxLength: 12 });
const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "HEAD", "OPTIONS", "CONNECT", "DELETE", "PATCH"), token);
const vchar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const requestTarget = fc.oneof(
  fc.constantFrom("/", "*", "http://example.com/", "https://a.example:8443/x?y=1", "example.com:443", "[::1]:8080", "http://[::1]/", "/index.html?q=%20"),
  fc.string({ unit: vchar, minLength: 0, maxLength: 40 }).map((s) => "/" + s),
);
const valueChar = fc
  .oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0x21, max: 0x7e }) },
    { weight: 2, arbitrary: fc.constantFrom(0x20, 0x09) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  )
  .map((c) => String.fromCharCode(c));
const fieldValue = fc.string({ unit: valueChar, maxLength: 40 });
const ows = fc.constantFrom("", "", " ", "\t", "  ", " \t");
const field = fc.oneof(
  fc.tuple(fc.constantFrom("Host", "host", "HOST"), fc.constantFrom("example.com", "a.example:8080", "[::1]:80", "127.1", "")),
  fc.tuple(
    fc.constantFrom("Content-Length", "content-length"),
    fc.oneof(fc.nat({ max: 1_000_000 }).map(String), fc.constantFrom("0", "007", "", "1,1", "-1", "+5", "1 2", "0x10", "999999999999999", "9999999999999999")),
  ),
  fc.tuple(
    fc.constantFrom("Transfer-Encoding", "transfer-encoding"),
    fc.constantFrom("chunked", "Chunked", "gzip, chunked", "chunked, gzip", "identity", "chunked,", "chunked"),
  ),
  fc.tuple(fc.constant("Connection"), fc.constantFrom("keep-alive", "close", "Upgrade", "keep-alive, Upgrade", "upgrade,,close")),
  fc.tuple(fc.constant("Upgrade"), fc.constantFrom("websocket", "h2c", "")),
  fc.tuple(token, fieldValue),
);
const fieldLine = fc.tuple(field, ows, ows).map(([[n, v], a, b]) => `${n}:${a}${v}${b}\r\n`);
const fieldLines = fc.array(fieldLine, { maxLength: 12 }).map((ls) => ls.join(""));

/** A request head that is usually valid, with optional leading empty lines. */
const requestHeadText = fc
  .tuple(fc.nat({ max: 3 }), method, requestTarget, fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.0"), fieldLines)
  .map(([crlfs, m, t, v, fs]) => `${"\r\n".repeat(crlfs)}${m} ${t} ${v}\r\n${fs}\r\n`);
const responseHeadText = fc
  .tuple(fc.constantFrom("HTTP/1.1", "HTTP/1.0"), fc.integer({ min: 100, max: 599 }), fc.option(fieldValue, { nil: null }), fieldLines)
  .map(([v, s, r, fs]) => `${v} ${s}${r === null ? "" : " " + r}\r\n${fs}\r\n`);

/** Bytes that may follow the head on the connection (a body or a pipelined request). */
const pipelined = fc.oneof(
  fc.constant(""),
  fc.constantFrom("GET / HTTP/1.1\r\n\r\n", "hello", "\n\n", "\r\n", "0\r\n\r\n"),
  fc.string({ unit: "binary-ascii", maxLength: 20 }),
);

const requestSeed = fc.tuple(requestHeadText, pipelined).map(([h, p]) => enc(h + p));
const responseSeed = fc.tuple(responseHeadText, pipelined).map(([h, p]) => enc(h + p));

const limits: fc.Arbitrary<HeadLimits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(DEFAULT_LIMITS) },
  { weight: 1, arbitrary: fc.record({ maxHeadBytes: fc.integer({ min: 1, max: 400 }), maxHeaders: fc.integer({ min: 0, max: 12 }) }) },
);

const requestBytes = fc.oneof({ weight: 6, arbitrary: mutatedBytes(requestSeed, 4) }, { weight: 1, arbitrary: bigBytes(64 * 1024, requestSeed) });
const responseBytes = fc.oneof({ weight: 6, arbitrary: mutatedBytes(responseSeed, 4) }, { weight: 1, arbitrary: bigBytes(64 * 1024, responseSeed) });

// ------------------------------------------------------------------------------- drivers

type Read<H> =
  | { readonly kind: "head"; readonly end: number; readonly head: H }
  | { readonly kind: "more" }
  | { readonly kind: "error"; readonly code: string };

const isProxyError = (e: unknown) => e instanceof ProxyError;
const codeOf = (e: unknown) => (e as ProxyError).code;

function asRead<H>(o: Outcome<Read<H>>): Read<H> {
  return o.ok ? o.value : { kind: "error", code: o.code };
}

/** The session's request-head loop, fed chunk by chunk. `end` counts skipped empty lines too. */
function readRequest(chunks: readonly Uint8Array[], lim: HeadLimits): Read<RequestHead> {
  return asRead(
    outcome<Read<RequestHead>>(
      () => {
        let buf: Uint8Array | null = null;
        let skipped = 0;
        let scan = 0;
        for (const chunk of chunks) {
          if (chunk.length === 0) continue;
          buf = buf ? Buffer.concat([buf, chunk]) : chunk;
          const skip = leadingCrlf(buf);
          if (skip > 0) {
            skipped += skip;
            buf = buf.subarray(skip);
            if (buf.length === 0) {
              buf = null;
              continue;
            }
          }
          const end = findHeadEnd(buf, scan, lim, "request");
          if (end < 0) {
            scan = Math.max(0, buf.length - 3);
            continue;
          }
          return { kind: "head", end: skipped + end, head: parseRequestHead(buf.subarray(0, end), lim) };
        }
        return { kind: "more" };
      },
      isProxyError,
      codeOf,
    ),
  );
}

/** The session's response-head loop (it re-scans from 0 on every chunk). */
function readResponse(chunks: readonly Uint8Array[], lim: HeadLimits): Read<ResponseHead> {
  return asRead(
    outcome<Read<ResponseHead>>(
      () => {
        let buf: Uint8Array | null = null;
        for (const chunk of chunks) {
          buf = buf ? Buffer.concat([buf, chunk]) : chunk;
          const end = findHeadEnd(buf, 0, lim, "response");
          if (end < 0) continue;
          return { kind: "head", end, head: parseResponseHead(buf.subarray(0, end), lim) };
        }
        return { kind: "more" };
      },
      isProxyError,
      codeOf,
    ),
  );
}

/** A head as plain data, for comparing two reads. */
function plain(r: Read<RequestHead | ResponseHead>): unknown {
  if (r.kind !== "head") return r;
  return { end: r.end, ...r.head, connection: [...r.head.connection].sort() };
}

function sameFields(h: RequestHead | ResponseHead, ref: RefFields, what: string): void {
  const got = {
    headers: h.headers.map((x) => ({ name: x.name, value: x.value })),
    contentLength: h.contentLength,
    chunked: h.chunked,
    connection: [...h.connection].sort(),
  };
  const want = { headers: [...ref.fields], contentLength: ref.contentLength, chunked: ref.chunked, connection: [...ref.connection].sort() };
  expect({ what, ...got }).toEqual({ what, ...want });
  for (const x of h.headers) expect(x.lower).toBe(x.name.toLowerCase());
}

/** The head the reference should see: after leading CRLFs, up to and including the first CRLFCRLF. */
function refSlice(text: string): { skip: number; head: string | null } {
  const skip = /^(?:\r\n)*/.exec(text)![0].length;
  const i = text.indexOf("\r\n\r\n", skip);
  return { skip, head: i < 0 ? null : text.slice(skip, i + 4) };
}

/** First LF not preceded by CR, at or after `from`, or -1. */
function firstBareLf(b: Uint8Array, from = 0): number {
  for (let i = from; i < b.length; i++) if (b[i] === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) return i;
  return -1;
}

// ------------------------------------------------------------------------------- properties

describe("fuzz: request heads", () => {
  test(
    "reading any bytes as a request head never throws anything but a ProxyError",
    () => {
      fuzz(
        "head: request robustness",
        fc.tuple(requestBytes, limits),
        ([b, lim]) => {
          readRequest([b], lim);
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "a request head split at random points reads the same as the whole (same end, same fields, or the same error code)",
    () => {
      fuzz(
        "head: request streaming equivalence",
        fc.tuple(requestBytes, cuts, limits),
        ([b, at, lim]) => {
          const whole = readRequest([b], lim);
          const split = readRequest(chunksOf(b, at), lim);
          expect(plain(split)).toEqual(plain(whole));
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "a request head fed byte by byte reads the same as the whole",
    () => {
      fuzz(
        "head: request byte-by-byte equivalence",
        fc.tuple(mutatedBytes(requestSeed, 3), limits),
        ([b, lim]) => {
          const whole = readRequest([b], lim);
          const bytes = Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
          const split = readRequest(bytes, lim);
          expect(plain(split)).toEqual(plain(whole));
        },
        { base: 300, weight: 0.1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "the parser accepts no request head that the RFC 9112 reference rejects, and reads the same fields",
    () => {
      fuzz(
        "head: request soundness vs reference",
        fc.tuple(requestBytes, limits),
        ([b, lim]) => {
          const r = readRequest([b], lim);
          if (r.kind !== "head") return;
          const { skip, head } = refSlice(latin1(b));
          expect(skip + (head?.length ?? -1)).toBe(r.end);
          const ref = refRequestHead(head!);
          if (!ref.ok) throw new Error(`parser accepted ${JSON.stringify(head)} but the reference rejects it: ${ref.why}`);
          expect({ method: r.head.method, target: r.head.target, minor: r.head.minor, host: r.head.host }).toEqual({
            method: ref.value.method,
            target: ref.value.target,
            minor: ref.value.minor,
            host: ref.value.host,
          });
          sameFields(r.head, ref.value, "request");
          expect(r.head.upgrade !== null).toBe(ref.value.hasUpgradeHeader && ref.value.connection.has("upgrade"));
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "every request head the reference accepts within the limits is accepted, and an unfinished one asks for more",
    () => {
      fuzz(
        "head: request completeness vs reference",
        fc.tuple(mutatedBytes(requestSeed, 2), limits),
        ([b, lim]) => {
          const r = readRequest([b], lim);
          const { skip, head } = refSlice(latin1(b));
          const body = b.subarray(skip);
          if (head === null) {
            // No end yet: more bytes are needed unless a bare LF or the size limit already condemns it.
            if (firstBareLf(body) < 0 && body.length <= lim.maxHeadBytes) expect(r).toEqual({ kind: "more" });
            return;
          }
          const ref = refRequestHead(head);
          if (!ref.ok) return;
          const within = head.length <= lim.maxHeadBytes && ref.value.fields.length <= lim.maxHeaders && ref.value.contentLengthDigits <= 15;
          if (!within) return;
          if (r.kind !== "head") throw new Error(`the reference accepts ${JSON.stringify(head)} but the parser says ${JSON.stringify(r)}`);
          expect(r.end).toBe(skip + head.length);
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "parseRequestHead on any text ending in CRLFCRLF throws only ProxyError",
    () => {
      fuzz(
        "head: parseRequestHead direct robustness",
        fc.tuple(fc.oneof(mutatedBytes(requestSeed, 6), bigBytes(4096)), limits),
        ([b, lim]) => {
          const head = Buffer.concat([b, enc("\r\n\r\n")]);
          outcome(() => parseRequestHead(head, lim), isProxyError, codeOf);
          outcome(() => parseResponseHead(head, lim), isProxyError, codeOf);
        },
        { base: 1000, weight: 0.5 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: response heads", () => {
  test(
    "reading any bytes as a response head never throws anything but a ProxyError, however they are split",
    () => {
      fuzz(
        "head: response robustness and streaming equivalence",
        fc.tuple(responseBytes, cuts, limits),
        ([b, at, lim]) => {
          const whole = readResponse([b], lim);
          expect(plain(readResponse(chunksOf(b, at), lim))).toEqual(plain(whole));
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "the parser accepts no response head that the reference rejects, and the reference's heads are accepted within the limits",
    () => {
      fuzz(
        "head: response soundness and completeness vs reference",
        fc.tuple(responseBytes, limits),
        ([b, lim]) => {
          const r = readResponse([b], lim);
          const text = latin1(b);
          const i = text.indexOf("\r\n\r\n");
          const head = i < 0 ? null : text.slice(0, i + 4);
          const ref = head === null ? null : refResponseHead(head);
          if (r.kind === "head") {
            expect(r.end).toBe(head?.length ?? -1);
            if (!ref!.ok) throw new Error(`parser accepted ${JSON.stringify(head)} but the reference rejects it: ${ref!.why}`);
            expect({ minor: r.head.minor, status: r.head.status, reason: r.head.reason }).toEqual({
              minor: ref!.value.minor,
              status: ref!.value.status,
              reason: ref!.value.reason,
            });
            sameFields(r.head, ref!.value, "response");
          } else if (ref?.ok && head!.length <= lim.maxHeadBytes && ref.value.fields.length <= lim.maxHeaders && ref.value.contentLengthDigits <= 15) {
            throw new Error(`the reference accepts ${JSON.stringify(head)} but the parser says ${JSON.stringify(r)}`);
          }
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: findHeadEnd and leadingCrlf", () => {
  test(
    "findHeadEnd finds the first CRLFCRLF, refuses a bare LF before it, and enforces the size limit",
    () => {
      fuzz(
        "head: findHeadEnd vs reference",
        fc.tuple(fc.oneof(mutatedBytes(requestSeed, 4), bigBytes(8192)), limits, fc.constantFrom("request" as const, "response" as const)),
        ([b, lim, what]) => {
          const got = outcome(() => findHeadEnd(b, 0, lim, what), isProxyError, codeOf);
          // The rule, read line by line: at each LF, first the size limit (so the answer never
          // depends on how the bytes were split into reads), then bare LF, then the blank line.
          const tooLarge = what === "request" ? ["uri_too_long", "head_too_large"] : ["upstream_bad_response"];
          let expected: { ok: true; value: number } | { ok: false; codes: string[] } | null = null;
          for (let lf = b.indexOf(0x0a); lf >= 0 && expected === null; lf = b.indexOf(0x0a, lf + 1)) {
            if (lf + 1 > lim.maxHeadBytes) expected = { ok: false, codes: tooLarge };
            else if (lf === 0 || b[lf - 1] !== 0x0d) expected = { ok: false, codes: [what === "request" ? "bad_request" : "upstream_bad_response"] };
            else if (lf >= 3 && b[lf - 2] === 0x0a && b[lf - 3] === 0x0d) expected = { ok: true, value: lf + 1 };
          }
          expected ??= b.length > lim.maxHeadBytes ? { ok: false, codes: tooLarge } : { ok: true, value: -1 };
          if (expected.ok) expect(got).toEqual(expected);
          else {
            expect(got.ok).toBe(false);
            if (!got.ok) expect(expected.codes).toContain(got.code);
          }
        },
        { base: 1500, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "leadingCrlf counts exactly the leading CRLF pairs",
    () => {
      fuzz(
        "head: leadingCrlf",
        fc.array(fc.constantFrom("\r\n", "\r", "\n", "G", "\r\n\r\n", " "), { maxLength: 12 }).map((parts) => enc(parts.join(""))),
        (b) => {
          const n = leadingCrlf(b);
          expect(n).toBe(/^(?:\r\n)*/.exec(latin1(b))![0].length);
        },
        { base: 500, weight: 0.05 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

/** A parse as plain data: the head (Connection tokens sorted) or the error's code and message. */
function parsed(fn: () => RequestHead | ResponseHead): unknown {
  try {
    const h = fn();
    return { ...h, connection: [...h.connection].sort() };
  } catch (e) {
    if (!(e instanceof ProxyError)) throw e;
    return { code: e.code, message: e.message };
  }
}

/** The complete head at the start of `b` (after leading empty lines), as the session finds it, with what follows it; or null. */
function completeHead(b: Uint8Array, lim: HeadLimits, what: "request" | "response"): { buf: Uint8Array; end: number } | null {
  const buf = what === "request" ? b.subarray(leadingCrlf(b)) : b;
  try {
    const end = findHeadEnd(buf, 0, lim, what);
    return end < 0 ? null : { buf, end };
  } catch {
    return null;
  }
}

describe("fuzz: the byte parser agrees with the text parser it replaced", () => {
  test(
    "request heads: the same head, or the same error code and message",
    () => {
      fuzz(
        "head: request bytes vs text",
        fc.tuple(requestBytes, limits),
        ([b, lim]) => {
          const h = completeHead(b, lim, "request");
          if (h === null) return;
          // The session hands the parser its whole buffer and where the head ends.
          const want = parsed(() => textRequestHead(h.buf.subarray(0, h.end), lim));
          expect(parsed(() => parseRequestHead(h.buf, lim, h.end))).toEqual(want);
          expect(parsed(() => parseRequestHead(h.buf.subarray(0, h.end), lim))).toEqual(want);
        },
        { base: 3000, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "response heads: the same head, or the same error code and message",
    () => {
      fuzz(
        "head: response bytes vs text",
        fc.tuple(responseBytes, limits),
        ([b, lim]) => {
          const h = completeHead(b, lim, "response");
          if (h === null) return;
          const want = parsed(() => textResponseHead(h.buf.subarray(0, h.end), lim));
          expect(parsed(() => parseResponseHead(h.buf, lim, h.end))).toEqual(want);
          expect(parsed(() => parseResponseHead(h.buf.subarray(0, h.end), lim))).toEqual(want);
        },
        { base: 3000, weight: 1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("common names are shared strings in their usual spellings only; others keep the client's spelling", () => {
    const lim = DEFAULT_LIMITS;
    const h = parseRequestHead(enc("GET / HTTP/1.1\r\nHost: a\r\nuser-agent: b\r\nHOST-X: c\r\nACCEPT: d\r\nX_Y: e\r\n\r\n"), lim);
    expect(h.headers.map((x) => [x.name, x.lower, x.value])).toEqual([
      ["Host", "host", "a"],
      ["user-agent", "user-agent", "b"],
      ["HOST-X", "host-x", "c"],
      ["ACCEPT", "accept", "d"],
      ["X_Y", "x_y", "e"],
    ]);
    expect(parseRequestHead(enc("PATCH / HTTP/1.0\r\n\r\n"), lim)).toMatchObject({ method: "PATCH", minor: 0 });
    expect(parseRequestHead(enc("PATCHY / HTTP/1.1\r\n\r\n"), lim).method).toBe("PATCHY");
  });
});
