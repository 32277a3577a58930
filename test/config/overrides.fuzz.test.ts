/**
 * Fuzz: applyOverrides, which copies only the tables an override writes into, against the
 * reference that deep-copied the whole document first: the same result, and the input document
 * left exactly as it was.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { applyOverrides, type Override } from "../../src/config/overrides.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

function refApplyOverrides(doc: Record<string, unknown>, overrides: readonly Override[]): Record<string, unknown> {
  const root = structuredClone(doc);
  for (const o of overrides) {
    let t: Record<string, unknown> = root;
    for (const seg of o.path.slice(0, -1)) {
      const next = t[seg];
      if (typeof next === "object" && next !== null && !Array.isArray(next)) {
        t = next as Record<string, unknown>;
      } else {
        const fresh: Record<string, unknown> = {};
        t[seg] = fresh;
        t = fresh;
      }
    }
    t[o.path[o.path.length - 1]!] = o.value;
  }
  return root;
}

const key = fc.constantFrom("network_proxy", "policy", "allowed_domains", "mode", "a", "b");
const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.array(fc.string({ maxLength: 3 }), { maxLength: 4 }));
const { doc } = fc.letrec<{ doc: Record<string, unknown> }>((tie) => ({
  doc: fc.dictionary(key, fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("doc")), { maxKeys: 4 }),
}));
const override: fc.Arbitrary<Override> = fc
  .tuple(fc.array(key, { minLength: 1, maxLength: 4 }), leaf)
  .map(([path, value]) => ({ path, value, source: `${path.join(".")}=…` }) as Override);

describe("fuzz: applyOverrides against a deep copy", () => {
  test(
    "same document out; the input untouched",
    () => {
      fuzz(
        "applyOverrides vs structuredClone reference",
        fc.tuple(doc, fc.array(override, { maxLength: 5 })),
        ([d, os]) => {
          const before = structuredClone(d);
          const got = applyOverrides(d, os);
          expect(got).toEqual(refApplyOverrides(before, os));
          expect(d).toEqual(before);
          return true;
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
