/**
 * 9. The cost of `run --isolate`: the same client work under `run` and under `run --isolate`
 * (where the proxy listens on the command's own loopback, inside its network namespace). A
 * one-file download through a CONNECT tunnel (curl -p) and forwarding req/s (wrk), alternating
 * between the two in each round. Only our column exists.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { findIsolation } from "../../src/isolate/namespace.ts";
import { HOST } from "../lib/net.ts";
import { Proc } from "../lib/procs.ts";
import type { Row } from "../report.ts";
import { fromRuns, log, logCells, row, type Bench } from "./common.ts";

/** Run `script` (sh) under `run` or `run --isolate` of our binary; its stdout. */
async function under(b: Bench, isolate: boolean, script: string): Promise<string> {
  const args = ["run", ...(isolate ? ["--isolate"] : []), "-c", `network_proxy.policy.allowed_domains=["${HOST}"]`, "--", "sh", "-c", script];
  const p = new Proc(isolate ? "run --isolate" : "run", [b.ours.binary, ...args], { env: { CODEX_HOME: b.tmp } });
  p.sub.stdin.end();
  const code = await p.sub.exited;
  await p.drained;
  if (code !== 0) throw new Error(`${args.slice(0, 2).join(" ")} failed (${code}): ${p.tail(5)}`);
  return p.output;
}

export async function isolation(b: Bench): Promise<Row[]> {
  const p = b.params;
  const size = p.bulkBytes >= 2 ** 30 ? `${p.bulkBytes / 2 ** 30} GiB` : `${p.bulkBytes / 2 ** 20} MiB`;
  const rows = {
    bulk: row("isolate_bulk_run", `curl, one ${size} download through a CONNECT tunnel, under run`, "MB/s", "higher"),
    bulkIso: row("isolate_bulk_isolated", "  same under run --isolate", "MB/s", "higher"),
    fwd: row("isolate_forward_run", `wrk forwarding, ${p.wrkConnections} connections, under run`, "requests/s", "higher"),
    fwdIso: row("isolate_forward_isolated", "  same under run --isolate", "requests/s", "higher"),
  };
  const all = Object.values(rows);
  const iso = findIsolation([b.ours.binary]);
  const missing = "error" in iso ? iso.error : b.missing.get("wrk") ? `wrk: ${b.missing.get("wrk")}` : null;
  if (missing) {
    for (const r of all) r.cells.ours = { kind: "skipped", why: missing };
    return all;
  }
  log("run --isolate against run");
  const url = `http://${HOST}:${b.ctx.origin.bulk}/bulk/${p.bulkBytes}`;
  const curl = `curl -s -p -o /dev/null -w "curl %{size_download} %{speed_download}\\n" ${url}`;
  const lua = join(b.tmp, "wrk-isolate.lua");
  writeFileSync(lua, `wrk.path = "http://${HOST}:${b.ctx.origin.http}/small"\nwrk.headers["Host"] = "${HOST}:${b.ctx.origin.http}"\n`);
  // wrk has no proxy option: it talks to the proxy port named by the environment run sets.
  const wrk = `wrk -t1 -c${p.wrkConnections} -d${p.wrkSeconds}s -s ${lua} "http://${HOST}:\${HTTP_PROXY##*:}/"`;
  const runs: Record<string, number[]> = { bulk: [], bulkIso: [], fwd: [], fwdIso: [] };
  for (let i = 0; i < p.runs; i++) {
    for (const isolate of i % 2 === 0 ? [false, true] : [true, false]) {
      const m = /^curl (\d+) ([\d.]+)$/m.exec(await under(b, isolate, curl));
      const [bytes, speed] = [Number(m?.[1]), Number(m?.[2])];
      if (bytes !== p.bulkBytes) throw new Error(`curl got ${bytes} of ${p.bulkBytes} bytes`);
      runs[isolate ? "bulkIso" : "bulk"]!.push(speed / 1e6);
      const out = await under(b, isolate, wrk);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
      if (/Non-2xx/.test(out) || Number.isNaN(rps)) throw new Error(`wrk under run${isolate ? " --isolate" : ""}: ${out.slice(-300)}`);
      runs[isolate ? "fwdIso" : "fwd"]!.push(rps);
    }
  }
  for (const [k, r] of Object.entries(rows)) r.cells.ours = fromRuns(runs[k]!);
  logCells("ours", Object.fromEntries(all.map((r) => [r.key, r.cells.ours!])));
  return all;
}
