/**
 * Dialing upstreams: only the addresses the policy vetted, never a name, with a connect time-out
 * and errors mapped to our catalogue.
 */
import { ProxyError, upstreamErrorCode } from "../errors.ts";
import type { DialAddr } from "../policy/decide.ts";
import { Conn, connHandlers } from "./conn.ts";

export interface DialOptions {
  readonly timeoutMs: number;
  readonly label: string;
}

/** Connect to the first address that answers. Rejects with a ProxyError naming the cause. */
export async function dial(addrs: readonly DialAddr[], port: number, opts: DialOptions): Promise<Conn> {
  let last: ProxyError | null = null;
  for (const a of addrs) {
    try {
      return await dialOne(a, port, opts);
    } catch (e) {
      last = e as ProxyError;
    }
  }
  throw last ?? new ProxyError("upstream_unreachable", "no address to connect to");
}

function dialOne(a: DialAddr, port: number, opts: DialOptions): Promise<Conn> {
  const conn = new Conn(opts.label);
  const shown = a.kind === "ipv6" ? `[${a.host}]:${port}` : `${a.host}:${port}`;
  return new Promise<Conn>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new ProxyError("upstream_timeout", `connecting to ${shown} timed out after ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    Bun.connect<Conn>({ hostname: a.host, port, data: conn, allowHalfOpen: true, socket: connHandlers }).then(
      (sock) => {
        clearTimeout(timer);
        conn.sock = sock;
        if (settled) {
          sock.terminate();
          return;
        }
        settled = true;
        sock.setNoDelay(true);
        resolve(conn);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        const code = upstreamErrorCode(err);
        const why = (err as { code?: string }).code ?? (err as Error).message;
        reject(new ProxyError(code, `connecting to ${shown} failed: ${why}`, { cause: err }));
      },
    );
  });
}
