/**
 * Dialing upstreams: only the addresses the policy vetted, never a name, with a connect time-out
 * and errors mapped to our catalogue.
 */
import { ProxyError, upstreamErrorCode } from "../errors.ts";
import type { DialAddr } from "../policy/decide.ts";
import { Conn, connHandlers, tlsConnHandlers } from "./conn.ts";

export interface DialOptions {
  readonly timeoutMs: number;
  readonly label: string;
  /** Speak TLS to the upstream and verify it (MITM re-encryption). */
  readonly tls?: UpstreamTls;
}

export interface UpstreamTls {
  /** The name (or IP) the certificate must be valid for; also sent as SNI when it is a name. */
  readonly serverName: string;
  /** Trusted roots (PEM): the system/bundled roots plus `mitm.upstream_ca_file`. */
  readonly ca: readonly string[];
}

/** ALPN in wire format: we only speak HTTP/1.1 to upstreams. */
const ALPN_HTTP11 = Buffer.from("\x08http/1.1", "latin1");

/**
 * Connect to the first address that answers. Rejects with a ProxyError naming the cause. A TLS
 * verification failure ends the attempt: it is the answer, not a reason to try elsewhere.
 */
export async function dial(addrs: readonly DialAddr[], port: number, opts: DialOptions): Promise<Conn> {
  let last: ProxyError | null = null;
  for (const a of addrs) {
    try {
      return await dialOne(a, port, opts);
    } catch (e) {
      last = e as ProxyError;
      if (last.code === "upstream_tls") break;
    }
  }
  throw last ?? new ProxyError("upstream_unreachable", "no address to connect to");
}

function dialOne(a: DialAddr, port: number, opts: DialOptions): Promise<Conn> {
  const conn = new Conn(opts.label);
  const shown = a.kind === "ipv6" ? `[${a.host}]:${port}` : `${a.host}:${port}`;
  const tls = opts.tls;
  return new Promise<Conn>((resolve, reject) => {
    let settled = false;
    const fail = (e: ProxyError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy(true);
      reject(e);
    };
    const timer = setTimeout(() => fail(new ProxyError("upstream_timeout", `connecting to ${shown} timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const ready = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.sock?.setNoDelay(true);
      resolve(conn);
    };
    if (tls) {
      // Verification is ours to check: proceed only on a handshake with no authorization error.
      conn.onHandshake = (ok, err) => {
        conn.onHandshake = null;
        if (ok && err === null) return ready();
        fail(new ProxyError("upstream_tls", `TLS to ${tls.serverName} (${shown}) failed verification: ${err?.message ?? "not authorized"}`));
      };
      conn.onClose = (err) => fail(new ProxyError("upstream_tls", `TLS to ${tls.serverName} (${shown}) failed: ${err?.message ?? "connection closed during the handshake"}`));
    }
    Bun.connect<Conn>({
      hostname: a.host,
      port,
      data: conn,
      allowHalfOpen: true,
      socket: tls ? tlsConnHandlers : connHandlers,
      ...(tls ? { tls: { serverName: tls.serverName, ca: [...tls.ca], rejectUnauthorized: true, ALPNProtocols: ALPN_HTTP11 } } : {}),
    }).then(
      (sock) => {
        conn.sock = sock;
        if (settled) {
          sock.terminate();
          return;
        }
        if (!tls) ready();
      },
      (err: unknown) => {
        const code = upstreamErrorCode(err);
        const why = (err as { code?: string }).code ?? (err as Error).message;
        fail(new ProxyError(code, `connecting to ${shown} failed: ${why}`, { cause: err }));
      },
    );
  });
}
