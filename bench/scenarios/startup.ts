/**
 * 8. Start-up: from spawn until every listener accepts. The bun-relay column is bench/bare.ts,
 * compiled like ours: the same listeners and ready file, nothing else.
 */
import type { Cell, Row } from "../report.ts";
import { compiledBare, withFreshPrograms } from "../compiled.ts";
import { BUN_BARE, PEERS } from "../systems.ts";
import { fromRuns, idOf, log, logCells, row, withSystem, type Bench, type Target } from "./common.ts";

/** The start-up row, ours and the bare program each started from a fresh copy (see withFreshPrograms). */
export function startup(b: Bench): Promise<Row[]> {
  return withFreshPrograms(b.ours, (ours) => startupRow({ ...b, ours }));
}

async function startupRow(b: Bench): Promise<Row[]> {
  const r = row("startup", "Start-up: spawn until every listener accepts", "ms", "lower");
  log("start-up");
  // Both started once before timing: the first start of a new file also reads its pages in.
  await compiledBare();
  await withSystem(b, BUN_BARE, "forward", ["startup"], async () => ({}));
  await withSystem(b, "ours", "forward", ["startup"], async () => ({}));
  for (const t of ["ours", BUN_BARE, ...PEERS] as Target[]) {
    const id = idOf(t);
    const runs: number[] = [];
    let cell: Cell | null = null;
    for (let i = 0; i < b.params.startupRuns && !cell; i++) {
      const t0 = performance.now();
      // withSystem's start includes waiting until the ports accept (1 ms polling).
      const out = await withSystem(b, t, "forward", ["startup"], async () => ({ startup: fromRuns([performance.now() - t0]) }));
      const c = out.startup!;
      if (c.kind === "value") runs.push(c.value);
      else cell = c;
    }
    r.cells[id] = cell ?? fromRuns(runs);
    logCells(id, { startup: r.cells[id] });
  }
  return [r];
}
