import { expect, test } from "bun:test";
import { warningLines } from "../../src/config/warning-lines.ts";

const w = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `warning ${from + i}`);

test("start-up: every warning up to the cap, then one line counting the rest", () => {
  expect(warningLines(w(3))).toEqual(w(3));
  expect(warningLines(w(100))).toEqual(w(100));
  expect(warningLines(w(101))).toEqual([...w(100), "1 more warning not shown; `codex-network-proxy check` lists every one"]);
  expect(warningLines(w(12_345), null, 2)).toEqual([...w(2), "12,343 more warnings not shown; `codex-network-proxy check` lists every one"]);
});

test("reload: only the warnings the running config did not have, in their order", () => {
  expect(warningLines(["a", "b", "c"], ["b"])).toEqual(["a", "c"]);
  expect(warningLines(["a", "b"], ["a", "b"])).toEqual([]);
  expect(warningLines(w(5, 0), w(3, 0), 1)).toEqual(["warning 3", "1 more warning not shown; `codex-network-proxy check` lists every one"]);
  expect(warningLines(["x"], [])).toEqual(["x"]);
});
