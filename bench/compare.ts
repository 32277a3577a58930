/**
 * Ours in this run against ours in the previously published docs/benchmarks.md, figure by
 * figure: the before/after table a performance change is judged by. Only the "ours" column is
 * compared; peers vary between runs as much as we do, which the ratios in Results account for.
 */
import { fmt } from "./lib/stats.ts";
import { cellValue, type Row } from "./report.ts";

/** A figure's key: its title and its unit (two rows may share a title: "same under run --isolate"). */
const keyOf = (title: string, unit: string) => `${title}\u0000${unit}`;

/** The previous report's Results table: figure key (title and unit) -> ours. */
function previous(md: string): Map<string, number> {
  const out = new Map<string, number>();
  const section = md.slice(md.indexOf("## Results"));
  const lines = section.split("\n").filter((l) => l.startsWith("| "));
  const header = lines[0]?.split("|").map((c) => c.trim()) ?? [];
  const ours = header.indexOf("ours");
  for (const l of lines.slice(2)) {
    const cells = l.split("|").map((c) => c.trim());
    const m = / \(([^()]*), (?:higher|lower) is better\)$/.exec(cells[1] ?? "");
    const title = cells[1]?.slice(0, m ? m.index : undefined).trim();
    const v = Number((cells[ours] ?? "").replace(/ \[\d+\]$/, "").replaceAll(",", ""));
    if (title && m && Number.isFinite(v) && cells[ours] !== "—") out.set(keyOf(title, m[1]!), v);
  }
  return out;
}

export function beforeAfter(previousMd: string | null, rows: readonly Row[]): string | null {
  if (previousMd === null) return null;
  const before = previous(previousMd);
  const when = /on (\d{4}-\d{2}-\d{2}T[\d:]+Z)/.exec(previousMd)?.[1] ?? "an earlier run";
  const commit = /tree at commit ([0-9a-f]+)/.exec(previousMd)?.[1];
  const body: string[] = [];
  for (const r of rows) {
    const now = cellValue(r, "ours");
    const was = before.get(keyOf(r.title.trim(), r.unit));
    if (now === null || was === undefined) continue;
    const change = now / was;
    const better = r.better === "higher" ? change >= 1 : change <= 1;
    body.push(`| ${r.title.trim()} (${r.unit}) | ${fmt(was)} | ${fmt(now)} | ${fmt(change)}× (${better ? "better" : "worse"}) |`);
  }
  if (body.length === 0) return null;
  return [
    `Ours in this run against ours in the previous published run (${when}${commit ? `, commit ${commit}` : ""}); both on this machine, each with its own peers beside it. Single runs move by up to about 20% here, so only larger changes mean much.`,
    "",
    "| Figure | before | now | change |",
    "| --- | --- | --- | --- |",
    ...body,
  ].join("\n");
}
