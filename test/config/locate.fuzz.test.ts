/**
 * Fuzz: the config key locator, which reads a text once and then places any number of keys in
 * it, against the reference that read the whole text again for every key.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { buildConfig } from "../../src/config/load.ts";
import { KeyLocator, locateKey } from "../../src/config/locate.ts";
import { runSteps } from "../../src/config/steps.ts";
import { refLocateKey } from "../helpers/fuzz/ref-locate.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

const name = fc.constantFrom("network_proxy", "policy", "mitm", "allowed_domains", "mitm_hooks", "a", "b");
const segment = fc.oneof(
  name,
  name.map((n) => `"${n}"`),
  name.map((n) => `'${n}.x'`),
);
const dotted = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("."));
/** Lines of TOML and near-TOML: headers, arrays of tables, keys, multi-line strings, array elements, comments. */
const line = fc.oneof(
  dotted.map((k) => `[${k}]`),
  dotted.map((k) => `[[${k}]]`),
  fc.tuple(dotted, fc.constantFrom("1", '"x"', "[", '["a", "b"]', '"""', "'''", '"""one line"""', '"a = b" # c')).map(([k, v]) => `${k} = ${v}`),
  fc.constantFrom('  "example.com",', "]", '"""', "'''", "# comment = 1", "", "  [x]  # t", "= 3", 'k"="v'),
);
const text = fc.array(line, { maxLength: 25 }).map((ls) => ls.join("\n"));
const path = fc.array(
  fc.oneof(
    name,
    name.map((n) => `${n}#0`),
    name.map((n) => `${n}#1`),
    fc.constant("a.x"),
  ),
  { minLength: 1, maxLength: 4 },
);

describe("fuzz: KeyLocator agrees with the per-key scan", () => {
  test(
    "every key of one text, placed by one locator, is on the line the reference finds",
    () => {
      fuzz(
        "KeyLocator vs refLocateKey",
        fc.tuple(text, fc.array(path, { minLength: 1, maxLength: 8 })),
        ([t, paths]) => {
          const locator = new KeyLocator(t);
          for (const p of paths) {
            const want = refLocateKey(t, p);
            expect(locator.line(p)).toBe(want);
            expect(locateKey(t, p)).toBe(want);
          }
          return true;
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: KeyLocator read in steps agrees with the per-key scan", () => {
  test(
    "texts longer than one step (2,000 lines), keys before, among and after the long part",
    () => {
      fuzz(
        "KeyLocator.steps vs refLocateKey",
        fc.tuple(
          text,
          fc.integer({ min: 1990, max: 4100 }),
          fc.constantFrom('  "example.com",', "# x = 1", ""),
          text,
          fc.array(path, { minLength: 1, maxLength: 6 }),
        ),
        ([before, n, filler, after, paths]) => {
          const t = [before, ...Array.from({ length: n }, () => filler), after].join("\n");
          const stepped = runSteps(KeyLocator.steps(t));
          const whole = new KeyLocator(t);
          for (const p of paths) {
            const want = refLocateKey(t, p);
            expect(stepped.line(p)).toBe(want);
            expect(whole.line(p)).toBe(want);
          }
          return true;
        },
        { base: 40 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("a long list with a warning per entry", () => {
  test("every warning names the line that sets the list", () => {
    const entries = Array.from({ length: 3000 }, (_, i) => `  "h${i}.*",`);
    const text = ["[network_proxy]", 'mode = "full"', "[network_proxy.policy]", "allowed_domains = [", ...entries, "]", "denied_domains = []"].join("\n");
    const r = buildConfig(text, { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] });
    if (!r.ok) throw new Error(r.problems.join("\n"));
    const broad = r.config.warnings.filter((w) => w.includes("allowed_domains["));
    expect(broad).toHaveLength(3000);
    expect(broad[0]).toStartWith('/cfg/config.toml:4: network_proxy.policy.allowed_domains[0]: "h0.*": its last label is a wildcard');
    expect(broad.every((w, i) => w.startsWith(`/cfg/config.toml:4: network_proxy.policy.allowed_domains[${i}]: "h${i}.*": `))).toBe(true);
  });
});
