/**
 * Fuzz: target canonicalization (src/policy/target.ts). Every entry point turns what it
 * received into one canonical target; the policy is only as good as this function, so it is
 * checked against an independent WHATWG IPv4 parser, against the URL parser itself, and for
 * idempotence and the shape of what it returns.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import {
  canonicalHost,
  formatTarget,
  parseAbsoluteUrl,
  parseAuthority,
  parsePort,
  TargetError,
  type HostOptions,
  type TargetKind,
} from "../../src/policy/target.ts";
import { mutatedString, outcome, type Outcome } from "../helpers/fuzz/mutate.ts";
import { whatwgIpv4 } from "../helpers/fuzz/ref-host.ts";
import { regexAbsoluteUrl, regexPort } from "../helpers/fuzz/url-regex.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

const dotted = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

// ------------------------------------------------------------------------------- generators

/** One IPv4 number spelled in decimal, octal or hex, any case. */
const v4Number = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 127, 256, 4294967295, 4294967296)),
    fc.constantFrom("dec", "oct", "hex", "HEX", "0x"),
  )
  .map(([n, f]) =>
    f === "dec"
      ? String(n)
      : f === "oct"
        ? "0" + n.toString(8)
        : f === "hex"
          ? "0x" + n.toString(16)
          : f === "HEX"
            ? "0X" + n.toString(16).toUpperCase()
            : "0x",
  );
const v4Spelling = fc.tuple(fc.array(v4Number, { minLength: 1, maxLength: 5 }), fc.boolean()).map(([ps, dot]) => ps.join(".") + (dot ? "." : ""));

const label = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("xn--bcher-kva", "xn--zz", "xn--", "localhost", "com", "0x", "0", "08", "1e3", "a".repeat(63), "a".repeat(64), "-a", "a-", "_"),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("bücher", "ß", "ｅｖｉｌ", "İ", "ǅ", "ﬀ", "①", "⒈", "٠", "א", "a\u0301", "a\u00ad", "a\u200d", "\ufeffa", "😀", "\ud800"),
  },
);
const domainSpelling = fc.tuple(fc.array(label, { minLength: 1, maxLength: 5 }), fc.boolean()).map(([ls, dot]) => ls.join(".") + (dot ? "." : ""));

const v6Group = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)),
  fc.constantFrom("0", "ffff", "FFFF", "0000", "00000", "g", ""),
);
/** A real IPv6 address in one of its spellings: compressed, full, upper case, dotted IPv4 tail. */
const v6Address = fc
  .tuple(
    fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc
        .tuple(
          fc.constantFrom([0, 0, 0, 0, 0, 0xffff], [0, 0, 0, 0, 0, 0], [0x64, 0xff9b, 0, 0, 0, 0], [0xfe80, 0, 0, 0, 0, 0], [0x2002, 0x7f00, 1, 0, 0, 0]),
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
        )
        .map(([head, v4]) => {
          const b = new Uint8Array(16);
          head.forEach((g, i) => {
            b[2 * i] = g >> 8;
            b[2 * i + 1] = g & 0xff;
          });
          b.set(v4, 12);
          return b;
        }),
    ),
    fc.constantFrom("compressed", "full", "upper", "dotted"),
  )
  .map(([bytes, style]) => {
    const a = ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6;
    if (style === "full") return a.toNormalizedString();
    if (style === "upper") return a.toString().toUpperCase();
    if (style === "dotted") return a.toNormalizedString().split(":").slice(0, 6).join(":") + ":" + Array.from(bytes.subarray(12)).join(".");
    return a.toString();
  });
