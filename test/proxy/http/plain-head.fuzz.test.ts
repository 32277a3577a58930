/**
 * Fuzz: the pass-through check for response heads (src/proxy/http/plain-head.ts) against the
 * general path. Whenever plainResponseHead accepts a head, the parser must accept it too, with the
 * same status and length and nothing hop-by-hop, and the rewrite must give back the very same
 * bytes: passing the upstream's head on is then exactly what the general path would have sent.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { findHeadEnd, parseResponseHead, type HeadLimits } from "../../../src/proxy/http/head.ts";
import { plainResponseHead } from "../../../src/proxy/http/plain-head.ts";
import { clientResponseHead } from "../../../src/proxy/http/rewrite.ts";
import { enc, mutatedBytes } from "../../helpers/fuzz/mutate.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../../helpers/fuzz/runs.ts";

const LIMITS: HeadLimits = { maxHeadBytes: 32 * 1024, maxHeaders: 20 };

const status = fc.constantFrom("200", "201", "204", "206", "301", "304", "404", "407", "500", "599", "199", "101", "100", "600", "099", "2x0");
const reasonChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x09, 0x00, 0x0a, 0x0d, 0x7f, 0x80, 0xff)).map((c) => String.fromCharCode(c));
const reason = fc.string({ unit: reasonChar, maxLength: 12 });
const statusLine = fc
  .tuple(fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "http/1.1", "HTTP/2"), status, fc.option(reason, { nil: null }))
  .map(([v, s, r]) => `${v} ${s}${r === null ? "" : ` ${r}`}`);
const name = fc.oneof(
  fc.constantFrom("Content-Type", "Date", "Server", "X-Request-Id", "Cache-Control", "ETag", "Set-Cookie", "Vary"),
  fc.constantFrom("Content-Length", "content-length", "CONTENT-LENGTH", "Content_Length", "Transfer-Encoding", "Connection", "Keep-Alive"),
  fc.constantFrom("Host", "TE", "Trailer", "Upgrade", "Proxy-Authenticate", "Proxy_Connection", "X-Unix-Socket", "Content-Lengthy"),
  fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~0az9AZ".split("")), minLength: 1, maxLength: 8 }),
  fc.constantFrom("", " X", "X ", "X\tY", "X:Y", "é"),
);
const sep = fc.constantFrom(": ", ": ", ": ", ":", ":  ", ": \t", " : ");
const valueChar = fc
  .oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.constantFrom(0x20, 0x09, 0x80, 0xe9, 0xff, 0x00, 0x0d, 0x0a, 0x7f))
  .map((c) => String.fromCharCode(c));
const value = fc.oneof(
  fc.string({ unit: valueChar, maxLength: 10 }),
  fc.constantFrom("0", "200", "007", "00", "1e3", "-1", "123456789012345", "1234567890123456", "chunked"),
);
const line = fc.tuple(name, sep, value, fc.constantFrom("", "", "", " ", "\t")).map(([n, s, v, t]) => `${n}${s}${v}${t}`);
const head = fc
  .tuple(
    statusLine,
    fc.array(line, { maxLength: 8 }),
    fc.option(fc.constantFrom("Content-Length: 200", "Content-Length: 0", "Content-Length: 5"), { nil: null }),
    fc.nat(8),
  )
  .map(([st, lines, cl, at]) => {
    const all = [...lines];
    if (cl !== null) all.splice(at % (all.length + 1), 0, cl);
    return enc(`${st}\r\n${all.map((l) => `${l}\r\n`).join("")}\r\n`);
  });

/** Heads that are clean but for their names: every name the rewrite drops, in every case and "_" spelling, among ordinary ones. */
const REWRITTEN_NAMES = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "x-unix-socket",
  "host",
];
const spelled = fc.tuple(fc.constantFrom(...REWRITTEN_NAMES), fc.nat(), fc.boolean()).map(([n, bits, underscore]) => {
  let out = "";
  for (let i = 0; i < n.length; i++) out += bits & (1 << (i % 30)) ? n[i]!.toUpperCase() : n[i]!;
  return underscore ? out.replaceAll("-", "_") : out;
});
const cleanValue = fc.string({ unit: fc.constantFrom(..."abc XYZ019/;=,.-".split("")), maxLength: 10 }).map((v) => v.trim());
const cleanHead = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(fc.constantFrom("Content-Type", "Date", "Server", "X-Te", "Hostname", "Upgrade-Insecure-Requests"), spelled), cleanValue), {
      maxLength: 6,
    }),
    fc.nat(6),
    fc.nat(9999),
  )
  .map(([lines, at, len]) => {
    const all = lines.map(([n, v]) => `${n}: ${v}`);
    all.splice(at % (all.length + 1), 0, `Content-Length: ${len}`);
    return enc(`HTTP/1.1 200 OK\r\n${all.map((l) => `${l}\r\n`).join("")}\r\n`);
  });

