/**
 * Large transfers through a real proxy process: 1 GiB through a CONNECT tunnel with checksums,
 * an upload, and a reader that stops reading, while the proxy's memory is watched.
 */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { ProxyProcess } from "../helpers/cli.ts";
import { patternBlocks, patternSha, RawOrigin, streamingOrigin } from "../helpers/origin.ts";
import { until } from "../helpers/until.ts";

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

async function proxyProcess(): Promise<{ proc: ProxyProcess; port: number; socksPort: number }> {
  const proc = await ProxyProcess.start({ config: ['network_proxy.policy.allowed_domains=["127.0.0.1"]'] });
  return { proc, port: proc.http, socksPort: proc.socks };
}

interface TunnelClient {
  socket: Socket<undefined>;
  received: () => number;
  done: Promise<string>;
}

/** CONNECT (HTTP) or SOCKS5 CONNECT to the origin, hashing everything that comes back. */
async function tunnel(proxyPort: number, originPort: number, expect: number, via: "connect" | "socks5" = "connect"): Promise<TunnelClient> {
  const hasher = new Bun.CryptoHasher("sha256");
  let got = 0;
  let headDone = false;
  let head = Buffer.alloc(0);
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxyPort,
    socket: {
      data(_s, d) {
        if (!headDone) {
          head = Buffer.concat([head, d]);
          if (via === "socks5") {
            if (head.length < 12) return;
            if (head[1] !== 0 || head[3] !== 0) return reject(new Error(`SOCKS5 refused: ${[...head.subarray(0, 12)]}`));
            headDone = true;
            d = head.subarray(12);
          } else {
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) return;
            if (!head.subarray(0, end).toString().startsWith("HTTP/1.1 200")) return reject(new Error(head.toString()));
            headDone = true;
            d = head.subarray(end + 4);
          }
        }
        got += d.length;
        hasher.update(d);
        if (got >= expect) resolve(hasher.digest("hex"));
      },
      close() {
        if (got < expect) reject(new Error(`tunnel closed after ${got} bytes`));
      },
    },
  });
  if (via === "socks5") socket.write(Uint8Array.of(5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, originPort >> 8, originPort & 255));
  else socket.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\n\r\n`);
  return { socket, received: () => got, done: promise };
}

describe("bulk transfers through a proxy process", () => {
  test.each(["connect", "socks5"] as const)(
    "1 GiB through a %s tunnel: checksum matches, proxy memory stays bounded",
    async (via) => {
      const { proc, port, socksPort } = await proxyProcess();
      await using _p = proc;
      using origin = streamingOrigin(GiB);
      const before = rssKiB(proc.proc.pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(proc.proc.pid))), 50);
      try {
        const t0 = performance.now();
        const c = await tunnel(via === "connect" ? port : socksPort, origin.port, GiB, via);
        const digest = await c.done;
        const secs = (performance.now() - t0) / 1000;
        c.socket.end();
        expect(digest).toBe(patternSha(GiB));
        console.log(
          `1 GiB through ${via} in ${secs.toFixed(2)} s (${(GiB / MiB / secs).toFixed(0)} MiB/s, hashing included); proxy RSS ${before} KiB -> peak ${peak} KiB`,
        );
      } finally {
        clearInterval(sampler);
      }
      expect(peak - before).toBeLessThan(64 * 1024);
    },
    120_000,
  );

  test("256 MiB upload through a tunnel arrives intact", async () => {
    const { proc, port } = await proxyProcess();
    await using _p = proc;
    const hasher = new Bun.CryptoHasher("sha256");
    let got = 0;
    const total = 256 * MiB;
    const { promise, resolve } = Promise.withResolvers<string>();
    using origin = new RawOrigin((c) => {
      c.socket.data.onData = (all) => {
        hasher.update(all);
        got += all.length;
        c.socket.data.buf = Buffer.alloc(0);
        if (got >= total) resolve(hasher.digest("hex"));
      };
    });
    const it = patternBlocks(total);
    let pending: Uint8Array | null = null;
    let established = false;
    const pump = (s: Socket<undefined>) => {
      for (;;) {
        const chunk = pending ?? it.next().value;
        if (!chunk) return;
        const n = s.write(chunk);
        if (n < chunk.length) {
          pending = chunk.subarray(Math.max(0, n));
          return;
        }
        pending = null;
      }
    };
    const s = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(sock, d) {
          if (!established && d.toString().startsWith("HTTP/1.1 200")) {
            established = true;
            pump(sock);
          }
        },
        drain(sock) {
          if (established) pump(sock);
        },
      },
    });
    s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect(await promise).toBe(patternSha(total));
    s.end();
  }, 60_000);

  test("a client that stops reading: the proxy buffers a bounded amount, then delivers everything", async () => {
    const { proc, port } = await proxyProcess();
    await using _p = proc;
    const total = 512 * MiB;
    using origin = streamingOrigin(total);
    const c = await tunnel(port, origin.port, total);
    await until(() => c.received() > 0, "the first bytes");
    c.socket.pause();
    const before = rssKiB(proc.proc.pid);
    // The origin must end up blocked: the proxy stopped reading from it instead of buffering.
    await until(() => origin.state.blocked && origin.state.written > MiB, "the origin to be backpressured", 20_000);
    const writtenWhilePaused = origin.state.written;
    const held = rssKiB(proc.proc.pid);
    console.log(`reader paused: origin wrote ${(writtenWhilePaused / MiB).toFixed(1)} MiB before blocking; proxy RSS ${before} -> ${held} KiB`);
    expect(writtenWhilePaused).toBeLessThan(64 * MiB);
    expect(held - before).toBeLessThan(32 * 1024);
    c.socket.resume();
    expect(await c.done).toBe(patternSha(total));
    c.socket.end();
  }, 120_000);
});
