/**
 * The key a kept-alive upstream is reused under is compared field by field (no string is built
 * per request); it must match exactly when the joined key the proxy used before would.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { samePool, type PoolKey } from "../../../src/proxy/http/spare.ts";

const joinedKey = (k: PoolKey) => `${k.tls ? "tls|" : ""}${k.host}|${k.addrs.map((a) => a.host).join(",")}|${k.port}|${k.route}`;

const key: fc.Arbitrary<PoolKey> = fc.record({
  tls: fc.boolean(),
  host: fc.constantFrom("a.example", "b.example", "127.0.0.1"),
  addrs: fc.array(
    fc.constantFrom("127.0.0.1", "127.0.0.2", "::1").map((host) => ({ kind: host.includes(":") ? ("ipv6" as const) : ("ipv4" as const), host })),
    { maxLength: 3 },
  ),
  port: fc.constantFrom(80, 443, 8080),
  route: fc.constantFrom("direct", "upstream", null),
});

test("samePool holds exactly when the joined keys are equal", () => {
  fc.assert(
    fc.property(key, key, (a, b) => {
      expect(samePool(a, b)).toBe(joinedKey(a) === joinedKey(b));
      expect(samePool(a, a)).toBe(true);
    }),
    { numRuns: 2000 },
  );
});
