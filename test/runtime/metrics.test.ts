/**
 * Metric families: a two-label series key is remembered per pair of values instead of being
 * joined on every update; the counts and the rendered text must be what joining every time gives.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { Metrics } from "../../src/runtime/metrics.ts";

// Label values are the proxy's own names (protocols, decisions, codes): never a NUL, the separator.
const value = fc.oneof(
  fc.constantFrom("http", "socks5", "allow", "block", "", 'q"\\\n'),
  fc.string({ maxLength: 6 }).filter((s) => !s.includes("\u0000")),
);

test("two-label counters add up per pair of values, whatever the order and repetition", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(value, value, fc.integer({ min: -3, max: 5 })), { maxLength: 60 }), (updates) => {
      const m = new Metrics();
      const want = new Map<string, number>();
      for (const [protocol, decision, n] of updates) {
        m.requests.add({ protocol, decision }, n);
        const k = JSON.stringify([decision, protocol]);
        want.set(k, (want.get(k) ?? 0) + n);
      }
      for (const [k, n] of want) {
        const [decision, protocol] = JSON.parse(k) as [string, string];
        expect(m.requests.get({ protocol, decision })).toBe(n);
      }
      // One series per distinct pair, in first-seen order, with both labels in the text.
      const lines = m.requests
        .render()
        .split("\n")
        .filter((l) => l.startsWith("cnp_requests_total{"));
      expect(lines.length).toBe(want.size);
    }),
    { numRuns: 300 },
  );
});
