/**
 * Add up a FUZZ_REPORT file written by the fuzz tests (one JSON line per property):
 *
 *   FUZZ_RUNS=100000 FUZZ_REPORT=/tmp/fuzz.jsonl bun test test/fuzz
 *   bun test/fuzz/report.ts /tmp/fuzz.jsonl
 */
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: bun test/fuzz/report.ts FUZZ_REPORT_FILE");
  process.exit(2);
}
const totals = new Map<string, { runs: number; ms: number }>();
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const { property, runs, ms } = JSON.parse(line) as { property: string; runs: number; ms: number };
  const t = totals.get(property) ?? { runs: 0, ms: 0 };
  totals.set(property, { runs: t.runs + runs, ms: t.ms + ms });
}
let runs = 0;
let ms = 0;
const width = Math.max(8, ...[...totals.keys()].map((k) => k.length));
for (const [property, t] of [...totals].sort((a, b) => a[0].localeCompare(b[0]))) {
  console.log(`${property.padEnd(width)}  ${String(t.runs).padStart(10)} inputs  ${(t.ms / 1000).toFixed(1).padStart(7)} s`);
  runs += t.runs;
  ms += t.ms;
}
console.log(`${"total".padEnd(width)}  ${String(runs).padStart(10)} inputs  ${(ms / 1000).toFixed(1).padStart(7)} s`);
