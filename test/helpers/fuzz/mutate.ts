/**
 * Generic mutators for the fuzz tests: a seed (a valid message) plus a few random edits.
 * Positions are drawn as naturals and reduced modulo the current length, so one edit list
 * applies to a message of any size.
 */
import fc from "fast-check";

export const enc = (s: string): Uint8Array => Buffer.from(s, "latin1");
export const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

/** Byte strings worth inserting into text protocols: line ends, separators, controls, high bytes. */
export const SPECIAL_INSERTS: readonly string[] = [
  "\r",
  "\n",
  "\r\n",
  "\r\n\r\n",
  "\n\n",
  "\r\r\n",
  "\0",
  " ",
  "\t",
  "  ",
  ":",
  ": ",
  ";",
  "=",
  ",",
  '"',
  "\x0b",
  "\x0c",
  "\x7f",
  "\x80",
  "\xa0",
  "\xff",
  "0",
  "f",
  "F",
  "00000000000000",
  "fffffffffffff",
  "chunked",
  "Content-Length: 0\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Host: a.example\r\n",
  "0\r\n\r\n",
  "HTTP/1.1",
];

export type ByteEdit =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "set"; readonly at: number; readonly byte: number }
  | { readonly op: "insert"; readonly at: number; readonly text: string }
  | { readonly op: "delete"; readonly at: number; readonly len: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "dupLine"; readonly line: number }
  | { readonly op: "dropLine"; readonly line: number }
  | { readonly op: "swapCase"; readonly at: number };

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SPECIAL_INSERTS) }, { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 4 }) }),
  }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("dupLine" as const), line: fc.nat() }),
  fc.record({ op: fc.constant("dropLine" as const), line: fc.nat() }),
  fc.record({ op: fc.constant("swapCase" as const), at: fc.nat() }),
);

/** [start, end) of every line, the end including its LF (the last line may have none). */
function lines(b: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0a) {
      out.push([s, i + 1]);
      s = i + 1;
    }
  }
  if (s < b.length) out.push([s, b.length]);
  return out;
}

export function applyByteEdit(b: Uint8Array, e: ByteEdit): Uint8Array {
  const n = b.length;
  switch (e.op) {
    case "flip": {
      if (n === 0) return b;
      const out = Uint8Array.from(b);
      const i = e.at % n;
      out[i] = out[i]! ^ (1 << e.bit);
      return out;
    }
    case "set": {
      if (n === 0) return b;
      const out = Uint8Array.from(b);
      out[e.at % n] = e.byte;
      return out;
    }
    case "insert": {
      const at = e.at % (n + 1);
      return Buffer.concat([b.subarray(0, at), enc(e.text), b.subarray(at)]);
    }
    case "delete": {
      if (n === 0) return b;
      const at = e.at % n;
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + e.len))]);
    }
    case "truncate":
      return b.subarray(0, e.at % (n + 1));
    case "dupLine":
    case "dropLine": {
      const ls = lines(b);
      if (ls.length === 0) return b;
      const [s, end] = ls[e.line % ls.length]!;
      return e.op === "dupLine" ? Buffer.concat([b.subarray(0, end), b.subarray(s, end), b.subarray(end)]) : Buffer.concat([b.subarray(0, s), b.subarray(end)]);
    }
    case "swapCase": {
      if (n === 0) return b;
      const out = Uint8Array.from(b);
      const i = e.at % n;
      const c = out[i]!;
      if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) out[i] = c ^ 0x20;
      return out;
    }
  }
}

/** A seed with 0..maxEdits random edits applied. */
export function mutatedBytes(seed: fc.Arbitrary<Uint8Array>, maxEdits = 4): fc.Arbitrary<Uint8Array> {
  return fc.tuple(seed, fc.array(byteEdit, { maxLength: maxEdits })).map(([s, edits]) => edits.reduce(applyByteEdit, s));
}

/** Cut points for splitting a buffer into chunks; normalized against the length by `chunksOf`. */
export const cuts: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 12 });

/** Split `b` at the given cut points (taken modulo length + 1, sorted, deduplicated); chunks may be empty. */
export function chunksOf(b: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}

// ------------------------------------------------------------------------------- strings

