/** Rewrite the outcome tables in README.md from src/outcomes.ts. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withOutcomeTables } from "./lib/outcome-tables.ts";

const path = join(import.meta.dir, "..", "README.md");
const before = readFileSync(path, "utf8");
const after = withOutcomeTables(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? "README.md outcome tables are up to date" : "rewrote README.md outcome tables");
