/** 2-3. Bulk throughput through CONNECT and SOCKS5 tunnels: one checksummed download per run. */
import { patternCrc32 } from "../../scripts/lib/pattern.ts";
import type { BulkResult } from "../clients/bulk.ts";
import type { Via } from "../lib/wire.ts";
import type { Row } from "../report.ts";
import { BUN_RELAY, type Profile } from "../systems.ts";
import { client, fill, interleaved, peer, row, socksTargets, viaFor, type Bench, type Target } from "./common.ts";

const crcCache = new Map<number, number>();
function expectedCrc(bytes: number): number {
  let h = crcCache.get(bytes);
  if (h === undefined) {
    h = patternCrc32(bytes);
    crcCache.set(bytes, h);
  }
  return h;
}

async function bulkMBps(b: Bench, via: Via, bytes: number): Promise<number> {
  const r: BulkResult = await client("bulk", { via, port: b.ctx.origin.bulk, bytes }, 120_000 + bytes / 1e5);
  if (r.crc32 !== expectedCrc(bytes)) throw new Error(`checksum mismatch after ${bytes} bytes: CRC-32 ${r.crc32.toString(16)}`);
  return r.bytes / r.seconds / 1e6;
}

export async function bulk(b: Bench): Promise<Row[]> {
  const p = b.params;
  const size = p.bulkBytes >= 2 ** 30 ? `${p.bulkBytes / 2 ** 30} GiB` : `${p.bulkBytes / 2 ** 20} MiB`;
  const connect = row("connect_mbps", `CONNECT tunnel, one ${size} download, CRC-32 checked`, "MB/s", "higher");
  const socks = row("socks_mbps", `SOCKS5 tunnel, one ${size} download, CRC-32 checked`, "MB/s", "higher");
  const race = async (what: string, r: Row, kind: "http" | "socks5", profile: Profile, targets: Target[]) =>
    fill(
      [r],
      await interleaved(
        b,
        what,
        targets.map((t) => [t, profile]),
        [r.key],
        p.bulkRuns,
        async (run) => {
          await bulkMBps(b, viaFor(run, kind), p.warmBulkBytes);
          return null;
        },
        async (run) => ({ values: { [r.key]: await bulkMBps(b, viaFor(run, kind), p.bulkBytes) } }),
      ),
    );
  await race("CONNECT bulk", connect, "http", "tunnel", ["ours", "direct", BUN_RELAY, peer("squid"), peer("tinyproxy"), peer("mitmproxy")]);
  await race("SOCKS5 bulk", socks, "socks5", "socks", socksTargets(b, [socks], ["direct", BUN_RELAY, peer("dante"), peer("microsocks")]));
  // The cost of the extra hop: ours with squid as its upstream, against squid alone.
  const chain = row("connect_chain_mbps", `CONNECT tunnel through squid as our upstream (ours: ours → squid), one ${size} download`, "MB/s", "higher");
  fill(
    [chain],
    await interleaved(
      b,
      "CONNECT bulk, chained",
      [
        ["ours", "chain"],
        [peer("squid"), "tunnel"],
      ],
      [chain.key],
      p.bulkRuns,
      async (run) => {
        await bulkMBps(b, viaFor(run, "http"), p.warmBulkBytes);
        return null;
      },
      async (run) => ({ values: { connect_chain_mbps: await bulkMBps(b, viaFor(run, "http"), p.bulkBytes) } }),
    ),
  );
  return [connect, socks, chain];
}
