/**
 * Fuzz: the frozen copy made in steps (a long list in a reload) against Object.freeze of a copy,
 * the reference it replaces; and a loaded config with a long list is as immutable as one with a
 * short list.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { frozenCopySteps } from "../../src/config/frozen.ts";
import { buildConfig } from "../../src/config/load.ts";
import { runSteps } from "../../src/config/steps.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

/**
 * Try every way to change an array: which attempts threw a TypeError (one letter each), and
 * whether the array still holds what it held. A frozen array refuses each write it would
 * perform; an attempt that has nothing to write (reversing one entry) is not refused.
 */
function tryWrites(a: readonly string[]): { refused: string; unchanged: boolean } {
  const before = JSON.stringify(a);
  const w = a as string[];
  const attempts: Array<() => unknown> = [
    () => {
      w[0] = "x";
    },
    () => {
      w[w.length] = "x";
    },
    () => w.push("x"),
    () => w.pop(),
    () => w.splice(0, 1),
    () => w.sort(),
    () => w.reverse(),
    () => w.fill("x"),
    () => {
      w.length = 0;
    },
    () => delete w[0],
    () => Object.defineProperty(w, 0, { value: "x" }),
    () => {
      (w as unknown as Record<string, unknown>)["extra"] = 1;
    },
  ];
  let refused = "";
  for (const f of attempts) {
    try {
      f();
      refused += "-";
    } catch (e) {
      refused += e instanceof TypeError ? "T" : "?";
    }
  }
  return { refused, unchanged: JSON.stringify(a) === before };
}

// Lengths around the step size (1000) and the pause points, and beyond it.
const list = fc.oneof(
  fc.array(fc.string(), { maxLength: 20 }),
  fc.integer({ min: 995, max: 3005 }).chain((n) => fc.array(fc.string({ maxLength: 4 }), { minLength: n, maxLength: n })),
);

describe("fuzz: frozenCopySteps agrees with Object.freeze([...items])", () => {
  test(
    "same entries, an Array, frozen, every write refused, the source untouched",
    () => {
      fuzz(
        "frozenCopySteps vs Object.freeze",
        list,
        (items) => {
          const source = [...items];
          const got = runSteps(frozenCopySteps(source));
          const want = Object.freeze([...items]);
          expect(got).not.toBe(source);
          expect(Array.isArray(got)).toBe(true);
          expect(Object.getPrototypeOf(got)).toBe(Array.prototype);
          expect([...got]).toEqual([...want]);
          expect(Object.keys(got)).toEqual(Object.keys(want));
          expect(JSON.stringify(got)).toBe(JSON.stringify(want));
          expect(Object.isFrozen(got)).toBe(true);
          expect(Object.isExtensible(got)).toBe(false);
          const writes = tryWrites(got);
          expect(writes).toEqual(tryWrites(want));
          expect(writes.unchanged).toBe(true);
          expect(source).toEqual(items);
          return true;
        },
        { base: 60 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("a loaded config with a long list", () => {
  test("is immutable down to the list's entries", () => {
    const entries = Array.from({ length: 2500 }, (_, i) => `  "h${i}.example.com",`);
    const text = ["[network_proxy]", "[network_proxy.policy]", "allowed_domains = [", ...entries, "]"].join("\n");
    const r = buildConfig(text, { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] });
    if (!r.ok) throw new Error(r.problems.join("\n"));
    const list = r.config.np.policy.allowed_domains;
    expect(list).toHaveLength(2500);
    expect(list[2499]).toBe("h2499.example.com");
    expect(Object.isFrozen(r.config.np.policy)).toBe(true);
    expect(Object.isFrozen(list)).toBe(true);
    const writes = tryWrites(list);
    expect(writes).toEqual({ refused: "TTTTTTTTTTTT", unchanged: true });
    expect(r.config.policy.allowedRaw).toBe(list);
  });
});
