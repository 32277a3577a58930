/** 7. Policy decisions per second, in-process, with 10 to 100,000 patterns (ours only). */
import type { PolicyResult } from "../clients/policy.ts";
import type { Row } from "../report.ts";
import { client, firstLine, fromRuns, log, logCells, row, type Bench } from "./common.ts";

function policyRow(patterns: number): Row {
  return row(`policy_${patterns}`, `Policy decisions (parse + judge), ${patterns.toLocaleString("en-US")} patterns`, "decisions/s", "higher");
}

export async function policyDecisions(b: Bench): Promise<Row[]> {
  const p = b.params;
  log("policy decisions");
  let res: PolicyResult;
  try {
    res = await client("policy", { sizes: p.policySizes, rounds: p.policyRounds, roundMs: p.policyRoundMs }, 600_000);
  } catch (e) {
    log(`  ours: FAILED: ${(e as Error).message}`);
    return p.policySizes.map((n) => ({ ...policyRow(n), cells: { ours: { kind: "failed", why: firstLine(e) } } }));
  }
  return res.sizes.map((s) => {
    const r = policyRow(s.patterns);
    const verdicts = Object.entries(s.verdicts)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    r.cells.ours = fromRuns(
      s.rounds.map((ns) => 1e9 / ns),
      `${s.patterns.toLocaleString("en-US")} patterns: compiled in ${s.compileMs.toFixed(1)} ms; sample verdicts: ${verdicts}`,
    );
    logCells("ours", { [r.key]: r.cells.ours });
    return r;
  });
}
