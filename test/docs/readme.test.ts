import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { allKeys } from "../../src/config/schema.ts";
import { withDocFigures } from "../../scripts/lib/doc-figures.ts";
import { withOutcomeTables } from "../../scripts/lib/outcome-tables.ts";

const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");

describe("README stays true to the code", () => {
  test("every config key is documented with its default", () => {
    for (const { key, spec } of allKeys()) {
      const short = key.replace(/^network_proxy\./, "");
      const def =
        spec.kind === "strings" || spec.kind === "hooks"
          ? "[]"
          : spec.kind === "string" || spec.kind === "enum"
            ? JSON.stringify(spec.default)
            : String(spec.default);
      expect(readme).toContain(`| \`${short}\` | \`${def}\` |`);
    }
  });
});

describe("README's outcome tables are the outcome table", () => {
  test("generated from src/outcomes.ts (bun scripts/readme-tables.ts rewrites them)", () => {
    expect(withOutcomeTables(readme)).toBe(readme);
  });
});

describe("README's figures are the documents' figures", () => {
  test("the performance summary and the test times come from docs/ (bun scripts/readme-tables.ts rewrites them)", () => {
    expect(withDocFigures(readme)).toBe(readme);
  });
});