export type StringEdit =
  | { readonly op: "insert"; readonly at: number; readonly text: string }
  | { readonly op: "delete"; readonly at: number; readonly len: number }
  | { readonly op: "replace"; readonly at: number; readonly text: string }
  | { readonly op: "duplicate"; readonly at: number; readonly len: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "upper"; readonly at: number };

export function stringEdit(alphabet: fc.Arbitrary<string>): fc.Arbitrary<StringEdit> {
  return fc.oneof(
    fc.record({ op: fc.constant("insert" as const), at: fc.nat(), text: alphabet }),
    fc.record({ op: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant("replace" as const), at: fc.nat(), text: alphabet }),
    fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("upper" as const), at: fc.nat() }),
  );
}

export function applyStringEdit(s: string, e: StringEdit): string {
  const n = s.length;
  switch (e.op) {
    case "insert": {
      const at = e.at % (n + 1);
      return s.slice(0, at) + e.text + s.slice(at);
    }
    case "delete": {
      if (n === 0) return s;
      const at = e.at % n;
      return s.slice(0, at) + s.slice(at + e.len);
    }
    case "replace": {
      if (n === 0) return e.text;
      const at = e.at % n;
      return s.slice(0, at) + e.text + s.slice(at + 1);
    }
    case "duplicate": {
      if (n === 0) return s;
      const at = e.at % n;
      const piece = s.slice(at, at + e.len);
      return s.slice(0, at) + piece + piece + s.slice(at + piece.length);
    }
    case "truncate":
      return s.slice(0, e.at % (n + 1));
    case "upper": {
      if (n === 0) return s;
      const at = e.at % n;
      return s.slice(0, at) + s.charAt(at).toUpperCase() + s.slice(at + 1);
    }
  }
}

export function mutatedString(seed: fc.Arbitrary<string>, alphabet: fc.Arbitrary<string>, maxEdits = 3): fc.Arbitrary<string> {
  return fc.tuple(seed, fc.array(stringEdit(alphabet), { maxLength: maxEdits })).map(([s, edits]) => edits.reduce(applyStringEdit, s));
}

/** The outcome of a call: its value, a typed error's code, or the unexpected error itself. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string };

/**
 * Run `fn`; a typed error (recognized by `isTyped`, described by `codeOf`) becomes an outcome,
 * anything else (TypeError, RangeError, a plain Error) is rethrown: that is a bug.
 */
export function outcome<T>(fn: () => T, isTyped: (e: unknown) => boolean, codeOf: (e: unknown) => string): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (isTyped(e)) return { ok: false, code: codeOf(e) };
    const err = e as Error;
    throw new Error(`untyped error escaped: ${err?.constructor?.name}: ${err?.message}`, { cause: e });
  }
}

// ------------------------------------------------------------------------------- large inputs

/**
 * Large buffers (up to `max` bytes) filled by a seeded PRNG rather than element by element, so a
 * 64 KiB input costs no more to generate than a small one. Modes: "any" (uniform bytes), "text"
 * (printable with some CR, LF, NUL, high bytes), "lines" (text lines ending in CRLF), "repeat"
 * (a seed message repeated).
 */
export function bigBytes(max: number, repeatSeed?: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const modes = fc.constantFrom("any" as const, "text" as const, "lines" as const);
  const plain = fc.record({ seed: fc.integer(), len: fc.integer({ min: 0, max }), mode: modes }).map(({ seed, len, mode }) => fill(seed, len, mode));
  if (!repeatSeed) return plain;
  const repeated = fc.tuple(repeatSeed, fc.integer({ min: 0, max })).map(([s, len]) => {
    if (s.length === 0) return s;
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i += s.length) out.set(s.subarray(0, Math.min(s.length, len - i)), i);
    return out;
  });
  return fc.oneof(plain, repeated);
}

function fill(seed: number, len: number, mode: "any" | "text" | "lines"): Uint8Array {
  let x = seed | 0 || 0x9e3779b9;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const r = next();
    if (mode === "any") {
      out[i] = r & 0xff;
    } else if (mode === "lines" && r % 23 === 0 && i + 1 < len) {
      out[i] = 0x0d;
      out[++i] = 0x0a;
    } else if (r % 97 === 0) {
      out[i] = [0x0d, 0x0a, 0x00, 0x80, 0xff, 0x09][(r >>> 8) % 6]!;
    } else {
      out[i] = 0x20 + ((r >>> 8) % 95);
    }
  }
  return out;
}