const v6Spelling = fc.oneof(
  { weight: 3, arbitrary: v6Address },
  { weight: 1, arbitrary: fc.array(v6Group, { minLength: 1, maxLength: 9 }).map((gs) => gs.join(":")) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.array(v6Group, { maxLength: 4 }), fc.array(v6Group, { maxLength: 4 })).map(([a, b]) => `${a.join(":")}::${b.join(":")}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("::ffff:", "::", "64:ff9b::", "2002:", "::FFFF:"), fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 4, maxLength: 4 }))
      .map(([p, o]) => p + o.join(".")),
  },
  { weight: 1, arbitrary: fc.constantFrom("::1", "::", "fe80::1%eth0", "fe80::1%25eth0", "1::2::3", "::ffff:127.0.0.1", "2001:DB8::1", "::ffff:0:0") },
);
const ipv6Host = fc
  .tuple(v6Spelling, fc.constantFrom("[]", "[]", "", "[", "]"))
  .map(([s, b]) => (b === "[]" ? `[${s}]` : b === "[" ? `[${s}` : b === "]" ? `${s}]` : s));

/** Characters and fragments worth inserting into a host. */
const hostInsert = fc.constantFrom(
  ".",
  "..",
  "-",
  "_",
  "0",
  "1",
  "a",
  "Z",
  ":",
  "[",
  "]",
  "%",
  "@",
  "/",
  "\\",
  " ",
  "\t",
  "\0",
  "#",
  "?",
  "*",
  "\x7f",
  "\r",
  "\n",
  "+",
  "~",
  ",",
  ";",
  "=",
  "^",
  "|",
  "`",
  "{",
  "}",
  "<",
  ">",
  '"',
  "'",
  "%2e",
  "%2E",
  "%41",
  "%30",
  "%00",
  "%2f",
  "%3a",
  "%5b",
  "%5d",
  "%25",
  "%c3%bc",
  "%ff",
  "%g1",
  "%e3%80%82",
  "ü",
  "ß",
  "ｅ",
  "．",
  "。",
  "｡",
  "０",
  "７",
  "ｆ",
  "ｘ",
  "\u00ad",
  "\u200b",
  "\u200d",
  "\ufeff",
  "\u0660",
  "İ",
  "\u212a",
  "①",
  "⒈",
  "😀",
  "\ud800",
  "xn--",
  "0x",
  "0X",
  "255",
  "256",
  "4294967295",
);

const hostSeed = fc.oneof(
  { weight: 3, arbitrary: domainSpelling },
  { weight: 3, arbitrary: v4Spelling },
  { weight: 2, arbitrary: ipv6Host },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "example.com",
      "EXAMPLE.com.",
      "localhost",
      "127.0.0.1",
      "0177.0.0.1",
      "2130706433",
      "[::1]",
      "[::ffff:10.0.0.1]",
      "ev%69l.com",
      "ｅｖｉｌ.com",
      "example。com",
      "",
      ".",
    ),
  },
);
const hostText = mutatedString(hostSeed, hostInsert, 3);
const hostOptions = fc.constantFrom<HostOptions>({}, { fromUrl: true }, { bareIpv6: true }, { fromUrl: true, bareIpv6: true });

const portText = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 65535 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "0",
      "65535",
      "65536",
      "65979",
      "080",
      "+80",
      "-1",
      "",
      " 80",
      "80 ",
      "８０",
      "1e3",
      "0x50",
      "99999",
      "00",
      "443.allowed.com",
      "80:80",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."0123456789+- .:xe٠８".split("")), maxLength: 7 }) },
);

// ------------------------------------------------------------------------------- checks

const isTargetError = (e: unknown) => e instanceof TargetError;
const codeOf = (e: unknown) => (e as TargetError).code;
const run = <T>(fn: () => T): Outcome<T> => outcome(fn, isTargetError, codeOf);

const DOMAIN = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const QUAD = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** What a canonical host must look like. */
function checkShape(h: { kind: TargetKind; host: string }): void {
  if (h.kind === "domain") {
    if (!DOMAIN.test(h.host)) throw new Error(`domain ${JSON.stringify(h.host)} has characters outside [a-z0-9._-] or an empty label`);
    expect(h.host.length).toBeLessThanOrEqual(253);
    for (const l of h.host.split(".")) expect(l.length).toBeLessThanOrEqual(63);
    // A name whose last label is a number would be read as an IPv4 address by URL parsers.
    expect(whatwgIpv4(h.host)).toBe("not-ipv4");
  } else if (h.kind === "ipv4") {
    if (!QUAD.test(h.host)) throw new Error(`ipv4 ${JSON.stringify(h.host)} is not a canonical dotted quad`);
  } else {
    expect(ipaddr.IPv6.isValid(h.host)).toBe(true);
    const a = ipaddr.IPv6.parse(h.host);
    expect(a.toString()).toBe(h.host);
    expect(a.isIPv4MappedAddress()).toBe(false);
  }
}

const bracket = (h: { kind: TargetKind; host: string }) => (h.kind === "ipv6" ? `[${h.host}]` : h.host);

