/**
 * Fuzz: the SOCKS5 wire codec (src/proxy/socks5/codec.ts) and SOCKS5 addresses as targets
 * (targetFromSocks in src/policy/target.ts). The decoders are incremental: they return null
 * until a whole message is buffered, so a message split across reads must decode the same.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { canonicalHost, TargetError, targetFromSocks } from "../../../src/policy/target.ts";
import { SOCKS_REPLY as REPLY } from "../../../src/outcomes.ts";
import { decodeAuth, decodeGreeting, decodeRequest, encodeAuthStatus, encodeMethod, encodeReply, SocksError } from "../../../src/proxy/socks5/codec.ts";
import { bigBytes, enc, mutatedBytes, outcome, type Outcome } from "../../helpers/fuzz/mutate.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../../helpers/fuzz/runs.ts";

// ------------------------------------------------------------------------------- test-side encoders

interface Req {
  readonly cmd: number;
  readonly atyp: number;
  readonly addr: Uint8Array;
  readonly port: number;
}

function encodeRequest(r: Req): Uint8Array {
  const len = r.atyp === 3 ? [r.addr.length] : [];
  return Uint8Array.from([5, r.cmd, 0, r.atyp, ...len, ...r.addr, r.port >> 8, r.port & 0xff]);
}

const encodeGreeting = (methods: Uint8Array) => Uint8Array.from([5, methods.length, ...methods]);
const encodeAuth = (u: Uint8Array, p: Uint8Array) => Uint8Array.from([1, u.length, ...u, p.length, ...p]);

// ------------------------------------------------------------------------------- generators

const domainName = fc.oneof(
  fc.constantFrom(
    "example.com",
    "localhost",
    "127.1",
    "2130706433",
    "0x7f.1",
    "::1",
    "::ffff:127.0.0.1",
    "[::1]",
    "EXAMPLE.COM.",
    "bücher.example",
    "a..b",
    "a b",
    "a%2eb",
    "xn--zz",
    "ｅｖｉｌ.com",
  ),
  fc.string({ unit: fc.constantFrom(..."abcxyz0129.-_:[]%@/\\ \0\x7fé。ｅ".split("")), minLength: 1, maxLength: 30 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }),
);
const domainBytes = fc.oneof(
  { weight: 3, arbitrary: domainName.map((s) => new Uint8Array(Buffer.from(s, "utf8"))).filter((b) => b.length >= 1 && b.length <= 255) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 255 }) },
);
const request: fc.Arbitrary<Req> = fc.oneof(
  fc.record({
    cmd: fc.constantFrom(1, 2, 3),
    atyp: fc.constant(1),
    addr: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    cmd: fc.constantFrom(1, 2, 3),
    atyp: fc.constant(4),
    addr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({ cmd: fc.integer({ min: 0, max: 255 }), atyp: fc.constant(3), addr: domainBytes, port: fc.integer({ min: 0, max: 65535 }) }),
);
const tail = fc.uint8Array({ maxLength: 8 });

const requestBytes = fc.oneof(
  { weight: 6, arbitrary: mutatedBytes(request.map(encodeRequest), 3) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: bigBytes(2048) },
);
const methods = fc.uint8Array({ minLength: 1, maxLength: 255 });
const greetingBytes = fc.oneof(
  { weight: 4, arbitrary: mutatedBytes(methods.map(encodeGreeting), 3) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);
const credential = fc.uint8Array({ maxLength: 255 });
const authBytes = fc.oneof(
  {
    weight: 4,
    arbitrary: mutatedBytes(
      fc.tuple(credential, credential).map(([u, p]) => encodeAuth(u, p)),
      3,
    ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) },
);

// ------------------------------------------------------------------------------- helpers

const isSocksError = (e: unknown) => e instanceof SocksError;
const socksCode = (e: unknown) => `${(e as SocksError).reply}: ${(e as SocksError).message}`;

/** Decoded messages as plain data (subarrays as arrays) for comparison. */
function plain<T>(o: Outcome<T>): unknown {
  if (!o.ok || o.value === null) return o;
  return JSON.parse(JSON.stringify(o.value, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

/**
 * Incremental decoding: feeding the prefixes of `b` in order, the answer is null until some
 * length k, and from then on every longer prefix gives the same answer (the same message, or the
 * same error). A decoder must never need bytes it has already refused or returned.
 */
function checkMonotone<T>(b: Uint8Array, decode: (b: Uint8Array) => T | null): void {
  let settled: unknown;
  for (let k = 0; k <= b.length; k++) {
    const o = outcome(() => decode(b.subarray(0, k)), isSocksError, socksCode);
    const p = plain(o);
    if (settled !== undefined) expect({ k, got: p }).toEqual({ k, got: settled });
    else if (!(o.ok && o.value === null)) settled = p;
  }
}

// ------------------------------------------------------------------------------- properties

describe("fuzz: SOCKS5 decoders", () => {
  test(
    "decodeRequest throws only SocksError, and answers consistently as bytes arrive",
    () => {
      fuzz(
        "socks5: decodeRequest robustness and monotonicity",
        requestBytes,
        (b) => {
          const o = outcome(() => decodeRequest(b), isSocksError, socksCode);
          if (o.ok && o.value) {
            expect(o.value.consumed).toBeLessThanOrEqual(b.length);
            expect([1, 3, 4]).toContain(o.value.atyp);
          }
          if (!o.ok) {
            const reply = Number(o.code.split(":")[0]);
            expect(Object.values(REPLY) as number[]).toContain(reply);
          }
          checkMonotone(b.subarray(0, 300), decodeRequest);
        },
        { base: 1000, weight: 0.5 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "an encoded request decodes to the same fields, and every strict prefix decodes to null",
    () => {
      fuzz(
        "socks5: request round-trip",
        fc.tuple(request, tail),
        ([r, t]) => {
          const msg = encodeRequest(r);
          const got = decodeRequest(Uint8Array.from([...msg, ...t]));
          expect(got && { cmd: got.cmd, atyp: got.atyp, addr: Array.from(got.addr), port: got.port, consumed: got.consumed }).toEqual({
            cmd: r.cmd,
            atyp: r.atyp as 1 | 3 | 4,
            addr: Array.from(r.addr),
            port: r.port,
            consumed: msg.length,
          });
          for (let k = 0; k < msg.length; k++) expect(decodeRequest(msg.subarray(0, k))).toBeNull();
        },
        { base: 1000, weight: 0.5 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "decodeGreeting and decodeAuth throw only SocksError, round-trip, and answer consistently as bytes arrive",
    () => {
      fuzz(
        "socks5: greeting and auth",
        fc.tuple(greetingBytes, authBytes, methods, credential, credential, tail),
        ([g, a, ms, u, p, t]) => {
          outcome(() => decodeGreeting(g), isSocksError, socksCode);
          outcome(() => decodeAuth(a), isSocksError, socksCode);
          checkMonotone(g, decodeGreeting);
          checkMonotone(a, decodeAuth);

          const greeting = encodeGreeting(ms);
          const dg = decodeGreeting(Uint8Array.from([...greeting, ...t]));
          expect(dg && { methods: Array.from(dg.methods), consumed: dg.consumed }).toEqual({ methods: Array.from(ms), consumed: greeting.length });
          for (let k = 0; k < greeting.length; k++) expect(decodeGreeting(greeting.subarray(0, k))).toBeNull();

          const auth = encodeAuth(u, p);
          const da = decodeAuth(Uint8Array.from([...auth, ...t]));
          expect(da && { username: Array.from(da.username), password: Array.from(da.password), consumed: da.consumed }).toEqual({
            username: Array.from(u),
            password: Array.from(p),
            consumed: auth.length,
          });
          for (let k = 0; k < auth.length; k++) expect(decodeAuth(auth.subarray(0, k))).toBeNull();
        },
        { base: 500, weight: 0.2 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "the encoders produce well-formed server messages (a reply parses as a request-shaped message with 0.0.0.0:0)",
    () => {
      fuzz(
        "socks5: encoders",
        fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()),
        ([code, ok]) => {
          const reply = encodeReply(code);
          const parsed = decodeRequest(reply);
          expect(parsed && { cmd: parsed.cmd, atyp: parsed.atyp, addr: Array.from(parsed.addr), port: parsed.port, consumed: parsed.consumed }).toEqual({
            cmd: code,
            atyp: 1,
            addr: [0, 0, 0, 0],
            port: 0,
            consumed: 10,
          });
          expect(Array.from(encodeMethod(code))).toEqual([5, code]);
          expect(Array.from(encodeAuthStatus(ok))).toEqual([1, ok ? 0 : 1]);
        },
        { base: 300, weight: 0.01 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: SOCKS5 addresses as targets", () => {
  const isTargetError = (e: unknown) => e instanceof TargetError;
  const targetCode = (e: unknown) => (e as TargetError).code;

  test(
    "targetFromSocks throws only TargetError and reads IPv4/IPv6 bytes as the address they are",
    () => {
      fuzz(
        "socks5: targetFromSocks",
        request,
        (r) => {
          const o = outcome(() => targetFromSocks(r.atyp as 1 | 3 | 4, r.addr, r.port), isTargetError, targetCode);
          if (r.port === 0) {
            expect(o).toEqual({ ok: false, code: "invalid_port" });
            return;
          }
          if (r.atyp === 1) {
            expect(o).toEqual({ ok: true, value: { kind: "ipv4", host: Array.from(r.addr).join("."), port: r.port } });
          } else if (r.atyp === 4) {
            const a = ipaddr.fromByteArray(Array.from(r.addr)) as ipaddr.IPv6;
            const want = a.isIPv4MappedAddress()
              ? { kind: "ipv4" as const, host: a.toIPv4Address().toString() }
              : { kind: "ipv6" as const, host: a.toString() };
            expect(o).toEqual({ ok: true, value: { ...want, port: r.port } });
          } else {
            // DOMAINNAME: UTF-8 text, judged exactly like a host written without brackets.
            let text: string | null;
            try {
              text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(r.addr);
            } catch {
              text = null;
            }
            if (text === null) {
              expect(o).toEqual({ ok: false, code: "invalid_host_char" });
              return;
            }
            const want = outcome(() => canonicalHost(text, { bareIpv6: true }), isTargetError, targetCode);
            expect(o).toEqual(want.ok ? { ok: true, value: { ...want.value, port: r.port } } : want);
          }
        },
        { base: 1500 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("a DOMAINNAME that spells an address is judged as that address", () => {
    for (const [name, host] of [
      ["127.1", "127.0.0.1"],
      ["2130706433", "127.0.0.1"],
      ["::ffff:10.0.0.1", "10.0.0.1"],
    ] as const) {
      expect(targetFromSocks(3, enc(name), 80)).toEqual({ kind: "ipv4", host, port: 80 });
    }
  });
});
