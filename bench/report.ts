/**
 * Results model and rendering: one row per figure, one column per system, our ratios to direct
 * and to the best peer, and the issue's bars with PASS/FAIL.
 */
import { fmt } from "./lib/stats.ts";
import { COLUMNS, REFERENCES, type SystemId } from "./systems.ts";

export type Cell =
  | { kind: "value"; value: number; runs: number[]; note?: string }
  | { kind: "notyet"; why: string }
  | { kind: "skipped"; why: string }
  | { kind: "failed"; why: string };

export interface Row {
  key: RowKey;
  title: string;
  unit: string;
  better: "higher" | "lower";
  /** A system without a cell cannot do this (shown as —). */
  cells: Partial<Record<SystemId, Cell>>;
}

export type RowKey =
  | "forward_rps"
  | "forward_p50"
  | "forward_p99"
  | "forward_chain_rps"
  | "connect_chain_mbps"
  | "isolate_bulk_run"
  | "isolate_bulk_isolated"
  | "isolate_forward_run"
  | "isolate_forward_isolated"
  | "connect_mbps"
  | "socks_mbps"
  | "connect_rate"
  | "socks_rate"
  | "mitm_rps"
  | "rss_idle"
  | "rss_idle_floor"
  | "rss_connect_tunnel"
  | "rss_socks_tunnel"
  | `policy_${number}`
  | "reload_p99_idle"
  | "reload_p99_busy"
  | "reload_p99_apart"
  | "reload_p99_floor"
  | "reload_ms"
  | "startup";

const PEERS = COLUMNS.filter((c) => !REFERENCES.includes(c));

export function cellValue(row: Row | undefined, sys: SystemId): number | null {
  const c = row?.cells[sys];
  return c?.kind === "value" ? c.value : null;
}

/** The best peer's value in a row (highest or lowest, as the row says), or null. */
export function bestPeer(row: Row): { sys: SystemId; value: number } | null {
  let best: { sys: SystemId; value: number } | null = null;
  for (const sys of PEERS) {
    const v = cellValue(row, sys);
    if (v === null) continue;
    if (!best || (row.better === "higher" ? v > best.value : v < best.value)) best = { sys, value: v };
  }
  return best;
}

export function ratio(a: number | null, b: number | null): string {
  return a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`;
}

/** Footnotes collect the long reasons so the table stays readable. */
class Notes {
  readonly list: string[] = [];
  ref(text: string): string {
    let i = this.list.indexOf(text);
    if (i < 0) i = this.list.push(text) - 1;
    return `[${i + 1}]`;
  }
}

function cellText(c: Cell | undefined, notes: Notes): string {
  if (!c) return "—";
  switch (c.kind) {
    case "value":
      return fmt(c.value) + (c.note ? ` ${notes.ref(c.note)}` : "");
    case "notyet":
      return `not yet ${notes.ref(c.why)}`;
    case "skipped":
      return `skipped ${notes.ref(c.why)}`;
    case "failed":
      return `failed ${notes.ref(c.why)}`;
  }
}

export interface Bar {
  text: string;
  status: "PASS" | "FAIL" | "PENDING" | "NO DATA";
  detail: string;
}

/** The issue's bars, judged from the rows. PENDING: our side is not implemented yet. */
export function judgeBars(rows: readonly Row[], policyTolerance: number): Bar[] {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const ours = (k: RowKey): Cell | undefined => byKey.get(k)?.cells.ours;
  const bars: Bar[] = [];
  const pending = (k: RowKey): boolean => ours(k)?.kind === "notyet";

  const fwd = byKey.get("forward_rps");
  {
    const o = cellValue(fwd, "ours");
    const s = cellValue(fwd, "squid");
    const text = "Plain HTTP forwarding ≥ 1.5× squid's requests/s";
    if (o === null || s === null) bars.push({ text, status: "NO DATA", detail: "ours or squid has no figure" });
    else bars.push({ text, status: o >= 1.5 * s ? "PASS" : "FAIL", detail: `${fmt(o)} vs 1.5 × ${fmt(s)} = ${fmt(1.5 * s)} req/s (${ratio(o, s)} squid)` });
  }

  for (const [key, what] of [
    ["connect_mbps", "CONNECT"],
    ["socks_mbps", "SOCKS5"],
  ] as const) {
    const row = byKey.get(key);
    const text = `${what} throughput ≥ the best peer's and ≥ 50% of direct`;
    const o = cellValue(row, "ours");
    const d = cellValue(row, "direct");
    const best = row ? bestPeer(row) : null;
    if (pending(key)) bars.push({ text, status: "PENDING", detail: `our ${what} listener is not implemented yet` });
    else if (o === null || d === null || !best) bars.push({ text, status: "NO DATA", detail: "ours, direct or every peer has no figure" });
    else {
      const ok = o >= best.value && o >= 0.5 * d;
      bars.push({
        text,
        status: ok ? "PASS" : "FAIL",
        detail: `${fmt(o)} MB/s vs best peer ${best.sys} ${fmt(best.value)} (${ratio(o, best.value)}) and direct ${fmt(d)} (${ratio(o, d)})`,
      });
    }
  }

  {
    const row = byKey.get("mitm_rps");
    const text = "HTTPS through MITM ≥ 10× mitmproxy's requests/s";
    const o = cellValue(row, "ours");
    const m = cellValue(row, "mitmproxy");
    if (pending("mitm_rps")) bars.push({ text, status: "PENDING", detail: "our MITM is not implemented yet" });
    else if (o === null || m === null) bars.push({ text, status: "NO DATA", detail: "ours or mitmproxy has no figure" });
    else bars.push({ text, status: o >= 10 * m ? "PASS" : "FAIL", detail: `${fmt(o)} vs 10 × ${fmt(m)} = ${fmt(10 * m)} req/s (${ratio(o, m)} mitmproxy)` });
  }

  for (const [key, what] of [
    ["rss_connect_tunnel", "CONNECT"],
    ["rss_socks_tunnel", "SOCKS5"],
  ] as const) {
    const text = `≤ 32 KiB RSS per idle ${what} tunnel`;
    const o = cellValue(byKey.get(key), "ours");
    if (pending(key)) bars.push({ text, status: "PENDING", detail: `our ${what} listener is not implemented yet` });
    else if (o === null) bars.push({ text, status: "NO DATA", detail: "no figure for ours" });
    else bars.push({ text, status: o <= 32 ? "PASS" : "FAIL", detail: `${fmt(o)} KiB per tunnel` });
  }

  {
    const policyRows = rows.filter((r) => r.key.startsWith("policy_"));
    const first = cellValue(policyRows[0], "ours");
    const last = cellValue(policyRows[policyRows.length - 1], "ours");
    const sizes = policyRows.map((r) => Number(r.key.slice("policy_".length)).toLocaleString("en-US"));
    const text = `Policy decision time flat from ${sizes[0] ?? "?"} to ${sizes[sizes.length - 1] ?? "?"} patterns`;
    if (first === null || last === null) bars.push({ text, status: "NO DATA", detail: "policy rows missing" });
    else {
      // decisions/s: the largest set may be at most `policyTolerance` times slower.
      const slowdown = first / last;
      bars.push({
        text,
        status: slowdown <= policyTolerance ? "PASS" : "FAIL",
        detail: `${fmt(slowdown)}× the time per decision (tolerance ${policyTolerance}×): ${fmt(first)} → ${fmt(last)} decisions/s`,
      });
    }
  }
  return bars;
}