/** The URL parser's reading of a host, normalized like ours (one trailing dot, brackets, IPv4-mapped). */
function whatwgHost(raw: string): { kind: TargetKind; host: string } | null {
  let hostname: string;
  try {
    hostname = new URL(`http://${raw}/`).hostname;
  } catch {
    return null;
  }
  if (hostname.startsWith("[")) {
    const a = ipaddr.IPv6.parse(hostname.slice(1, -1));
    return a.isIPv4MappedAddress() ? { kind: "ipv4", host: a.toIPv4Address().toString() } : { kind: "ipv6", host: a.toString() };
  }
  if (QUAD.test(hostname)) return { kind: "ipv4", host: hostname };
  return { kind: "domain", host: hostname.endsWith(".") ? hostname.slice(0, -1) : hostname };
}

// ------------------------------------------------------------------------------- properties

describe("fuzz: canonicalHost", () => {
  test(
    "throws only TargetError, and what it returns is canonical in shape",
    () => {
      fuzz(
        "target: canonicalHost robustness and shape",
        fc.tuple(hostText, hostOptions),
        ([raw, opts]) => {
          const o = run(() => canonicalHost(raw, opts));
          if (o.ok) checkShape(o.value);
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "canonicalization is idempotent: the canonical form canonicalizes to itself under every option",
    () => {
      fuzz(
        "target: canonicalHost idempotence",
        fc.tuple(hostText, hostOptions),
        ([raw, opts]) => {
          const o = run(() => canonicalHost(raw, opts));
          if (!o.ok) return;
          for (const again of [{}, { fromUrl: true }, { bareIpv6: true }] as HostOptions[]) {
            expect({ again, result: run(() => canonicalHost(bracket(o.value), again)) }).toEqual({ again, result: { ok: true, value: o.value } });
          }
          if (o.value.kind === "ipv6") expect(run(() => canonicalHost(o.value.host, { bareIpv6: true }))).toEqual({ ok: true, value: o.value });
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "an ASCII host is read exactly as the WHATWG IPv4 parser (written from the spec) reads it",
    () => {
      fuzz(
        "target: canonicalHost vs reference IPv4 parser",
        fc.tuple(
          fc.oneof(v4Spelling, domainSpelling, mutatedString(v4Spelling, fc.constantFrom(".", "0", "x", "X", "9", "a", "f", "g", "-", "_", ".."), 2)),
          hostOptions,
        ),
        ([raw, opts]) => {
          if (!/^[A-Za-z0-9._-]+$/.test(raw)) return;
          const ref = whatwgIpv4(raw.toLowerCase());
          const o = run(() => canonicalHost(raw, opts));
          if (typeof ref === "number") {
            expect({ raw, o }).toEqual({ raw, o: { ok: true, value: { kind: "ipv4", host: dotted(ref) } } });
          } else if (ref === "fail") {
            expect({ raw, ok: o.ok }).toEqual({ raw, ok: false });
          } else if (o.ok) {
            expect({ raw, kind: o.value.kind }).toEqual({ raw, kind: "domain" });
          }
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "a host the URL parser reads as an IPv4 address is never a domain, and an accepted host is read the same by the URL parser",
    () => {
      fuzz(
        "target: canonicalHost vs WHATWG URL",
        fc.tuple(hostText, hostOptions),
        ([raw, opts]) => {
          const o = run(() => canonicalHost(raw, opts));
          if (!o.ok) return;
          // Skip what cannot be put in a URL's host unchanged (brackets are ours to strip; bare IPv6 has no URL form).
          if (/[/?#@\\]/.test(raw) || (raw.includes(":") && !raw.startsWith("["))) return;
          const w = whatwgHost(raw);
          if (w === null) throw new Error(`canonicalHost accepted ${JSON.stringify(raw)} (${JSON.stringify(o.value)}) but the URL parser refuses it`);
          if (w.kind === "ipv4") expect({ raw, kind: o.value.kind }).toEqual({ raw, kind: "ipv4" });
          expect({ raw, host: o.value }).toEqual({ raw, host: w });
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: ports and authorities", () => {
  test(
    "parsePort accepts exactly 1-65535 in plain decimal without a leading zero",
    () => {
      fuzz(
        "target: parsePort",
        portText,
        (s) => {
          const want: Outcome<number> = /^[1-9][0-9]*$/.test(s) && Number(s) <= 65535 ? { ok: true, value: Number(s) } : { ok: false, code: "invalid_port" };
          expect({ s, got: run(() => parsePort(s)) }).toEqual({ s, got: want });
        },
        { base: 1000, weight: 0.2 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "parseAuthority throws only TargetError, splits host and port as written, and is idempotent",
    () => {
      fuzz(
        "target: parseAuthority",
        fc.tuple(
          fc.oneof(
            fc.tuple(hostText, fc.option(portText, { nil: null })).map(([h, p]) => (p === null ? h : `${h}:${p}`)),
            mutatedString(hostText, hostInsert, 2),
          ),
          fc.constantFrom(null, 80, 443),
        ),
        ([auth, def]) => {
          const o = run(() => parseAuthority(auth, def));
          if (!o.ok) return;
          const t = o.value;
          checkShape(t);
          expect(t.port).toBeGreaterThanOrEqual(1);
          expect(t.port).toBeLessThanOrEqual(65535);
          expect(auth.includes("@")).toBe(false);
          // The split, done independently: [v6] or name, then an optional :port.
          const m = auth.startsWith("[") ? /^(\[[^\]]*\])(?::(.*))?$/s.exec(auth) : /^([^:]*)(?::(.*))?$/s.exec(auth);
          if (!m) throw new Error(`parseAuthority accepted ${JSON.stringify(auth)}, which is not host[:port]`);
          expect(t.port).toBe(m[2] === undefined ? def! : Number(m[2]));
          expect({ kind: t.kind, host: t.host }).toEqual(canonicalHost(m[1]!));
          expect(parseAuthority(formatTarget(t), null)).toEqual(t);
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: parseAbsoluteUrl", () => {
  const scheme = fc.constantFrom("http", "https", "HTTP", "Https", "ftp", "ws", "h ttp", "", "http:", "javascript");
  const path = fc.oneof(
    fc.constantFrom("", "/", "/a/../b", "?q=1", "/x?y#z", "#frag", "/\\evil", "/@evil.com", "/%2e%2e/", "\\"),
    fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 20 }).map((s) => "/" + s),
  );
  const url = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(scheme, hostText, fc.option(portText, { nil: null }), path).map(([s, h, p, pa]) => `${s}://${h}${p === null ? "" : ":" + p}${pa}`),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom("http://allowed.com@evil.com/", "http://a.com\\@b.com/", "http://b.com#@a.com/", "http:///x", "http:a.com", "//a.com/"),
    },
  );

  test(
    "throws only TargetError; an accepted URL is read by the URL parser as the same host and port",
    () => {
      fuzz(
        "target: parseAbsoluteUrl vs WHATWG URL",
        mutatedString(url, hostInsert, 2),
        (u) => {
          const o = run(() => parseAbsoluteUrl(u));
          if (!o.ok) return;
          const { scheme: sch, target, path: p } = o.value;
          checkShape(target);
          expect(p.startsWith("/")).toBe(true);
          expect(u.includes("#") || u.includes("\\")).toBe(false);
          let w: URL;
          try {
            w = new URL(u);
          } catch {
            throw new Error(`parseAbsoluteUrl accepted ${JSON.stringify(u)} but the URL parser refuses it`);
          }
          expect(w.protocol).toBe(`${sch}:`);
          const host = whatwgHost(w.host);
          expect({ u, host: { kind: target.kind, host: target.host }, port: target.port }).toEqual({
            u,
            host: host!,
            port: w.port === "" ? (sch === "https" ? 443 : 80) : Number(w.port),
          });
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  /** A result, or the error's class, code and message. */
  const same = <T>(fn: () => T): unknown => {
    try {
      return { ok: fn() };
    } catch (e) {
      return { error: e instanceof TargetError ? ["TargetError", e.code, e.message] : String(e) };
    }
  };

  test(
    "agrees with the regular-expression version it replaced: the same URL parts, or the same error",
    () => {
      fuzz(
        "target: parseAbsoluteUrl vs the regex version",
        mutatedString(url, hostInsert, 2),
        (u) => {
          expect(same(() => parseAbsoluteUrl(u))).toEqual(same(() => regexAbsoluteUrl(u)));
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "parsePort agrees with the regular expression it replaced",
    () => {
      fuzz(
        "target: parsePort vs the regex version",
        fc.oneof(portText, fc.string({ maxLength: 7 }), fc.constantFrom("0", "01", "65535", "65536", "99999", "100000", "1e3", " 80", "８0", "")),
        (p) => {
          expect(same(() => parsePort(p))).toEqual(same(() => regexPort(p)));
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
