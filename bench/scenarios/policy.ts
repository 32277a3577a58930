/** 7. Policy decisions per second, in-process, with 10 to 100,000 patterns (ours only). */
import type { PolicyResult } from "../clients/policy.ts";
import { median } from "../lib/stats.ts";
import type { Row } from "../report.ts";
import { client, firstLine, fromRuns, log, logCells, row, type Bench } from "./common.ts";

function policyRow(patterns: number): Row {
  return row(`policy_${patterns}`, `Policy decisions (parse + judge), ${patterns.toLocaleString("en-US")} patterns`, "decisions/s", "higher");
}

/**
 * The client runs in `runs` fresh processes, one after the other: each compiles every size once
 * (cold, its first compile of that size) and then times its rounds. A figure is the median over
 * all their rounds, and the compile time the median of the processes' compiles.
 */
export async function policyDecisions(b: Bench): Promise<Row[]> {
  const p = b.params;
  log("policy decisions");
  const results: PolicyResult[] = [];
  try {
    for (let i = 0; i < p.runs; i++) results.push(await client("policy", { sizes: p.policySizes, rounds: p.policyRounds, roundMs: p.policyRoundMs }, 600_000));
  } catch (e) {
    log(`  ours: FAILED: ${(e as Error).message}`);
    return p.policySizes.map((n) => ({ ...policyRow(n), cells: { ours: { kind: "failed", why: firstLine(e) } } }));
  }
  return results[0]!.sizes.map((s, i) => {
    const r = policyRow(s.patterns);
    const verdicts = Object.entries(s.verdicts)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    // The sample is fixed, so every process must have reached the same verdicts.
    for (const other of results) {
      if (JSON.stringify(other.sizes[i]!.verdicts) !== JSON.stringify(s.verdicts))
        throw new Error(`policy: two processes gave different verdicts for ${s.patterns} patterns`);
    }
    const compiles = results.map((x) => x.sizes[i]!.compileMs);
    const each = compiles.map((ms) => ms.toFixed(1)).join(", ");
    r.cells.ours = fromRuns(
      results.flatMap((x) => x.sizes[i]!.rounds.map((ns) => 1e9 / ns)),
      `${s.patterns.toLocaleString("en-US")} patterns: compiled in ${median(compiles).toFixed(1)} ms (median of ${compiles.length} fresh processes: ${each}); sample verdicts: ${verdicts}`,
    );
    logCells("ours", { [r.key]: r.cells.ours });
    return r;
  });
}
