/**
 * Fuzz: diffConfig, which now walks long lists in steps, against the one-pass list diff it
 * replaces: the same lines in the same order, for lists shorter and longer than one step.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { diffConfig, diffConfigSteps } from "../../src/config/diff.ts";
import { buildConfig, type ConfigSource } from "../../src/config/load.ts";
import { runStepsSliced } from "../../src/config/steps.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

const source: ConfigSource = { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] };

function configWith(allowed: readonly string[], denied: readonly string[]) {
  const r = buildConfig(`[network_proxy.policy]\nallowed_domains = ${JSON.stringify(allowed)}\ndenied_domains = ${JSON.stringify(denied)}\n`, source);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}

/** The list lines of the diff as they were made in one pass (Sets of lowercased entries). */
function refListLines(label: string, a: readonly string[], b: readonly string[]): string[] {
  if (a.length === b.length && a.every((x, i) => x === b[i])) return [];
  const out: string[] = [];
  const A = new Set(a.map((s) => s.toLowerCase()));
  const B = new Set(b.map((s) => s.toLowerCase()));
  for (const s of b) if (!A.has(s.toLowerCase())) out.push(`added to ${label}: ${s}`);
  for (const s of a) if (!B.has(s.toLowerCase())) out.push(`removed from ${label}: ${s}`);
  return out;
}

const name = fc.integer({ min: 0, max: 40 }).map((i) => `h${i}.example.com`);
const cased = fc.tuple(name, fc.boolean()).map(([n, up]) => (up ? n.toUpperCase() : n));
const short = fc.array(cased, { maxLength: 12 });
/** Longer than a step (1,000): a shared run, then a few different entries somewhere. */
const long = fc.tuple(fc.integer({ min: 990, max: 2600 }), fc.array(fc.tuple(fc.nat(), cased), { maxLength: 4 })).map(([n, edits]) => {
  const l = Array.from({ length: n }, (_, i) => `e${i}.example.net`);
  for (const [at, v] of edits) l[at % n] = v;
  return l;
});
const list = fc.oneof(short, long);

describe("fuzz: diffConfig in steps agrees with the one-pass list diff", () => {
  test(
    "the same added and removed lines, in order, whether run at once or in slices",
    async () => {
      const samples = fc.sample(fc.tuple(list, list, short, short), { numRuns: 25 });
      for (const [a1, a2, d1, d2] of samples) {
        const prev = configWith(a1, d1);
        const next = configWith(a2, d2);
        const want = [...refListLines("allowed_domains", a1, a2), ...refListLines("denied_domains", d1, d2)];
        expect(diffConfig(prev, next)).toEqual(want);
        expect(await runStepsSliced(diffConfigSteps(prev, next), 0)).toEqual(want);
      }
      fuzz(
        "diffConfig vs one-pass list diff (short lists)",
        fc.tuple(short, short),
        ([a, b]) => {
          expect(diffConfig(configWith(a, []), configWith(b, []))).toEqual(refListLines("allowed_domains", a, b));
          return true;
        },
        { base: 100 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