export interface ReportInput {
  /** The performance issue's targets (targets.ts), and ours against the previous published run (compare.ts). */
  targets?: Bar[];
  beforeAfter?: string;
  date: string;
  quick: boolean;
  machine: Array<[string, string]>;
  versions: Array<[string, string]>;
  method: string[];
  rows: Row[];
  bars: Bar[];
  skipped: string[];
}

function table(head: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...body.map(line)].join("\n");
}

/** The results table and its footnotes (printed to stdout and embedded in the Markdown). */
export function resultsTable(rows: readonly Row[]): string {
  const notes = new Notes();
  const body = rows.map((r) => {
    const best = bestPeer(r);
    const o = cellValue(r, "ours");
    return [
      `${r.title} (${r.unit}, ${r.better} is better)`,
      ...COLUMNS.map((c) => cellText(r.cells[c], notes)),
      ratio(o, cellValue(r, "direct")),
      ratio(o, cellValue(r, "bun-relay")),
      best && o !== null ? `${ratio(o, best.value)} (${best.sys})` : "—",
    ];
  });
  const out = table(["Figure", ...COLUMNS, "ours/direct", "ours/bun-relay", "ours/best peer"], body);
  return notes.list.length === 0 ? out : `${out}\n\n${notes.list.map((n, i) => `[${i + 1}] ${n}`).join("\n")}`;
}

export function barsList(bars: readonly Bar[]): string {
  return bars.map((b) => `- **${b.status}**: ${b.text}: ${b.detail}`).join("\n");
}

function runsTable(rows: readonly Row[]): string {
  const body: string[][] = [];
  for (const r of rows) {
    for (const c of COLUMNS) {
      const cell = r.cells[c];
      if (cell?.kind === "value" && cell.runs.length > 1) body.push([r.title, c, cell.runs.map(fmt).join(", ")]);
    }
  }
  return table(["Figure", "System", "Runs (median reported)"], body);
}

export function markdown(r: ReportInput): string {
  return `# Benchmarks

Generated by \`bun run bench\` (bench/run.ts) on ${r.date}${r.quick ? " with --quick: a smoke run, NOT representative figures" : ""}. Do not edit by hand: re-run the script.

## Machine

${table(["", ""], r.machine)}

## Versions

${table(["System", "Version"], r.versions)}

## Method

${r.method.map((m) => `- ${m}`).join("\n")}

## Results

${resultsTable(r.rows)}

${
  r.targets
    ? `## Targets of the performance issue

${barsList(r.targets)}

`
    : ""
}${
  r.beforeAfter
    ? `## Before and after

${r.beforeAfter}

`
    : ""
}## Bars (from the benchmark issue)

${barsList(r.bars)}
${r.skipped.length > 0 ? `\n## Skipped or not comparable\n\n${r.skipped.map((s) => `- ${s}`).join("\n")}\n` : ""}
## Individual runs

${runsTable(r.rows)}
`;
}
