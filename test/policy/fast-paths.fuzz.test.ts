/**
 * Fuzz: every fast path of the policy engine against the slow path it stands in for.
 *
 * - plainName (canonical names skip the URL parser) against canonicalHostByUrl, outcome for
 *   outcome, errors included;
 * - parseIpv6Groups / formatIpv6 / isCanonicalDottedQuad against ipaddr.js;
 * - StrTable (hash probes by range, no substrings) against a Map of the substrings, also with
 *   thousands of keys (its BitFilter grown several times);
 * - BitFilter: it never says "not added" of a hash that was added, and it does say it of most
 *   others (a filter that always said "maybe" would be correct and useless);
 * - large compiled policies (the hash tables past their small size) against the reference
 *   matcher, also with two policies compiled one after the other and queried in turn (a reload);
 *   long lists of IPv4 literals and CIDRs (behind their filters) against the reference too.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { formatIpv6, isCanonicalDottedQuad, parseIpv6Groups } from "../../src/policy/ip-text.ts";
import { canonicalIp, canonicalIpByIpaddr } from "../../src/policy/ip.ts";
import { parsePattern } from "../../src/policy/pattern.ts";
import { parseOverride } from "../../src/config/overrides.ts";
import { Logger } from "../../src/log.ts";
import { isLoopbackAddr, parseHostPort, resolveListenHost } from "../../src/config/addr.ts";
import { compilePolicy } from "../../src/policy/rules.ts";
import { mayBeAddress } from "../../src/policy/route.ts";
import { BitFilter } from "../../src/policy/bit-filter.ts";
import { hashBackward, hashForward, StrTable } from "../../src/policy/str-table.ts";
import { canonicalHost, canonicalHostByUrl, plainName, TargetError } from "../../src/policy/target.ts";
import { mutatedString, outcome } from "../helpers/fuzz/mutate.ts";
import { refMatches, type PatternSpec } from "../helpers/fuzz/ref-host.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

const v6Part = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
/**
 * 8 x 16-bit parts: one in five in the IPv4-mapped block (::ffff:a.b.c.d), and one in five a
 * near miss of it (one of the first five groups not zero, or the sixth not 0xffff).
 */
const v6Parts = fc.oneof(
  { weight: 3, arbitrary: fc.array(v6Part, { minLength: 8, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat({ max: 5 }), fc.integer({ min: 1, max: 0xffff }), fc.constantFrom(0, 0xfffe, 0x7fff), fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }))
      .map(([i, x, sixth, a, b]) => {
        const p = [0, 0, 0, 0, 0, 0xffff, a, b];
        if (i < 5) p[i] = x;
        else p[5] = sixth;
        return p;
      }),
  },
);
/**
 * An IPv6 address spelled out in full, or with "::" in place of any run of groups (zero or not,
 * so not only the canonical spelling), with leading zeros or upper case.
 */
const v6Text = fc.tuple(v6Parts, fc.nat(8), fc.nat(8), fc.boolean(), fc.boolean()).map(([p, a, b, pad, upper]) => {
  const g = p.map((x) => {
    const h = pad ? x.toString(16).padStart(4, "0") : x.toString(16);
    return upper ? h.toUpperCase() : h;
  });
  const from = Math.min(a, b);
  const to = Math.max(a, b);
  return from === to ? g.join(":") : `${g.slice(0, from).join(":")}::${g.slice(to).join(":")}`;
});

const isTargetError = (e: unknown) => e instanceof TargetError;
const codeOf = (e: unknown) => (e as TargetError).code;

