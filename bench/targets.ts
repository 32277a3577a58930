/**
 * The performance issue's targets, judged from one run's rows. Where a target depends on the
 * runtime, the bare Bun relay's figure (the bun-relay column) is given beside ours: a target
 * that even bun-relay misses is out of reach for any proxy on this Bun, on this machine.
 */
import { fmt } from "./lib/stats.ts";
import { type Bar, bestPeer, cellValue, ratio, type Row, type RowKey } from "./report.ts";

export function judgeTargets(rows: readonly Row[]): Bar[] {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const get = (k: RowKey) => byKey.get(k);
  const bars: Bar[] = [];
  /** bun-relay's figure, and whether it too misses `need` (higher is better; null: no judgement). */
  const relayNote = (row: Row | undefined, need: number | null, unit: string) => {
    const r = cellValue(row, "bun-relay");
    if (r === null) return "";
    const short = need !== null && (row?.better === "lower" ? r > need : r < need);
    return `; bun-relay ${fmt(r)}${unit}${short ? ", itself short of the target: out of reach on this runtime here" : ""}`;
  };
  /** The floor under ours (bun-relay with ours' runtime work), whether it misses 35 MiB too, and ours above it. */
  const floorNote = (row: Row | undefined, o: number) => {
    const f = cellValue(row, "bun-relay");
    if (f === null) return "";
    return `; with the runtime work ours does before it is ready ${fmt(f)} MiB${f > 35 ? ", itself over the target: out of reach on this runtime here" : ""}, ours ${fmt(o - f)} MiB above that`;
  };

  {
    const row = get("forward_rps");
    const o = cellValue(row, "ours");
    const s = cellValue(row, "squid");
    const text = "HTTP forwarding ≥ 2.5× squid's requests/s";
    if (o === null || s === null) bars.push({ text, status: "NO DATA", detail: "ours or squid has no figure" });
    else
      bars.push({
        text,
        status: o >= 2.5 * s ? "PASS" : "FAIL",
        detail: `${fmt(o)} vs 2.5 × ${fmt(s)} = ${fmt(2.5 * s)} req/s (${ratio(o, s)} squid)${relayNote(row, 2.5 * s, " req/s")}`,
      });
  }
  for (const [key, what] of [
    ["connect_rate", "New CONNECT tunnels"],
    ["socks_rate", "New SOCKS5 tunnels"],
  ] as const) {
    const row = get(key);
    const o = cellValue(row, "ours");
    const best = row ? bestPeer(row) : null;
    const text = `${what} ≥ 1.5× the best peer's per second`;
    if (o === null || !best) bars.push({ text, status: "NO DATA", detail: "ours or every peer has no figure" });
    else
      bars.push({
        text,
        status: o >= 1.5 * best.value ? "PASS" : "FAIL",
        detail: `${fmt(o)} vs 1.5 × ${best.sys} ${fmt(best.value)} = ${fmt(1.5 * best.value)}/s (${ratio(o, best.value)})${relayNote(row, 1.5 * best.value, "/s")}`,
      });
  }
  {
    const row = get("mitm_rps");
    const o = cellValue(row, "ours");
    const d = cellValue(row, "direct");
    const text = "HTTPS through MITM ≥ 0.5× direct HTTPS";
    if (o === null || d === null) bars.push({ text, status: "NO DATA", detail: "ours or direct has no figure" });
    else
      bars.push({
        text,
        status: o >= 0.5 * d ? "PASS" : "FAIL",
        detail: `${fmt(o)} vs 0.5 × ${fmt(d)} = ${fmt(0.5 * d)} req/s (${ratio(o, d)} direct)${relayNote(row, 0.5 * d, " req/s")}`,
      });
  }
  {
    const row = get("startup");
    const o = cellValue(row, "ours");
    const text = "Start-up, exec until every listener accepts ≤ 15 ms";
    bars.push(
      o === null
        ? { text, status: "NO DATA", detail: "no figure" }
        : { text, status: o <= 15 ? "PASS" : "FAIL", detail: `${fmt(o)} ms${relayNote(row, 15, " ms")}` },
    );
  }
  {
    const row = get("rss_idle");
    const o = cellValue(row, "ours");
    const text = "Idle RSS after start ≤ 35 MiB";
    bars.push(
      o === null
        ? { text, status: "NO DATA", detail: "no figure" }
        : { text, status: o <= 35 ? "PASS" : "FAIL", detail: `${fmt(o)} MiB${relayNote(row, 35, " MiB")}${floorNote(get("rss_idle_floor"), o)}` },
    );
  }
  {
    const policy = rows.filter((r) => r.key.startsWith("policy_"));
    const small = cellValue(policy[0], "ours");
    const large = cellValue(policy.at(-1), "ours");
    const text = "Policy decision time, 100,000 patterns vs 10 ≤ 1.3×";
    if (small === null || large === null) bars.push({ text, status: "NO DATA", detail: "policy rows missing" });
    else bars.push({ text, status: small / large <= 1.3 ? "PASS" : "FAIL", detail: `${fmt(small / large)}×: ${fmt(small)} → ${fmt(large)} decisions/s` });
    const last = policy.at(-1)?.cells.ours;
    const compiled = last?.kind === "value" ? /compiled in ([\d.]+) ms/.exec(last.note ?? "") : null;
    const ctext = "Compiling 100,000 patterns ≤ 200 ms (a cold compile in a fresh process; the median of the run's processes)";
    if (!compiled) bars.push({ text: ctext, status: "NO DATA", detail: "no compile time in the policy row" });
    else bars.push({ text: ctext, status: Number(compiled[1]) <= 200 ? "PASS" : "FAIL", detail: `${compiled[1]} ms` });
  }
  {
    const idle = cellValue(get("reload_p99_idle"), "ours");
    const busy = cellValue(get("reload_p99_busy"), "ours");
    const text = "Forwarding p99 during back-to-back reloads of 100,000 patterns ≤ 2× its p99 without";
    if (idle === null || busy === null) bars.push({ text, status: "NO DATA", detail: "reload rows missing" });
    else {
      // The same loads in another process: what the CPU alone costs, nothing of it in the proxy.
      const apart = cellValue(get("reload_p99_apart"), "ours");
      // A process that only spins at SCHED_IDLE: the least any busy neighbour costs.
      const floor = cellValue(get("reload_p99_floor"), "ours");
      const note =
        (apart === null
          ? ""
          : `; with the same loads in another process instead ${fmt(apart)} ms (${ratio(apart, idle)})${apart > 2 * idle ? ", itself over the target: sharing the cores with that work costs this much with none of it in the proxy" : ""}`) +
        (floor === null ? "" : `; beside a process that only spins at the lowest CPU priority ${fmt(floor)} ms (${ratio(floor, idle)})`);
      bars.push({ text, status: busy <= 2 * idle ? "PASS" : "FAIL", detail: `${fmt(busy)} ms vs 2 × ${fmt(idle)} ms (${ratio(busy, idle)})${note}` });
    }
  }
  for (const [key, what] of [
    ["connect_mbps", "CONNECT"],
    ["socks_mbps", "SOCKS5"],
  ] as const) {
    const row = get(key);
    const o = cellValue(row, "ours");
    const best = row ? bestPeer(row) : null;
    const d = cellValue(row, "direct");
    const text = `${what} bulk download ≥ 1.4× the best peer's`;
    if (o === null || !best) bars.push({ text, status: "NO DATA", detail: "ours or every peer has no figure" });
    else
      bars.push({
        text,
        status: o >= 1.4 * best.value ? "PASS" : "FAIL",
        detail: `${fmt(o)} MB/s vs 1.4 × ${best.sys} ${fmt(best.value)} = ${fmt(1.4 * best.value)} (${ratio(o, best.value)}); ${ratio(o, d)} of direct${relayNote(row, 1.4 * best.value, " MB/s")}`,
      });
  }
  return bars;
}
