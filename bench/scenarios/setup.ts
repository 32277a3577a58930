/** 4. New tunnels per second: the cost of setting a tunnel up and tearing it down. */
import type { TunnelsResult } from "../clients/tunnels.ts";
import type { Via } from "../lib/wire.ts";
import type { Row } from "../report.ts";
import { BUN_RELAY, type Profile } from "../systems.ts";
import { client, fill, interleaved, peer, row, socksTargets, viaFor, type Bench, type Target } from "./common.ts";

async function tunnelRate(b: Bench, via: Via, seconds: number): Promise<TunnelsResult> {
  return client("tunnels", { via, port: b.ctx.origin.greetClose, concurrency: b.params.tunnelConcurrency, seconds }, seconds * 1000 + 60_000);
}

export async function tunnelSetup(b: Bench): Promise<Row[]> {
  const p = b.params;
  const what = `${p.tunnelConcurrency} concurrent open → first origin byte → origin closes → close loops`;
  const connect = row("connect_rate", `New CONNECT tunnels, ${what}`, "tunnels/s", "higher");
  const socks = row("socks_rate", `New SOCKS5 tunnels, ${what}`, "tunnels/s", "higher");
  const race = async (title: string, r: Row, kind: "http" | "socks5", profile: Profile, targets: Target[]) =>
    fill(
      [r],
      await interleaved(
        b,
        title,
        targets.map((t) => [t, profile]),
        [r.key],
        p.runs,
        async (run) => {
          await tunnelRate(b, viaFor(run, kind), 0.5);
          return null;
        },
        async (run) => {
          const x = await tunnelRate(b, viaFor(run, kind), p.tunnelSeconds);
          if (x.errors > 0.01 * (x.tunnels + x.errors)) throw new Error(`${x.errors} of ${x.tunnels + x.errors} tunnels failed: ${x.firstError}`);
          return { values: { [r.key]: x.tunnels / x.seconds }, errors: x.errors, firstError: x.firstError };
        },
      ),
    );
  await race("tunnel set-up, CONNECT", connect, "http", "tunnel", ["ours", "direct", BUN_RELAY, peer("squid"), peer("tinyproxy"), peer("mitmproxy")]);
  await race("tunnel set-up, SOCKS5", socks, "socks5", "socks", socksTargets(b, [socks], [BUN_RELAY, peer("dante"), peer("microsocks")]));
  // Direct has no tunnel protocol: its figure (plain connect → byte → close) serves both rows.
  if (connect.cells.direct) socks.cells.direct = connect.cells.direct;
  return [connect, socks];
}
