/**
 * 5. HTTPS through an intercepting proxy: ours in limited mode with MITM, against mitmproxy; and
 * bun-relay in its mitm mode (TLS in, TLS out, the plaintext piped), what an intercepting proxy
 * on Bun reaches before it parses anything.
 */
import { readFileSync } from "node:fs";
import type { HttpsResult } from "../clients/https.ts";
import { SMALL_BODY } from "../origin.ts";
import type { Row } from "../report.ts";
import { BUN_RELAY, type Running } from "../systems.ts";
import { client, fill, interleaved, peer, row, viaFor, type Bench, type Target } from "./common.ts";

const NOT_YET_MITM =
  "our MITM is not implemented yet: in limited mode with mitm.enabled the CONNECT is answered 403 `x-proxy-error: blocked-by-mitm-required`; this cell fills in by itself once MITM works";

export async function mitm(b: Bench): Promise<Row[]> {
  const p = b.params;
  const r = row(
    "mitm_rps",
    `HTTPS via MITM (ours: limited mode), ${SMALL_BODY.length} B responses, keep-alive, ${p.httpsConcurrency} connections`,
    "requests/s",
    "higher",
  );
  const rps = async (run: Running | null, seconds: number): Promise<number> => {
    // The proxy's own CA where it mints certificates; else (direct, bun-relay) the origin's.
    const ca = readFileSync(run?.mitmCa ?? b.ctx.certs.caPem, "utf8");
    const res: HttpsResult = await client(
      "https",
      { via: viaFor(run, "http"), port: b.ctx.origin.https, ca, concurrency: p.httpsConcurrency, seconds, bodyBytes: SMALL_BODY.length },
      seconds * 1000 + 60_000,
    );
    return res.requests / res.seconds;
  };
  const results = await interleaved(
    b,
    "HTTPS via MITM",
    (["ours", "direct", BUN_RELAY, peer("mitmproxy")] as Target[]).map((t) => [t, "mitm"]),
    [r.key],
    p.runs,
    async (run, id) => {
      try {
        await rps(run, 1);
        return null;
      } catch (e) {
        if (id === "ours" && /blocked-by-mitm-required/.test((e as Error).message)) return { kind: "notyet", why: NOT_YET_MITM };
        throw e;
      }
    },
    async (run) => ({ values: { mitm_rps: await rps(run, p.httpsSeconds) } }),
  );
  fill([r], results);
  return [r];
}
