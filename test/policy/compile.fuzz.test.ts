/**
 * Fuzz: the pattern parser, the broad-entry warning and the messages of compiling a list, against
 * their implementations before the compile fast paths (test/helpers/fuzz/ref-pattern.ts): the
 * same parsed pattern or the same error, the same warning, and the same problems and warnings in
 * the same order. (What the compiled lists match is checked against the reference matcher in
 * policy.fuzz.test.ts and fast-paths.fuzz.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseGeneral, parsePattern, parseTrimmed, PatternError, type ListName, type ParsedPattern } from "../../src/policy/pattern.ts";
import { broadAllowWarning, compilePolicy } from "../../src/policy/rules.ts";
import { mutatedString } from "../helpers/fuzz/mutate.ts";
import {
  broadAllowWarning as refBroadAllowWarning,
  type ParsedPattern as RefParsed,
  parsePattern as refParsePattern,
  PatternError as RefPatternError,
  refListMessages,
} from "../helpers/fuzz/ref-pattern.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

const label = fc.constantFrom(
  "a",
  "api",
  "Example",
  "COM",
  "co",
  "uk",
  "com",
  "io",
  "test",
  "local",
  "10",
  "1",
  "255",
  "0x1",
  "xn--bcher-kva",
  "bücher",
  "\u212a",
  "_dmarc",
  "a-b",
  "a_b",
  "x".repeat(63),
  "y".repeat(64),
  "",
);
const glob = fc.constantFrom(
  "*",
  "**",
  "a*",
  "*b",
  "A*B",
  "a**b",
  "*a*",
  "x*-*",
  "*1",
  "*a*a*b",
  "r*x",
  "ü*",
  "a*.",
  "*".repeat(3),
  `${"z".repeat(62)}*`,
  `${"z".repeat(63)}*`,
);
const piece = fc.oneof({ weight: 4, arbitrary: label }, { weight: 2, arbitrary: glob });
const name = fc
  .tuple(fc.constantFrom("", "", "*.", "**.", "*.*.", "**"), fc.array(piece, { minLength: 1, maxLength: 4 }), fc.constantFrom("", "", ".", "..", "\uff0e"))
  .map(([lead, ps, dot]) => lead + ps.join(".") + dot);
const address = fc.constantFrom(
  "10.0.0.1",
  "127.0.0.1",
  "0.0.0.0",
  "255.255.255.255",
  "01.2.3.4",
  "1.2.3.4.",
  "256.1.1.1",
  "1.2.3",
  "1.2.3.4.5",
  "4294967295",
  "10.*",
  "10.**",
  "169.254.*",
  "192.168.1.*",
  "10.*.1.1",
  "010.*",
  "1*.0.0.1",
  "１０.*",
  "10.0.0.0/8",
  "10.0.0.1/8",
  "0.0.0.0/0",
  "1.2.3.4/33",
  "1.2.3/24",
  "::1",
  "[::1]",
  "[::1]:8080",
  "fd00::/8",
  "fd00::1/8",
  "2a00:1:2::/48",
  "::ffff:0:0/96",
  "::/0",
  "fe80::1%eth0/64",
  "[2001:db8::]/32",
  "2001:DB8::/32",
  "1:2:3:4:5:6:7:8/128",
  "::/x",
  "[::1",
  "a]b",
);
const port = fc.constantFrom("", "", "", ":80", ":443", ":0", ":65536", ":x", ":", ":8080:1");
const pattern = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(name, port).map(([n, p]) => n + p) },
  { weight: 2, arbitrary: address },
  { weight: 1, arbitrary: fc.constantFrom("*", "*:443", " * ", "", "  ", "a?.com", "{a}.com", "a\\b", "*.co.uk", "**.com.au", "h1.*", "*.example") },
);
const spaced = fc.tuple(fc.constantFrom("", "", " ", "\t", "\u00a0"), pattern, fc.constantFrom("", "", " ", "\n")).map(([a, p, b]) => a + p + b);
const entry = fc.oneof(
  { weight: 5, arbitrary: spaced },
  { weight: 1, arbitrary: mutatedString(pattern, fc.constantFrom(".", "*", ":", "[", "]", "/", "A", "-", " ", "ü")) },
);
const list = fc.constantFrom<ListName>("allowed_domains", "denied_domains");

/** A parsed pattern as plain data (a LabelGlob is { pieces }), or the error's message. */
function parsedOrError(parse: () => ParsedPattern | RefParsed, isError: (e: unknown) => boolean): unknown {
  try {
    const p = parse();
    expect(Object.isFrozen(p.rule)).toBe(true);
    return JSON.parse(JSON.stringify(p));
  } catch (e) {
    if (!isError(e)) throw e;
    return { error: (e as Error).message };
  }
}

