/** 6. Memory: RSS idle, and per idle tunnel with many tunnels open. */
import { readFileSync } from "node:fs";
import { Proc } from "../lib/procs.ts";
import type { Cell, Row, RowKey } from "../report.ts";
import { compiledBare, compiledBareWork, withFreshPrograms } from "../compiled.ts";
import { BUN_BARE, BUN_BARE_WORK, BUN_RELAY, type Profile, type Running } from "../systems.ts";
import { CLIENT, fromRuns, idOf, log, logCells, NOT_YET_SOCKS, peer, row, viaFor, withSystem, type Bench, type Target } from "./common.ts";

interface TreeMemory {
  /** Sum of VmRSS (/proc/PID/status), KiB. */
  rss: number;
  /** Sum of Pss (/proc/PID/smaps_rollup), KiB: shared pages divided among their sharers. */
  pss: number;
  processes: number;
}

/** Memory of a process and all its descendants (danted forks children), in KiB. */
function treeMemory(pid: number): TreeMemory {
  const children = new Map<number, number[]>();
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process exited while we looked.
    }
  }
  const kib = (file: string, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"))?.[1] ?? 0);
  const m: TreeMemory = { rss: 0, pss: 0, processes: 0 };
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    try {
      m.rss += kib(`/proc/${p}/status`, "VmRSS");
      m.pss += kib(`/proc/${p}/smaps_rollup`, "Pss");
      m.processes++;
    } catch {
      continue;
    }
    todo.push(...(children.get(p) ?? []));
  }
  return m;
}

const SETTLE_MS = 1000;

interface IdleFigures {
  idle: TreeMemory;
  loaded: TreeMemory;
}

async function idleTunnelsMemory(b: Bench, r: Running, kind: "http" | "socks5"): Promise<IdleFigures> {
  await Bun.sleep(SETTLE_MS);
  const idle = treeMemory(r.proc.pid);
  const c = new Proc("client idle", [
    process.execPath,
    CLIENT,
    "idle",
    JSON.stringify({ via: viaFor(r, kind), port: b.ctx.origin.greet, count: b.params.idleTunnels, concurrency: 50 }),
  ]);
  try {
    await c.waitFor(/"ready":\d+/, 120_000);
    await Bun.sleep(SETTLE_MS);
    return { idle, loaded: treeMemory(r.proc.pid) };
  } finally {
    c.sub.stdin.end();
    await c.stop();
  }
}

/** The memory rows, ours and the compiled bare programs each started from a fresh copy (see withFreshPrograms). */
export function memory(b: Bench): Promise<Row[]> {
  return withFreshPrograms(b.ours, (ours) => memoryRows({ ...b, ours }));
}

async function memoryRows(b: Bench): Promise<Row[]> {
  const p = b.params;
  const idle = row("rss_idle", "RSS of the proxy process tree, idle after start", "MiB", "lower");
  const perConnect = row("rss_connect_tunnel", `RSS per idle CONNECT tunnel (${p.idleTunnels.toLocaleString("en-US")} open)`, "KiB", "lower");
  const perSocks = row("rss_socks_tunnel", `RSS per idle SOCKS5 tunnel (${p.idleTunnels.toLocaleString("en-US")} open)`, "KiB", "lower");
  const n = p.idleTunnels;
  const measure = (key: RowKey, kind: "http" | "socks5") => async (r: Running | null) => {
    const { idle, loaded } = await idleTunnelsMemory(b, r!, kind);
    // VmRSS is the figure asked for; for a tree of processes it counts shared pages once per
    // process, so PSS is given beside it.
    const tree =
      loaded.processes > 1
        ? `${r!.proc.name}: ${loaded.processes} processes with the tunnels open; by PSS instead of summed VmRSS: ${(idle.pss / 1024).toFixed(1)} MiB idle, ${((loaded.pss - idle.pss) / n).toFixed(1)} KiB per tunnel`
        : undefined;
    return { rss_idle: fromRuns([idle.rss / 1024]), [key]: fromRuns([(loaded.rss - idle.rss) / n], tree) };
  };
  log("memory");
  // bun-relay's idle figures are the compiled bare program's (bench/bare.ts), ours being
  // compiled too: plain, and with the runtime work ours does before it is ready (the floor row).
  // Its tunnel figures are the relay's below, which keep off these rows.
  const floor = row("rss_idle_floor", "  the least on this Bun with the runtime work ours does before it is ready (bench/bare-work.ts)", "MiB", "lower");
  await compiledBare();
  await compiledBareWork();
  for (const [system, target] of [
    [BUN_BARE, idle],
    [BUN_BARE_WORK, floor],
  ] as const) {
    const bare: Cell[] = [];
    for (let i = 0; i < p.memoryRuns; i++)
      bare.push(
        (
          await withSystem(b, system, "forward", ["rss_idle"], async (r) => {
            await Bun.sleep(SETTLE_MS);
            return { rss_idle: fromRuns([treeMemory(r!.proc.pid).rss / 1024]) };
          })
        ).rss_idle!,
      );
    target.cells["bun-relay"] = bare.find((c) => c.kind !== "value") ?? fromRuns(bare.map((c) => (c.kind === "value" ? c.value : NaN)));
    logCells("bun-relay", { [target.key]: target.cells["bun-relay"] });
  }
  const plan: Array<[Target, RowKey, "http" | "socks5", Profile]> = [
    ["ours", "rss_connect_tunnel", "http", "tunnel"],
    [BUN_RELAY, "rss_connect_tunnel", "http", "tunnel"],
    [peer("squid"), "rss_connect_tunnel", "http", "tunnel"],
    [peer("tinyproxy"), "rss_connect_tunnel", "http", "tunnel"],
    [peer("mitmproxy"), "rss_connect_tunnel", "http", "tunnel"],
    ["ours", "rss_socks_tunnel", "socks5", "socks"],
    [BUN_RELAY, "rss_socks_tunnel", "socks5", "socks"],
    [peer("dante"), "rss_socks_tunnel", "socks5", "socks"],
    [peer("microsocks"), "rss_socks_tunnel", "socks5", "socks"],
  ];
  for (const [t, key, kind, profile] of plan) {
    const id = idOf(t);
    if (id === "ours" && kind === "socks5" && !b.ours.listeners.has("SOCKS5 proxy")) {
      perSocks.cells.ours = { kind: "notyet", why: NOT_YET_SOCKS };
      continue;
    }
    // Memory is measured on a fresh process each run: a second batch of tunnels on the same
    // process would measure reuse of freed memory, not the cost of a tunnel.
    const runs: Array<Partial<Record<RowKey, Cell>>> = [];
    for (let i = 0; i < p.memoryRuns; i++) runs.push(await withSystem(b, t, profile, ["rss_idle", key], measure(key, kind)));
    for (const k of ["rss_idle", key] as const) {
      const cells = runs.map((c) => c[k]!);
      const failed = cells.find((c) => c.kind !== "value");
      const target = k === "rss_idle" ? idle : key === "rss_connect_tunnel" ? perConnect : perSocks;
      // Our idle RSS comes from the CONNECT runs; do not overwrite it with the SOCKS ones.
      if (k === "rss_idle" && target.cells[id]) continue;
      const note = cells.map((c) => (c.kind === "value" ? c.note : undefined)).find(Boolean);
      target.cells[id] =
        failed ??
        fromRuns(
          cells.map((c) => (c.kind === "value" ? c.value : NaN)),
          note,
        );
      logCells(id, { [k]: target.cells[id] });
    }
  }
  return [idle, floor, perConnect, perSocks];
}
