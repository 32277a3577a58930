/** Rewrite the generated parts of README.md: the outcome tables (src/outcomes.ts) and the figures from docs/. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withDocFigures } from "./lib/doc-figures.ts";
import { withOutcomeTables } from "./lib/outcome-tables.ts";

const path = join(import.meta.dir, "..", "README.md");
const before = readFileSync(path, "utf8");
const after = withDocFigures(withOutcomeTables(before));
if (after !== before) writeFileSync(path, after);
console.log(after === before ? "README.md generated parts are up to date" : "rewrote README.md generated parts");