/** The general path's verdict on a head: its rewrite, or why it refused. */
function general(bytes: Uint8Array, end: number, contentLength: number) {
  const res = parseResponseHead(bytes.subarray(0, end), LIMITS);
  return { res, out: clientResponseHead(res, { close: false, upgrade: null, framing: { chunked: false, contentLength } }) };
}

function check(bytes: Uint8Array): boolean {
  let end: number;
  try {
    end = findHeadEnd(bytes, 0, LIMITS, "response");
  } catch {
    return true; // not a head the exchange would look at
  }
  if (end < 0) return true;
  const plain = plainResponseHead(bytes, end, LIMITS.maxHeaders);
  if (plain === null) return true;
  const { res, out } = general(bytes, end, plain.contentLength);
  expect({ status: res.status, contentLength: res.contentLength, chunked: res.chunked, minor: res.minor, connection: [...res.connection] }).toEqual({
    status: plain.status,
    contentLength: plain.contentLength,
    chunked: false,
    minor: 1,
    connection: [],
  });
  expect(Buffer.from(out).toString("latin1")).toBe(Buffer.from(bytes.subarray(0, end)).toString("latin1"));
  return true;
}

describe("fuzz: a head passed on unchanged is exactly what the rewrite would have written", () => {
  test(
    "generated heads (names, separators, values, status lines, Content-Length anywhere)",
    () => {
      let accepted = 0;
      fuzz(
        "plain response heads",
        head,
        (b) => {
          let end = -1;
          try {
            end = findHeadEnd(b, 0, LIMITS, "response");
          } catch {}
          if (end > 0 && plainResponseHead(b, end, LIMITS.maxHeaders) !== null) accepted++;
          return check(b);
        },
        { base: 20_000 },
      );
      // The generator reaches the pass-through case often enough for the property to mean something.
      expect(accepted).toBeGreaterThan(50);
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "clean heads whose names include those the rewrite drops, in any case and spelling",
    () => {
      fuzz("plain response heads, names", cleanHead, check, { base: 5_000 });
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "mutated heads",
    () => {
      fuzz("plain response heads, mutated", mutatedBytes(head, 4), check, { base: 20_000 });
    },
    FUZZ_TIMEOUT_MS,
  );

  test("what common servers send is passed on; what needs rewriting is not", () => {
    const ok = (s: string) => plainResponseHead(enc(s), s.length, 100);
    // Bun.serve, and Go's net/http (headers sorted, Content-Length first).
    expect(ok("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sat, 05 Dec 2026 00:48:24 GMT\r\nContent-Length: 200\r\n\r\n")).toEqual({
      status: 200,
      contentLength: 200,
    });
    expect(
      ok(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sat, 05 Dec 2026 00:48:24 GMT\r\nX-Content-Type-Options: nosniff\r\n\r\n",
      ),
    ).toEqual({
      status: 404,
      contentLength: 19,
    });
    // Node and nginx announce keep-alive (dropped by the rewrite); chunked and length-less bodies are re-framed.
    expect(ok("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")).toBeNull(); // the rewrite spells it Content-Length
    expect(ok("HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n")).toBeNull();
    expect(ok("HTTP/1.1 200 OK\r\nX:  two spaces\r\nContent-Length: 2\r\n\r\n")).toBeNull();
  });
});
