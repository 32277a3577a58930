/**
 * HTTPS through an intercepting proxy: `concurrency` keep-alive TLS connections, each opened
 * with CONNECT (or directly), verified against the CA the proxy presents, then sequential GETs
 * for a fixed time. Timing starts once every connection is up, so the figure is steady-state
 * requests, not handshakes.
 */
import { HOST } from "../lib/net.ts";
import { openTunnel, startTls, type Via, type Wire } from "../lib/wire.ts";

export interface HttpsArgs {
  via: Via;
  /** The origin's HTTPS port. */
  port: number;
  /** PEM of the CA the client trusts: the proxy's MITM CA, or the origin's CA when direct. */
  ca: string;
  concurrency: number;
  seconds: number;
  /** Expected body length of /small, to check every answer really came from the origin. */
  bodyBytes: number;
}

export interface HttpsResult {
  requests: number;
  seconds: number;
}

export async function https(a: HttpsArgs): Promise<HttpsResult> {
  const conns: Wire[] = await Promise.all(Array.from({ length: a.concurrency }, async () => startTls(await openTunnel(a.via, a.port), a.ca)));
  const request = `GET /small HTTP/1.1\r\nHost: ${HOST}:${a.port}\r\n\r\n`;
  let requests = 0;
  const started = performance.now();
  const deadline = started + a.seconds * 1000;
  try {
    await Promise.all(
      conns.map(async (w) => {
        while (performance.now() < deadline) {
          w.write(request);
          const r = await w.readResponse();
          if (r.status !== 200 || r.body.length !== a.bodyBytes) throw new Error(`GET /small answered ${r.status} with ${r.body.length} bytes`);
          requests++;
        }
      }),
    );
  } finally {
    for (const w of conns) w.close();
  }
  return { requests, seconds: (performance.now() - started) / 1000 };
}