describe("fuzz: plainName agrees with the URL host parser", () => {
  const label = fc.oneof(
    fc.stringMatching(/^[a-z0-9_-]{1,8}$/),
    fc.constantFrom("xn--bcher-kva", "xn--", "xn--zz", "0x1f", "0x", "1", "255", "0", "a".repeat(63), "a".repeat(64), "com", "localhost"),
  );
  const host = fc.tuple(fc.array(label, { minLength: 1, maxLength: 6 }), fc.constantFrom("", ".")).map(([ls, dot]) => ls.join(".") + dot);
  const mutated = mutatedString(host, fc.constantFrom(".", "A", "Z", "-", "_", "%", ":", "é", "０", "。", "[", "]", " "), 3);
  const long = fc.integer({ min: 1, max: 60 }).map((n) => Array.from({ length: n }, (_, i) => `l${i}`).join("."));
  /** Numeric hosts: dotted quads and near misses (leading zeros, octets over 255, hex, 1 to 5 parts, a trailing dot). */
  const octet = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map(String),
    fc.integer({ min: 0, max: 999 }).map(String),
    fc.constantFrom("00", "01", "0x7f", "010", "256", "4294967295"),
  );
  const numeric = fc.tuple(fc.array(octet, { minLength: 1, maxLength: 5 }), fc.constantFrom("", ".")).map(([os, dot]) => os.join(".") + dot);
  /** IPv6 literals (hex groups read without the URL parser), with and without brackets. */
  const v6 = fc.tuple(v6Text, fc.constantFrom("[]", "", "[", "]")).map(([text, br]) => `${br.startsWith("[") ? "[" : ""}${text}${br.endsWith("]") ? "]" : ""}`);
  const v6Mutated = mutatedString(v6, fc.constantFrom(":", "::", "0", "f", "g", ".", "%", "[", "]"), 2);

  test(
    "same outcome (value or error code) for canonicalHost and canonicalHostByUrl; plainName only accepts what the URL parser leaves unchanged",
    () => {
      fuzz(
        "fast paths: plainName vs URL",
        fc.oneof(host, mutated, long, numeric, v6, v6Mutated),
        (raw) => {
          for (const opts of [{}, { fromUrl: true }, { bareIpv6: true }]) {
            const fast = outcome(() => canonicalHost(raw, opts), isTargetError, codeOf);
            const slow = outcome(() => canonicalHostByUrl(raw, opts), isTargetError, codeOf);
            expect({ raw, fast }).toEqual({ raw, fast: slow });
          }
          const plain = plainName(raw);
          if (plain !== null) expect(canonicalHostByUrl(raw)).toEqual({ kind: "domain", host: plain });
          return true;
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: address text readers and writers agree with ipaddr.js", () => {
  const v6Mutated = mutatedString(v6Text, fc.constantFrom(":", "::", "0", "f", "g", ".", "%", "1.2.3.4", "00000"), 3);

  test(
    "parseIpv6Groups gives ipaddr.js's parts, or null, and never accepts what ipaddr.js refuses",
    () => {
      fuzz(
        "fast paths: parseIpv6Groups vs ipaddr",
        fc.oneof(v6Text, v6Mutated),
        (s) => {
          const fast = parseIpv6Groups(s);
          let ref: number[] | null = null;
          try {
            ref = ipaddr.IPv6.parse(s).parts;
          } catch {
            ref = null;
          }
          if (fast !== null) expect({ s, parts: fast }).toEqual({ s, parts: ref as number[] });
          // Plain hex groups (no IPv4 tail, no zone) that ipaddr.js reads are read here too.
          else if (ref !== null && !s.includes(".") && !s.includes("%")) throw new Error(`${s}: ipaddr.js reads it, the fast reader does not`);
          return true;
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("formatIpv6 is ipaddr.js's toString", () => {
    fuzz(
      "fast paths: formatIpv6 vs ipaddr",
      v6Parts,
      (p) => {
        expect(formatIpv6(p)).toBe(new ipaddr.IPv6(p).toString());
        return true;
      },
      { base: 3000 },
    );
  });

  test("isCanonicalDottedQuad is isValidFourPartDecimal with an unchanged canonical text", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("256", "999", "00", "01", "1000", "", "x"));
    const quad = fc.array(octet, { minLength: 3, maxLength: 5 }).map((o) => o.join("."));
    fuzz(
      "fast paths: isCanonicalDottedQuad vs ipaddr",
      fc.oneof(quad, mutatedString(quad, fc.constantFrom(".", "0", "9", " ", "a"), 2)),
      (s) => {
        const ref = ipaddr.IPv4.isValidFourPartDecimal(s) && ipaddr.IPv4.parse(s).toString() === s;
        expect({ s, fast: isCanonicalDottedQuad(s) }).toEqual({ s, fast: ref });
        return true;
      },
      { base: 3000 },
    );
  });
});

describe("fuzz: canonicalIp agrees with ipaddr.js", () => {
  const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("256", "00", "01", "0x7f", "", "x"));
  const quad = fc.array(octet, { minLength: 1, maxLength: 5 }).map((o) => o.join("."));
  test("the same address or null, for dotted quads, hex groups and near misses of both", () => {
    fuzz(
      "fast paths: canonicalIp vs ipaddr",
      fc.oneof(
        quad,
        v6Text,
        mutatedString(quad, fc.constantFrom(".", "0", ":", "a", "１", "٣"), 2),
        mutatedString(v6Text, fc.constantFrom(":", "::", ".", "%", "1.2.3.4", "f", "1", "ｆ"), 2),
      ),
      (s) => {
        expect({ s, fast: canonicalIp(s) }).toEqual({ s, fast: canonicalIpByIpaddr(s) });
        return true;
      },
      { base: 3000 },
    );
  });
});

describe("fuzz: no_proxy entries reach ipaddr.js whenever it could take them", () => {
  const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("0x7f", "0xA", "017", "256", ""));
  const quad = fc.array(octet, { minLength: 1, maxLength: 4 }).map((o) => o.join("."));
  const block = fc.tuple(fc.oneof(quad, v6Text), fc.nat(140)).map(([a, bits]) => `${a}/${bits}`);
  const zoned = fc.tuple(v6Text, fc.stringMatching(/^[0-9a-z]{1,6}$/)).map(([a, zone]) => `${a}%${zone}`);
  const name = fc.stringMatching(/^[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}$/);
  test("mayBeAddress says yes to everything ipaddr.js takes as an address or a block (lower case, as entries are)", () => {
    fuzz(
      "fast paths: no_proxy address gate vs ipaddr",
      fc.oneof(quad, v6Text, block, zoned, name, mutatedString(fc.oneof(quad, v6Text, block), fc.constantFrom(".", ":", "/", "x", "g", "%", "-"), 2)),
      (raw) => {
        const s = raw.toLowerCase();
        let takes = ipaddr.isValid(s);
        if (!takes && s.includes("/")) {
          try {
            ipaddr.parseCIDR(s);
            takes = true;
          } catch {
            // not a block either
          }
        }
        if (takes) expect({ s, gate: mayBeAddress(s) }).toEqual({ s, gate: true });
        return true;
      },
      { base: 2000 },
    );
  });
});

describe("fuzz: listener addresses read without ipaddr.js", () => {
  const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("127", "0", "00", "256"));
  const quad = fc.array(octet, { minLength: 4, maxLength: 4 }).map((o) => o.join("."));
  test("resolveListenHost and isLoopbackAddr answer as ipaddr.js does for dotted quads", () => {
    fuzz(
      "fast paths: listener addresses vs ipaddr",
      quad,
      (h) => {
        const valid = ipaddr.IPv4.isValidFourPartDecimal(h);
        expect({ h, host: resolveListenHost(h) }).toEqual({
          h,
          host: valid ? { host: ipaddr.IPv4.parse(h).toString(), substituted: false } : { host: "127.0.0.1", substituted: true },
        });
        expect({ h, loopback: isLoopbackAddr(h) }).toEqual({ h, loopback: ipaddr.isValid(h) && ipaddr.parse(h).range() === "loopback" });
        return true;
      },
      { base: 2000 },
    );
  });
});

describe("fuzz: scans that replaced start-up regular expressions", () => {
  /** Whether `fn` throws an error whose message contains `what`. */
  const refusal = (fn: () => unknown, what: string): boolean => {
    try {
      fn();
      return false;
    } catch (e) {
      return (e as Error).message.includes(what);
    }
  };
  const text = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.string({ maxLength: 8, unit: "grapheme" }),
    fc.stringMatching(/^[0-9a-zA-Z_.?{}\\-]{0,8}$/),
    // Digit runs of every length around the port check's 5, zero-padded or not.
    fc.tuple(fc.nat(), fc.nat({ max: 3 })).map(([n, pad]) => "0".repeat(pad) + String(n)),
    // A secret word in mixed case, now and then with one letter cut or swapped for a look-alike
    // that upper- or lower-cases to ASCII (long s, dotless i, Kelvin sign).
    fc
      .tuple(
        fc.constantFrom("token", "password", "secret", "authorization", "cookie"),
        fc.array(fc.boolean(), { minLength: 13, maxLength: 13 }),
        fc.nat(12),
        fc.constantFrom("", "", "ſ", "ı", "\u212a", "-"),
      )
      .map(([w, up, at, swap]) => {
        const mixed = [...w].map((c, i) => (up[i] ? c.toUpperCase() : c)).join("");
        const i = at % mixed.length;
        return swap === "" ? mixed : mixed.slice(0, i) + swap + mixed.slice(i + 1);
      }),
    fc.constantFrom(
      "65535",
      "65536",
      "99999",
      "123456",
      "0000008080",
      "１２",
      "٣",
      "ａ",
      "É",
      "ß-x",
      "x\u0000",
      "a\u00a0b",
      "a\u2028",
      "\ufeff",
      "a\u180eb",
      "TOKEN",
      "Cookie",
      "pass word",
      "a=b",
      'a"b',
    ),
  );
  test("a listener port, a TOML bare key in -c, and the characters patterns do not support", () => {
    fuzz(
      "fast paths: scans vs regular expressions",
      text,
      (s) => {
        // The port of a listener address: 1 to 5 digits and at most 65535, else the default (1 here).
        // (Without what the address reader strips first: a path, user info, outer space.)
        if (!/[:/@]/.test(s) && s.trim() === s) {
          const port = /^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : 1;
          expect({ s, port: parseHostPort(`127.0.0.1:${s}`, 1).port }).toEqual({ s, port });
        }
        const bare = /^[A-Za-z0-9_-]+$/.test(s);
        // A key with no quote, dot, "=" or outer space is refused for its segment exactly when it is not bare.
        if (s !== "" && !/["=.]/.test(s) && s.trim() === s)
          expect({ s, refused: refusal(() => parseOverride(`${s}=1`), "invalid key segment") }).toEqual({ s, refused: !bare });
        // A text log line: a value is written bare exactly when it has no white space, '"' or
        // '=' (else quoted), and a field whose name says secret in any case is redacted.
        const lines: string[] = [];
        const log = new Logger("info", "text", { write: (l: string) => void lines.push(l) });
        log.info("m", { v: s, [`x${s}`]: "value", authToken: s });
        const plain = /^[^\s"=]+$/.test(s);
        expect({ s, v: lines[0]!.includes(` v=${plain ? s : JSON.stringify(s)} `) }).toEqual({ s, v: true });
        // Redacted exactly where the case-insensitive expression matches the name.
        const secret = /token|password|secret|authorization|cookie/i.test(`x${s}`);
        expect({ s, redacted: lines[0]!.includes(` x${s}=[redacted] `) }).toEqual({ s, redacted: secret });
        if (s !== "") expect({ s, token: lines[0]!.endsWith(" authToken=[redacted]\n") }).toEqual({ s, token: true });
        if (/[?{}\\]/.test(s))
          expect({ s, refused: refusal(() => parsePattern(`a${s}.com`, "allowed_domains"), "is not supported in patterns") }).toEqual({ s, refused: true });
        return true;
      },
      { base: 2000 },
    );
  });
});

describe("fuzz: StrTable agrees with a Map", () => {
  const key = fc.oneof(fc.stringMatching(/^[a-c.]{0,6}$/), fc.string({ maxLength: 8 }));
  test("set, get and find by range, in both hash directions, across the small and the slotted layout", () => {
    fuzz(
      "fast paths: StrTable vs Map",
      fc.tuple(
        fc.boolean(),
        fc.array(fc.tuple(key, fc.integer()), { maxLength: 80 }),
        fc.array(fc.tuple(key, fc.nat(), fc.nat()), { maxLength: 40 }),
        fc.option(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 200 })), { nil: null }),
      ),
      ([backward, sets, probes, reserve]) => {
        const table = new StrTable<number>(backward);
        const map = new Map<string, number>();
        for (const [i, [k, v]] of sets.entries()) {
          // Room reserved before any key, or midway (after `at` keys): the answers do not change.
          if (reserve && i === Math.min(reserve[0], sets.length - 1)) table.reserve(reserve[1]);
          table.set(k, v);
          map.set(k, v);
          expect(table.get(k)).toBe(v);
        }
        expect(table.size).toBe(map.size);
        for (const [s, a, b] of probes) {
          const start = a % (s.length + 1);
          const end = start + (b % (s.length - start + 1));
          const h = backward ? hashBackward(s, start, end) : hashForward(s, start, end);
          expect(table.find(h, s, start, end)).toBe(map.get(s.slice(start, end)));
        }
        for (const k of map.keys()) expect(table.get(k)).toBe(map.get(k));
        return true;
      },
      { base: 1000 },
    );
  });
});

describe("fuzz: StrTable with thousands of keys agrees with a Map", () => {
  test("present and absent keys, across the filter's and the slots' growth", () => {
    fuzz(
      "fast paths: large StrTable vs Map",
      fc.tuple(
        fc.boolean(),
        fc.array(fc.nat({ max: 6000 }), { minLength: 100, maxLength: 3000, size: "max" }),
        fc.array(fc.nat({ max: 6000 }), { maxLength: 300 }),
      ),
      ([backward, keys, probes]) => {
        const table = new StrTable<number>(backward);
        const map = new Map<string, number>();
        // Room reserved up front in half the runs, as a compile does.
        if (keys.length % 2 === 0) table.reserve(keys.length);
        for (const n of keys) {
          table.set(`h${n}.example.com`, n);
          map.set(`h${n}.example.com`, n);
        }
        expect(table.size).toBe(map.size);
        for (const n of [...keys, ...probes]) {
          const k = `h${n}.example.com`;
          expect(table.get(k)).toBe(map.get(k));
          // The same key as a range of a longer string, the way lookups probe.
          const s = `x.${k}`;
          const h = backward ? hashBackward(s, 2, s.length) : hashForward(s, 2, s.length);
          expect(table.find(h, s, 2, s.length)).toBe(map.get(k));
        }
        return true;
      },
      { base: 40, weight: 0.002 },
    );
  });
});

describe("fuzz: BitFilter", () => {
  test("every hash added answers maybe, across growth", () => {
    fuzz(
      "fast paths: BitFilter keeps what it was given",
      fc.array(fc.integer(), { maxLength: 5000, size: "max" }),
      (added) => {
        const f = new BitFilter();
        added.forEach((h, i) => {
          f.add(h);
          // Checked as it grows, not only at the end: every earlier hash must survive each resize.
          if (i % 97 === 0) for (let j = 0; j <= i; j += 13) expect(f.mayHave(added[j]!)).toBe(true);
        });
        for (const h of added) expect(f.mayHave(h)).toBe(true);
        expect(f.size).toBe(added.length);
        return true;
      },
      { base: 60, weight: 0.005 },
    );
  });

  test("most hashes never added answer no, at every size, in 16 to 32 bits per hash", () => {
    // Powers of two are the fullest a filter gets before it grows (16 bits per hash).
    for (const n of [100, 1000, 8192, 10_000, 65_536, 100_000]) {
      const f = new BitFilter();
      for (let i = 0; i < n; i++) f.add(hashForward(`api${i}.svc.example.com`, 0, `api${i}.svc.example.com`.length));
      if (n >= 64) expect({ n, atLeast16: f.bits >= 16 * n, atMost32: f.bits <= 32 * n }).toEqual({ n, atLeast16: true, atMost32: true });
      let maybe = 0;
      const probes = 20_000;
      for (let i = 0; i < probes; i++) if (f.mayHave(hashForward(`other${i}.example.com`, 0, `other${i}.example.com`.length))) maybe++;
      // Two bits of a 32-bit word, with at least 16 bits of room per key: at most about 1 in 50 (measured: 1.4-2.0%).
      expect({ n, rate: maybe / probes < 0.025 }).toEqual({ n, rate: true });
    }
  });
});

describe("fuzz: long lists of IPv4 literals and CIDRs agree with the reference", () => {
  // Narrow blocks only, so that most addresses are decided by the literals (or by nothing), not
  // by a block that covers every address.
  const octet = fc.nat({ max: 15 });
  const v4 = fc.tuple(fc.constantFrom(20, 21, 22, 23), octet, octet, fc.nat({ max: 255 })).map((o) => o.join("."));
  const bits = fc.constantFrom(24, 28, 30, 32);
  const entry = fc.oneof(
    fc.tuple(v4, fc.option(fc.constantFrom(443, 8443), { nil: null })).map(([host, port]): { text: string; spec: PatternSpec } => ({
      text: port === null ? host : `${host}:${port}`,
      spec: { form: "ip", kind: "ipv4", host, port },
    })),
    fc.tuple(v4, bits).map(([host, b]): { text: string; spec: PatternSpec } => {
      const net = ipaddr.IPv4.networkAddressFromCIDR(`${host}/${b}`).toString();
      return { text: `${net}/${b}`, spec: { form: "cidr", kind: "ipv4", net, bits: b } };
    }),
  );
  test(
    "allow and deny answer as the reference for addresses in and out of the lists, on two ports",
    () => {
      fuzz(
        "fast paths: long IPv4 lists",
        fc.tuple(
          fc.array(entry, { minLength: 150, maxLength: 700, size: "max" }),
          fc.array(fc.tuple(v4, fc.constantFrom(443, 8443)), { minLength: 20, maxLength: 60 }),
        ),
        ([entries, targets]) => {
          const texts = entries.map((e) => e.text);
          const { policy, problems } = compilePolicy({ allowed_domains: texts, denied_domains: texts, allow_unix_sockets: [], allow_local_binding: false });
          expect(problems).toEqual([]);
          // Random addresses, every literal, and an address inside every block.
          const inside = entries.map((e): readonly [string, number] => [e.spec.form === "ip" ? e.spec.host : e.spec.form === "cidr" ? e.spec.net : "", 443]);
          for (const [host, port] of [...targets, ...inside]) {
            const t = { kind: "ipv4" as const, host, port };
            const want = entries.some((e) => refMatches(e.spec, t));
            expect({ host, port, allow: policy.allow.match(t) !== null, deny: policy.deny.matchDenied(t) !== null }).toEqual({
              host,
              port,
              allow: want,
              deny: want,
            });
            // The same address inside IPv6: IPv4-compatible (::a.b.c.d) is that address for both
            // lists; NAT64 (64:ff9b::a.b.c.d) reaches it only as far as the denylist goes.
            const [o1, o2, o3, o4] = host.split(".").map(Number) as [number, number, number, number];
            const hi = o1 * 256 + o2;
            const lo = o3 * 256 + o4;
            const compat = { kind: "ipv6" as const, host: new ipaddr.IPv6([0, 0, 0, 0, 0, 0, hi, lo]).toString(), port };
            const nat64 = { kind: "ipv6" as const, host: new ipaddr.IPv6([0x64, 0xff9b, 0, 0, 0, 0, hi, lo]).toString(), port };
            expect({ compat: compat.host, allow: policy.allow.match(compat) !== null, deny: policy.deny.matchDenied(compat) !== null }).toEqual({
              compat: compat.host,
              allow: want,
              deny: want,
            });
            expect({ nat64: nat64.host, allow: policy.allow.match(nat64) !== null, deny: policy.deny.matchDenied(nat64) !== null }).toEqual({
              nat64: nat64.host,
              allow: false,
              deny: want,
            });
          }
          return true;
        },
        { base: 40, weight: 0.002 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("a block of every address (0.0.0.0/0) in a long list matches every address", () => {
    const entries = [...Array.from({ length: 500 }, (_, i) => `30.${i >> 8}.${i & 255}.1`), "0.0.0.0/0"];
    const { policy } = compilePolicy({ allowed_domains: entries, denied_domains: entries, allow_unix_sockets: [], allow_local_binding: false });
    for (const host of ["1.2.3.4", "30.0.0.1", "30.0.0.2", "255.255.255.255", "0.0.0.0"]) {
      const t = { kind: "ipv4" as const, host, port: 443 };
      expect({ host, allow: policy.allow.match(t)?.raw, deny: policy.deny.matchDenied(t)?.raw }).toEqual({
        host,
        allow: host === "30.0.0.1" ? host : "0.0.0.0/0",
        deny: host === "30.0.0.1" ? host : "0.0.0.0/0",
      });
    }
  });
});

describe("fuzz: large compiled policies (hash tables past their small size) and recompiles", () => {
  const word = fc.constantFrom("a", "b", "ab", "api", "x1", "r7x", "cdn", "zone", "h5");
  const tld = fc.constantFrom("com", "net", "io", "example");
  const glob = fc.constantFrom("a*", "*b", "r*x", "*-1", "h*", "*a*", "x1*");
  const lead = fc.constantFrom("" as const, "*." as const, "**." as const);
  const spec = fc.oneof(
    fc.tuple(lead, fc.array(word, { minLength: 1, maxLength: 3 }), tld).map(([l, ls, t]): { text: string; spec: PatternSpec } => ({
      text: l + [...ls, t].join("."),
      spec: { form: "name", lead: l, name: [...ls, t].join("."), port: null },
    })),
    fc.tuple(lead, glob, fc.array(word, { maxLength: 2 }), tld).map(([l, g, ls, t]): { text: string; spec: PatternSpec } => ({
      text: l + [g, ...ls, t].join("."),
      spec: { form: "glob", lead: l, labels: [g, ...ls, t], port: null },
    })),
  );
  const target = fc
    .tuple(fc.array(fc.oneof(word, fc.constantFrom("r7xq", "q-1", "hh", "zab", "x1y")), { minLength: 0, maxLength: 3 }), tld)
    .map(([ls, t]) => [...ls, t].join("."));

  test(
    "every policy of a sequence answers as the reference matcher, queried in turn after the next one is compiled",
    () => {
      fuzz(
        "fast paths: large policies and recompiles",
        fc.tuple(
          fc.array(fc.array(spec, { minLength: 20, maxLength: 120 }), { minLength: 2, maxLength: 3 }),
          fc.array(target, { minLength: 10, maxLength: 30 }),
        ),
        ([lists, targets]) => {
          const compiled = lists.map((l) =>
            compilePolicy({ allowed_domains: l.map((e) => e.text), denied_domains: [], allow_unix_sockets: [], allow_local_binding: false }),
          );
          for (const c of compiled) expect(c.problems).toEqual([]);
          for (const host of targets) {
            compiled.forEach((c, i) => {
              const t = { kind: "domain" as const, host, port: 443 };
              const want = lists[i]!.some((e) => refMatches(e.spec, t));
              const got = c.policy.allow.match(t);
              if ((got !== null) !== want) throw new Error(`policy ${i} on ${host}: indexed=${got?.raw ?? null} reference=${want}`);
            });
          }
          return true;
        },
        { base: 150 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