describe("fuzz: compiling patterns agrees with the reference", () => {
  test(
    "parsePattern: the same pattern or the same error; broadAllowWarning: the same warning",
    () => {
      fuzz(
        "parsePattern and broadAllowWarning vs reference",
        fc.tuple(entry, list),
        ([raw, l]) => {
          const got = parsedOrError(
            () => parsePattern(raw, l),
            (e) => e instanceof PatternError,
          );
          expect(got).toEqual(
            parsedOrError(
              () => refParsePattern(raw, l),
              (e) => e instanceof RefPatternError,
            ),
          );
          expect(
            parsedOrError(
              () => parseTrimmed(raw, l, raw.trim()),
              (e) => e instanceof PatternError,
            ),
          ).toEqual(got);
          // The fast paths (plain names, canonical IPv4 literals, label globs) give what the general path gives, labels and all.
          const exact = (f: () => ParsedPattern) => {
            try {
              return JSON.parse(JSON.stringify(f()));
            } catch (e) {
              if (!(e instanceof PatternError)) throw e;
              return { error: e.message };
            }
          };
          expect(exact(() => parseTrimmed(raw, l, raw.trim()))).toEqual(exact(() => parseGeneral(raw, l, raw.trim())));
          if (!(got as { error?: string }).error) {
            expect(broadAllowWarning(parsePattern(raw, l))).toBe(refBroadAllowWarning(refParsePattern(raw, l)));
          }
          return true;
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "compilePolicy: the same problems and warnings, in the same order, repeated entries reported once",
    () => {
      const lists = fc.array(
        fc.oneof({ weight: 4, arbitrary: entry }, { weight: 1, arbitrary: fc.constantFrom("A.com", "a.com", " a.com", "a.com.", "*.COM", "*.com") }),
        {
          maxLength: 40,
        },
      );
      fuzz(
        "compilePolicy messages vs reference",
        fc.tuple(lists, lists),
        ([allowed, denied]) => {
          const c = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: false });
          const a = refListMessages("allowed_domains", allowed);
          const d = refListMessages("denied_domains", denied);
          expect(c.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([...a.problems, ...d.problems]);
          expect(c.warnings.map((p) => `${p.key}: ${p.message}`)).toEqual([...a.warnings, ...d.warnings]);
          expect(c.problems.every((p) => p.severity === "error") && c.warnings.every((p) => p.severity === "warning")).toBe(true);
          return true;
        },
        { base: 300 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("a list longer than one batch (1,000 entries) gives the reference's messages", () => {
    const allowed = Array.from({ length: 2600 }, (_, i) => [`h${i % 1300}.*`, `*.co.uk:${i}`, `a${i}.com`, `bad${i}?`, `*.zone${i % 7}.net`][i % 5]!);
    const c = compilePolicy({ allowed_domains: allowed, denied_domains: allowed.slice(0, 1200), allow_unix_sockets: [], allow_local_binding: false });
    const a = refListMessages("allowed_domains", allowed);
    const d = refListMessages("denied_domains", allowed.slice(0, 1200));
    expect(c.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([...a.problems, ...d.problems]);
    expect(c.warnings.map((p) => `${p.key}: ${p.message}`)).toEqual([...a.warnings, ...d.warnings]);
    expect(c.warnings.length).toBeGreaterThan(500);
  });
});
