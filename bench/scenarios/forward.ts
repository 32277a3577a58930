/** 1. Plain HTTP forwarding, small responses, keep-alive: wrk through each proxy. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST } from "../lib/net.ts";
import { Proc } from "../lib/procs.ts";
import { SMALL_BODY } from "../origin.ts";
import type { Row } from "../report.ts";
import { BUN_RELAY, type Running } from "../systems.ts";
import { fill, idOf, interleaved, peer, row, type Bench, type Target } from "./common.ts";

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  socketErrors: number;
}

function ms(value: string, unit: string): number {
  return Number(value) * (unit === "us" ? 1e-3 : unit === "s" ? 1e3 : 1);
}

export async function wrk(b: Bench, port: number, path: string, seconds: number, host = HOST): Promise<WrkResult> {
  // wrk has no proxy option: connecting it to the proxy and making the request target the
  // absolute URL is exactly what an HTTP client configured with a proxy sends.
  const script = join(b.tmp, `wrk-${port}.lua`);
  writeFileSync(script, `wrk.path = ${JSON.stringify(path)}\nwrk.headers["Host"] = "${host}:${b.ctx.origin.http}"\n`);
  const p = new Proc("wrk", ["wrk", "-t1", `-c${b.params.wrkConnections}`, `-d${seconds}s`, "--latency", "-s", script, `http://${HOST}:${port}/`]);
  p.sub.stdin.end();
  const code = await p.sub.exited;
  await p.drained;
  if (code !== 0) throw new Error(`wrk failed (${code}): ${p.tail(5)}`);
  const out = p.output;
  const lat = (pct: string): number => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(out);
    if (!m) throw new Error(`no ${pct}% latency in wrk output:\n${out}`);
    return ms(m[1]!, m[2]!);
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: lat("50"),
    p99: lat("99"),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
  };
}

export async function forwarding(b: Bench): Promise<Row[]> {
  const p = b.params;
  const rows = [
    row("forward_rps", `HTTP forwarding, ${SMALL_BODY.length} B responses, keep-alive, ${p.wrkConnections} connections`, "requests/s", "higher"),
    row("forward_p50", "  same, p50 latency", "ms", "lower"),
    row("forward_p99", "  same, p99 latency", "ms", "lower"),
  ];
  const keys = rows.map((r) => r.key);
  const targets: Target[] = ["ours", "direct", BUN_RELAY, peer("squid"), peer("tinyproxy"), peer("mitmproxy")];
  if (b.missing.has("wrk")) {
    for (const r of rows) for (const t of targets) r.cells[idOf(t)] = { kind: "skipped", why: `wrk: ${b.missing.get("wrk")}` };
    return rows;
  }
  const target = (r: Running | null): [number, string] =>
    r ? [r.http!, `http://${r.host ?? HOST}:${b.ctx.origin.http}/small`] : [b.ctx.origin.http, "/small"];
  const results = await interleaved(
    b,
    "HTTP forwarding (wrk)",
    targets.map((t) => [t, "forward"]),
    keys,
    p.runs,
    async (r) => {
      await wrk(b, ...target(r), 1);
      return null;
    },
    async (r) => {
      const w = await wrk(b, ...target(r), p.wrkSeconds);
      if (w.non2xx > 0) throw new Error(`${w.non2xx} responses were not 2xx`);
      return {
        values: { forward_rps: w.rps, forward_p50: w.p50, forward_p99: w.p99 },
        errors: w.socketErrors,
        firstError: w.socketErrors > 0 ? "wrk socket errors; a proxy that closes kept-alive connections shows as read errors" : null,
      };
    },
  );
  fill(rows, results);
  // The cost of the extra hop: ours with squid as its upstream, against squid alone.
  const chain = row("forward_chain_rps", "HTTP forwarding through squid as our upstream (ours: ours → squid), same load", "requests/s", "higher");
  fill(
    [chain],
    await interleaved(
      b,
      "HTTP forwarding, chained (wrk)",
      [
        ["ours", "chain"],
        [peer("squid"), "forward"],
      ],
      [chain.key],
      p.runs,
      async (r) => {
        await wrk(b, ...target(r), 1, r?.host);
        return null;
      },
      async (r) => {
        const w = await wrk(b, ...target(r), p.wrkSeconds, r?.host);
        if (w.non2xx > 0) throw new Error(`${w.non2xx} responses were not 2xx`);
        return { values: { forward_chain_rps: w.rps } };
      },
    ),
  );
  return [...rows, chain];
}
