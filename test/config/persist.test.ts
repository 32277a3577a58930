import { describe, expect, test } from "bun:test";
import { parse } from "smol-toml";
import { addToList } from "../../src/config/persist.ts";

const policyOf = (text: string) => (parse(text) as { network_proxy: { policy: Record<string, string[]> } }).network_proxy.policy;

describe("addToList keeps the file as written", () => {
  test("one-line list: appended, comments and other keys byte for byte", () => {
    const text = `# my proxy\n[network_proxy]\nenabled = true # on\n\n[network_proxy.policy]\n# who may be reached\nallowed_domains = ["a.example", "b.example"] # two\ndenied_domains = []\n`;
    const out = addToList(text, "allowed_domains", "c.example");
    expect(out).toBe(text.replace(`"b.example"]`, `"b.example", "c.example"]`));
    expect(policyOf(out).allowed_domains).toEqual(["a.example", "b.example", "c.example"]);
  });

  test("multi-line list with a trailing comma and comments that hold commas and quotes", () => {
    const text = `[network_proxy.policy]\nallowed_domains = [\n  "a.example", # first, "quoted"\n  "b.example",   # second, also ]\n  # the end, really\n]\n`;
    const out = addToList(text, "allowed_domains", "c.example");
    expect(out).toBe(text.replace(`"b.example",`, `"b.example", "c.example"`));
    expect(policyOf(out).allowed_domains).toEqual(["a.example", "b.example", "c.example"]);
  });

  test("empty list, missing list, missing table, dotted key", () => {
    expect(addToList(`[network_proxy.policy]\ndenied_domains = [ ]\n`, "denied_domains", "x.example")).toBe(
      `[network_proxy.policy]\ndenied_domains = ["x.example" ]\n`,
    );
    expect(addToList(`[network_proxy.policy] # p\nallow_local_binding = false\n`, "denied_domains", "x.example")).toBe(
      `[network_proxy.policy] # p\ndenied_domains = ["x.example"]\nallow_local_binding = false\n`,
    );
    expect(addToList(`[network_proxy]\nenabled = true\n`, "allowed_domains", "x.example")).toBe(
      `[network_proxy]\nenabled = true\n\n[network_proxy.policy]\nallowed_domains = ["x.example"]\n`,
    );
    const dotted = `[network_proxy]\npolicy.allowed_domains = ["a.example"] # keep\n`;
    expect(addToList(dotted, "allowed_domains", "*.b.example")).toBe(`[network_proxy]\npolicy.allowed_domains = ["a.example", "*.b.example"] # keep\n`);
  });

  test("an entry already there leaves the text alone", () => {
    const text = `[network_proxy.policy]\nallowed_domains = ["a.example"]\n`;
    expect(addToList(text, "allowed_domains", "a.example")).toBe(text);
  });

  test("layouts it cannot edit safely are refused, naming the manual fix", () => {
    expect(() => addToList(`[network_proxy.policy]\nallowed_domains = "a.example"\n`, "allowed_domains", "b.example")).toThrow(
      /not written as an array; add "b.example" to it yourself/,
    );
    // An inline table holds the list: appending a table would redefine it, so nothing is written.
    expect(() => addToList(`network_proxy = { policy = { allowed_domains = ["a"] } }\n`, "allowed_domains", "b.example")).toThrow(/yourself/);
  });
});
