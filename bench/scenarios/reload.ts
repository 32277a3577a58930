/**
 * 10. Forwarding while a large config is reloaded: our proxy starts with the policy row's
 * synthetic rule set at its largest size (100,000 patterns) plus the origin, and wrk forwards
 * through it in each round: once with nothing else happening, once while the config is
 * reloaded back to back (POST /reload; the file is parsed, validated and compiled anew each
 * time). The p99 of the second against the first is what a reload costs the traffic in flight.
 * Two references run before the reloads: another process loading the same file back to back
 * (reload-work.ts), the same CPU spent outside the proxy, which shows how much of that cost is
 * the machine's cores being shared rather than anything the proxy does while it reloads; and a
 * process that only spins at the lowest CPU priority (SCHED_IDLE), the least any busy
 * neighbour costs the p99 here. A last, unrecorded run lets the proxy collect the reloads'
 * garbage before the next round. Only our column exists.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyProcess } from "../../scripts/lib/proxy-process.ts";
import { pattern } from "../clients/policy.ts";
import { HOST } from "../lib/net.ts";
import { makeTempDir, removeTempDir } from "../lib/procs.ts";
import { median } from "../lib/stats.ts";
import type { Row } from "../report.ts";
import { client, firstLine, fromRuns, log, logCells, row, type Bench } from "./common.ts";
import { wrk, type WrkResult } from "./forward.ts";

/** Linux's scheduling policy number for SCHED_IDLE. */
const SCHED_IDLE = 5;

export async function reload(b: Bench): Promise<Row[]> {
  const p = b.params;
  const size = Math.max(...p.policySizes);
  const n = size.toLocaleString("en-US");
  const rows = {
    idle: row("reload_p99_idle", `wrk forwarding p99, ${p.wrkConnections} connections, config of ${n} patterns, no reload`, "ms", "lower"),
    busy: row("reload_p99_busy", `  same while that config is reloaded back to back`, "ms", "lower"),
    apart: row("reload_p99_apart", `  same while another process loads that config back to back (no reload)`, "ms", "lower"),
    floor: row("reload_p99_floor", `  same while another process only spins at the lowest CPU priority (SCHED_IDLE; no reload)`, "ms", "lower"),
    ms: row("reload_ms", `  one reload of the ${n} patterns (POST /reload answered)`, "ms", "lower"),
  };
  const all = Object.values(rows);
  if (b.missing.has("wrk")) {
    for (const r of all) r.cells.ours = { kind: "skipped", why: `wrk: ${b.missing.get("wrk")}` };
    return all;
  }
  const spinning = !b.missing.has("chrt");
  if (!spinning) rows.floor.cells.ours = { kind: "skipped", why: `chrt: ${b.missing.get("chrt")}` };
  log(`forwarding during reloads of ${n} patterns`);
  const home = makeTempDir("ours-reload");
  const entries = [HOST, ...Array.from({ length: size }, (_, i) => pattern(i))];
  writeFileSync(join(home, "config.toml"), `[network_proxy.policy]\nallowed_domains = [\n${entries.map((e) => `  ${JSON.stringify(e)},`).join("\n")}\n]\n`);
  const proxy = await ProxyProcess.start({ binary: b.ours.binary, args: ["--log-level", "warn"], env: { CODEX_HOME: home }, readyTimeoutMs: 60_000 });
  try {
    const token = readFileSync(join(home, "network_proxy", "admin.token"), "utf8").trim();
    const reloadOnce = async (): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${proxy.adminUrl}/reload`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`POST /reload answered ${res.status}: ${body.slice(0, 300)}`);
      return performance.now() - t0;
    };
    const url = `http://${HOST}:${b.ctx.origin.http}/small`;
    await reloadOnce(); // the reload path compiled and warm, like the forwarding path below
    // Unrecorded, like the settle run below: that reload's garbage collected before round one.
    await wrk(b, proxy.http, url, p.wrkSeconds);
    const runs = { idle: [] as number[], busy: [] as number[], apart: [] as number[], floor: [] as number[], ms: [] as number[] };
    let floorFailure: string | null = null;
    for (let i = 0; i < p.runs; i++) {
      // The references first: right after back-to-back reloads the proxy is still collecting
      // their garbage for a few seconds (the p99 of a quiet run then is 1.5-2.3x its usual).
      const quiet = await wrk(b, proxy.http, url, p.wrkSeconds);
      // A reference that cannot be measured fails its own cell, not the reload rows.
      const floor = spinning
        ? await wrkBesideSpin(b, proxy.http, url).catch((e: unknown) => {
            floorFailure ??= firstLine(e);
            return null;
          })
        : null;
      const [apart, work] = await Promise.all([
        wrk(b, proxy.http, url, p.wrkSeconds),
        client("reloadWork", { home, seconds: p.wrkSeconds }, p.wrkSeconds * 1000 + 120_000),
      ]);
      if (work.loads < 2) throw new Error(`only ${work.loads} loads finished in the other process during ${p.wrkSeconds} s of wrk`);
      let stop = false;
      const times: number[] = [];
      const reloading = (async () => {
        while (!stop) times.push(await reloadOnce());
      })();
      const busy = await wrk(b, proxy.http, url, p.wrkSeconds);
      stop = true;
      await reloading;
      // Unrecorded: traffic while that garbage is collected, so the next round starts settled.
      await wrk(b, proxy.http, url, p.wrkSeconds);
      for (const w of [quiet, busy, apart, ...(floor ? [floor] : [])])
        if (w.non2xx > 0 || w.socketErrors > 0) throw new Error(`wrk: ${w.non2xx} non-2xx responses, ${w.socketErrors} socket errors`);
      if (times.length < 2) throw new Error(`only ${times.length} reloads finished during ${p.wrkSeconds} s of wrk`);
      runs.idle.push(quiet.p99);
      runs.busy.push(busy.p99);
      runs.apart.push(apart.p99);
      if (floor) runs.floor.push(floor.p99);
      runs.ms.push(median(times));
    }
    rows.idle.cells.ours = fromRuns(runs.idle);
    rows.busy.cells.ours = fromRuns(runs.busy);
    rows.apart.cells.ours = fromRuns(runs.apart);
    if (floorFailure !== null) rows.floor.cells.ours = { kind: "failed", why: floorFailure };
    else if (spinning) rows.floor.cells.ours = fromRuns(runs.floor);
    rows.ms.cells.ours = fromRuns(runs.ms);
  } finally {
    await proxy.stop();
    removeTempDir(home);
  }
  logCells("ours", Object.fromEntries(all.map((r) => [r.key, r.cells.ours!])));
  return all;
}

/** wrk through the proxy while a process spins at SCHED_IDLE beside it (checked from its /proc). */
async function wrkBesideSpin(b: Bench, proxyPort: number, url: string): Promise<WrkResult> {
  const seconds = b.params.wrkSeconds;
  // A deadline, not a duration: the spinner's own start-up at SCHED_IDLE must not shorten it.
  const until = Date.now() + seconds * 1000;
  const [w, spun] = await Promise.all([wrk(b, proxyPort, url, seconds), client("spin", { until }, seconds * 1000 + 60_000, ["chrt", "--idle", "0"])]);
  if (spun.policy !== SCHED_IDLE) throw new Error(`the spinning process ran under scheduling policy ${spun.policy}, not SCHED_IDLE (${SCHED_IDLE})`);
  return w;
}
