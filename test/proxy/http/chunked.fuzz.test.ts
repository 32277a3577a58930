/**
 * Fuzz: the streaming chunked-body validator and the length reader (src/proxy/http/chunked.ts).
 * A proxy forwards body bytes as they arrive, so where a message ends must not depend on how
 * the bytes were split into reads.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProxyError } from "../../../src/outcomes.ts";
import { ChunkedReader, LengthReader } from "../../../src/proxy/http/chunked.ts";
import { bigBytes, chunksOf, cuts, enc, latin1, mutatedBytes, outcome } from "../../helpers/fuzz/mutate.ts";
import { refChunked } from "../../helpers/fuzz/ref-http.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../../helpers/fuzz/runs.ts";

// ------------------------------------------------------------------------------- generators

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TCHARS.split("")), minLength: 1, maxLength: 8 });
const extensions = fc
  .array(fc.tuple(token, fc.option(token, { nil: null })), { maxLength: 3 })
  .map((es) => es.map(([n, v]) => `;${n}${v === null ? "" : "=" + v}`).join(""));

/** Chunk data: any bytes, including CR, LF and NUL (data is not parsed). */
function data(seed: number, n: number): string {
  let x = seed | 0 || 1;
  let s = "";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const r = (x >>> 16) & 0xff;
    s += String.fromCharCode(r % 11 === 0 ? [13, 10, 0][r % 3]! : r);
  }
  return s;
}

function sizeText(n: number, zeros: number, upper: boolean): string {
  const hex = "0".repeat(zeros) + n.toString(16);
  return upper ? hex.toUpperCase() : hex;
}

const chunk = fc
  .record({
    size: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 41, max: 3000 }) }),
    zeros: fc.nat({ max: 2 }),
    upper: fc.boolean(),
    ext: extensions,
    seed: fc.integer(),
  })
  .map(({ size, zeros, upper, ext, seed }) => `${sizeText(size, zeros, upper)}${ext}\r\n${data(seed, size)}\r\n`);
const trailerValue = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c)),
  maxLength: 20,
});
const trailer = fc.tuple(token, trailerValue).map(([n, v]) => `${n}:${v}\r\n`);
const lastChunk = fc
  .tuple(fc.integer({ min: 1, max: 3 }), extensions, fc.array(trailer, { maxLength: 3 }))
  .map(([zeros, ext, ts]) => `${"0".repeat(zeros)}${ext}\r\n${ts.join("")}\r\n`);
const next = fc.oneof(fc.constant(""), fc.constantFrom("GET / HTTP/1.1\r\n\r\n", "0\r\n\r\n", "\r\n", "x"), fc.string({ unit: "binary-ascii", maxLength: 10 }));

/** A valid chunked body, often followed by the next message's bytes. */
const bodyText = fc.tuple(fc.array(chunk, { maxLength: 5 }), lastChunk, next).map(([cs, last, rest]) => ({ body: cs.join("") + last, rest }));
const bodySeed = bodyText.map(({ body, rest }) => enc(body + rest));

/** Bodies at the reader's caps: 12-15 hex digits, size lines around 4 KiB, trailers around 16 KiB. */
const edgeBody = fc
  .record({
    digits: fc.integer({ min: 12, max: 15 }),
    size: fc.integer({ min: 0, max: 20 }),
    extLen: fc.oneof(fc.constant(0), fc.integer({ min: 4080, max: 4100 })),
    trailerLen: fc.oneof(fc.constant(0), fc.integer({ min: 16360, max: 16400 })),
  })
  .map(({ digits, size, extLen, trailerLen }) => {
    const hex = size.toString(16);
    const sizeLine = "0".repeat(Math.max(0, digits - hex.length)) + hex + (extLen > 0 ? ";" + "e".repeat(extLen) : "");
    const trailers = trailerLen > 0 ? `X:${"v".repeat(trailerLen)}\r\n` : "";
    const first = size > 0 ? `${sizeLine}\r\n${"d".repeat(size)}\r\n0\r\n` : `${sizeLine}\r\n`;
    return enc(`${first}${trailers}\r\nNEXT`);
  });

const bodyBytes = fc.oneof(
  { weight: 8, arbitrary: mutatedBytes(bodySeed, 4) },
  { weight: 1, arbitrary: mutatedBytes(edgeBody, 1) },
  { weight: 1, arbitrary: bigBytes(64 * 1024, bodySeed) },
  { weight: 1, arbitrary: bigBytes(2048) },
);

// ------------------------------------------------------------------------------- driver

type Read =
  | { readonly kind: "done"; readonly end: number; readonly payload: number }
  | { readonly kind: "more"; readonly payload: number }
  | { readonly kind: "error"; readonly code: string };

const isProxyError = (e: unknown) => e instanceof ProxyError;
const codeOf = (e: unknown) => (e as ProxyError).code;

/** Feed the chunks in order, as the session does; `end` is an offset into the whole input. */
function read(chunks: readonly Uint8Array[], code: "bad_request" | "upstream_bad_response" = "bad_request"): Read {
  const o = outcome<Read>(
    () => {
      const r = new ChunkedReader(code);
      let offset = 0;
      for (const c of chunks) {
        const end = r.feed(c);
        if (r.done) return { kind: "done", end: offset + end, payload: r.payload };
        if (end !== c.length) throw new Error(`feed returned ${end} of ${c.length} without the message being done`);
        offset += c.length;
      }
      return { kind: "more", payload: r.payload };
    },
    isProxyError,
    codeOf,
  );
  return o.ok ? o.value : { kind: "error", code: o.code };
}

