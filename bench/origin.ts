/**
 * The loopback origin, run as its own process (`bun bench/origin.ts CERT KEY`) so that serving
 * never competes with a client on one event loop. It prints its ports as one JSON line:
 *
 * - http:  Bun.serve, GET /small -> a fixed SMALL_BODY (keep-alive, Content-Length);
 * - https: the same over TLS, with the per-run certificate for 127.0.0.1;
 * - bulk:  raw HTTP/1.1 on Bun.listen, GET /bulk/N -> N pattern bytes streamed with
 *          backpressure from one reused block (no per-request allocation, so the origin is
 *          never the bottleneck of a throughput row);
 * - greet: raw TCP that writes one "+" on accept and then stays idle (idle-tunnel rows: the
 *          byte proves each tunnel reaches the origin);
 * - greetClose: the same, but closes right after the "+" (tunnel set-up rows). The origin
 *          closing first puts TIME_WAIT on its own side (the origin's fixed port), so the
 *          tens of thousands of cycles leave no ephemeral port of the client or the proxy in
 *          TIME_WAIT; otherwise the loopback ephemeral range runs out within a minute.
 */
import type { Socket } from "bun";
import { patternBlocks } from "../scripts/lib/pattern.ts";
import { HOST } from "./lib/net.ts";

export const SMALL_BODY = "x".repeat(200);

export interface OriginPorts {
  http: number;
  https: number;
  bulk: number;
  greet: number;
  greetClose: number;
}

/** The pattern repeats with this block's length, so any stream offset maps into it. */
const BLOCK: Uint8Array = patternBlocks(Number.MAX_SAFE_INTEGER).next().value!;

interface BulkState {
  head: string;
  left: number;
  offset: number;
}

function pump(s: Socket<BulkState>): void {
  const st = s.data;
  while (st.left > 0) {
    const chunk = BLOCK.subarray(st.offset, st.offset + Math.min(BLOCK.length - st.offset, st.left));
    const n = s.write(chunk);
    st.left -= n;
    st.offset = (st.offset + n) % BLOCK.length;
    if (n < chunk.length) return; // the kernel buffer is full: drain() resumes
  }
}

function startOrigin(cert: string, key: string): OriginPorts {
  const fetch = (req: Request): Response =>
    new URL(req.url).pathname === "/small"
      ? new Response(SMALL_BODY, { headers: { "content-type": "text/plain" } })
      : new Response("not found", { status: 404 });
  const http = Bun.serve({ hostname: HOST, port: 0, fetch });
  const https = Bun.serve({ hostname: HOST, port: 0, fetch, tls: { cert: Bun.file(cert), key: Bun.file(key) } });

  const bulk = Bun.listen<BulkState>({
    hostname: HOST,
    port: 0,
    socket: {
      open(s) {
        s.data = { head: "", left: 0, offset: 0 };
      },
      data(s, d) {
        s.data.head += d.toString("latin1");
        if (!s.data.head.includes("\r\n\r\n")) return;
        const m = /^GET \/bulk\/(\d+) HTTP\/1\.1\r\n/.exec(s.data.head);
        if (!m) {
          s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          return;
        }
        s.data.left = Number(m[1]);
        s.data.head = "";
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${s.data.left}\r\nContent-Type: application/octet-stream\r\n\r\n`);
        pump(s);
      },
      drain: pump,
    },
  });

  const greeter = (close: boolean) =>
    Bun.listen({
      hostname: HOST,
      port: 0,
      socket: {
        open(s) {
          if (close) s.end("+");
          else s.write("+");
        },
        data() {},
      },
    });

  return { http: http.port!, https: https.port!, bulk: bulk.port, greet: greeter(false).port, greetClose: greeter(true).port };
}

if (import.meta.main) {
  const [cert, key] = process.argv.slice(2);
  if (!cert || !key) {
    console.error("usage: bun bench/origin.ts CERT.pem KEY.pem");
    process.exit(2);
  }
  console.log(JSON.stringify(startOrigin(cert, key)));
}