// ------------------------------------------------------------------------------- properties

describe("fuzz: ChunkedReader", () => {
  test(
    "any bytes are validated without throwing anything but a ProxyError with the reader's code",
    () => {
      fuzz(
        "chunked: robustness",
        fc.tuple(bodyBytes, fc.constantFrom("bad_request" as const, "upstream_bad_response" as const)),
        ([b, code]) => {
          const r = read([b], code);
          if (r.kind === "error") expect(r.code).toBe(code);
          if (r.kind === "done") expect(r.end).toBeLessThanOrEqual(b.length);
        },
        { base: 1500 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "a body split at random points ends at the same byte (or fails the same way) as the whole",
    () => {
      fuzz(
        "chunked: streaming equivalence",
        fc.tuple(bodyBytes, cuts),
        ([b, at]) => {
          expect(read(chunksOf(b, at))).toEqual(read([b]));
        },
        { base: 1500 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "a body fed byte by byte ends at the same byte as the whole",
    () => {
      fuzz(
        "chunked: byte-by-byte equivalence",
        mutatedBytes(bodySeed, 3).filter((b) => b.length <= 4096),
        (b) => {
          const bytes = Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
          expect(read(bytes)).toEqual(read([b]));
        },
        { base: 300, weight: 0.1 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "the reader agrees with the reference recognizer: done at the same byte, unfinished, or refused",
    () => {
      fuzz(
        "chunked: agreement with reference",
        bodyBytes,
        (b) => {
          const got = read([b]);
          const ref = refChunked(latin1(b));
          if (got.kind === "done") {
            // Soundness: never accept what the grammar rejects, never end elsewhere.
            if (ref.state !== "done")
              throw new Error(
                `reader accepted ${JSON.stringify(latin1(b.subarray(0, got.end)).slice(0, 300))} (end ${got.end}) but the reference says ${ref.state}`,
              );
            expect({ end: got.end, payload: got.payload }).toEqual({ end: ref.end, payload: ref.payload });
            return;
          }
          if (ref.nearLimits) return; // the reader may refuse near its caps
          const want = ref.state === "done" ? `done at ${ref.end}` : ref.state === "incomplete" ? "more" : "error";
          const have = got.kind === "more" ? "more" : "error";
          if (want !== have)
            throw new Error(`reader says ${have} (${JSON.stringify(got)}), reference says ${want} for ${JSON.stringify(latin1(b).slice(0, 300))}`);
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "valid bodies are accepted at their exact end with their exact payload size, however they are split",
    () => {
      fuzz(
        "chunked: valid bodies accepted",
        fc.tuple(bodyText, cuts),
        ([{ body, rest }, at]) => {
          const b = enc(body + rest);
          const payload = refChunked(body);
          expect(payload.state).toBe("done");
          const want: Read = { kind: "done", end: body.length, payload: payload.state === "done" ? payload.payload : -1 };
          expect(read([b])).toEqual(want);
          expect(read(chunksOf(b, at))).toEqual(want);
        },
        { base: 1000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "feed(buf, start) reads from start, and a finished reader consumes nothing more",
    () => {
      fuzz(
        "chunked: start offset and done",
        fc.tuple(bodyText, fc.string({ unit: "binary-ascii", maxLength: 16 }), fc.string({ unit: "binary-ascii", maxLength: 16 })),
        ([{ body, rest }, junk, after]) => {
          const b = enc(junk + body + rest);
          const r = new ChunkedReader();
          expect(r.feed(b, junk.length)).toBe(junk.length + body.length);
          expect(r.done).toBe(true);
          const more = enc(after);
          expect(r.feed(more)).toBe(0);
          expect(r.feed(more, more.length)).toBe(more.length);
        },
        { base: 500, weight: 0.3 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: LengthReader", () => {
  test(
    "a Content-Length body ends exactly at its length however it is split",
    () => {
      fuzz(
        "chunked: LengthReader",
        fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 6000 }), cuts, fc.nat({ max: 8 })),
        ([len, total, at, start]) => {
          const b = new Uint8Array(start + total);
          const r = new LengthReader(len);
          let offset = start;
          let end = -1;
          for (const c of chunksOf(b.subarray(start), at)) {
            const e = r.feed(b.subarray(0, offset + c.length), offset);
            expect(e).toBeGreaterThanOrEqual(offset);
            expect(e).toBeLessThanOrEqual(offset + c.length);
            if (r.done && end < 0) end = e;
            offset += c.length;
            if (r.done) break;
          }
          if (len === 0) expect(r.done).toBe(true);
          if (total >= len) {
            expect(r.done).toBe(true);
            expect(r.payload).toBe(len);
            if (len > 0) expect(end).toBe(start + len);
          } else {
            expect(r.done).toBe(false);
            expect(r.payload).toBe(total);
          }
        },
        { base: 500, weight: 0.2 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
