/**
 * Dialing upstreams: only the addresses the policy vetted, never a name again.
 *
 * - One deadline for the whole connect (`timeoutMs`, TLS handshake included), however many
 *   addresses there are: a target with many black-holed addresses cannot hold a client (and a
 *   tunnel slot) for their sum.
 * - Addresses are tried as RFC 8305 suggests: families interleaved (in the resolver's order of
 *   preference), a new attempt every 250 ms while earlier ones are still pending, at once when
 *   one fails; the first to connect wins and the others are dropped.
 * - `gone` cancels everything (the client went away).
 * - A TLS verification failure ends the dial: it is the answer, not a reason to try elsewhere.
 */
import { ProxyError, upstreamErrorCode } from "../outcomes.ts";
import type { DialAddr } from "../policy/decide.ts";
import { Conn, connHandlers, tlsConnHandlers } from "./conn.ts";

export interface DialOptions {
  /** Deadline for the whole connect, in ms. */
  readonly timeoutMs: number;
  readonly label: string;
  /** Speak TLS to the upstream and verify it (MITM re-encryption). */
  readonly tls?: UpstreamTls | undefined;
  /** Set when the client goes away: drop every attempt and reject. */
  readonly gone?: ClientGone | undefined;
}

/**
 * Marks that a client connection went away, for the dial made on its behalf. A plain object
 * (an AbortSignal is a DOM event target: heavier, and made per connection).
 */
export class ClientGone {
  #gone = false;
  #listener: (() => void) | null = null;

  get gone(): boolean {
    return this.#gone;
  }

  set(): void {
    if (this.#gone) return;
    this.#gone = true;
    const l = this.#listener;
    this.#listener = null;
    l?.();
  }

  /** One listener at a time: a client connection has one dial in flight at most. */
  listen(f: (() => void) | null): void {
    this.#listener = f;
  }
}

export interface UpstreamTls {
  /** The name (or IP) the certificate must be valid for; also sent as SNI when it is a name. */
  readonly serverName: string;
  /** Trusted roots (PEM): the system/bundled roots plus `mitm.upstream_ca_file`. */
  readonly ca: readonly string[];
}

/** Delay before the next address is tried while earlier attempts are pending (RFC 8305 section 5). */
export const ATTEMPT_DELAY_MS = 250;

/** ALPN in wire format: we only speak HTTP/1.1 to upstreams. */
const ALPN_HTTP11 = Buffer.from("\x08http/1.1", "latin1");

export class DialAbortedError extends Error {
  readonly code = "dial_aborted";
}

/** Families interleaved, starting with the family of the first address (RFC 8305 section 4). */
export function interleave(addrs: readonly DialAddr[]): DialAddr[] {
  if (addrs.length < 3) return [...addrs];
  const first = addrs[0]!.kind;
  const a = addrs.filter((x) => x.kind === first);
  const b = addrs.filter((x) => x.kind !== first);
  const out: DialAddr[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

const shown = (a: DialAddr, port: number) => (a.kind === "ipv6" ? `[${a.host}]:${port}` : `${a.host}:${port}`);

interface Attempt {
  cancel(): void;
}

/** Connect to the first address that answers (see the module comment). Rejects with a ProxyError or DialAbortedError. */
export function dial(addrs: readonly DialAddr[], port: number, opts: DialOptions): Promise<Conn> {
  const order = interleave(addrs);
  return new Promise<Conn>((resolve, reject) => {
    if (order.length === 0) return reject(new ProxyError("upstream_unreachable", "no address to connect to"));
    const pending = new Set<Attempt>();
    let next = 0;
    let settled = false;
    let last: Error | null = null;
    let stagger: ReturnType<typeof setTimeout> | null = null;
    const where = order.length === 1 ? shown(order[0]!, port) : `${order.length} addresses of port ${port}`;
    const deadline = setTimeout(
      () => settle(null, new ProxyError("upstream_timeout", `connecting to ${where} timed out after ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    const onAbort = () => settle(null, new DialAbortedError("the client went away while connecting"));
    opts.gone?.listen(onAbort);

    function settle(conn: Conn | null, err: Error | null): void {
      if (settled) {
        conn?.destroy(true);
        return;
      }
      settled = true;
      clearTimeout(deadline);
      if (stagger) clearTimeout(stagger);
      opts.gone?.listen(null);
      for (const a of pending) a.cancel();
      pending.clear();
      if (conn) resolve(conn);
      else reject(err ?? last ?? new ProxyError("upstream_unreachable"));
    }

    function startNext(): void {
      if (stagger) clearTimeout(stagger);
      stagger = null;
      if (settled || next >= order.length) return;
      const addr = order[next++]!;
      const attempt = dialOne(addr, port, opts, {
        won: (conn) => {
          pending.delete(attempt);
          settle(conn, null);
        },
        lost: (err) => {
          pending.delete(attempt);
          last = err;
          if (err.code === "upstream_tls") return settle(null, err);
          if (next < order.length) startNext();
          else if (pending.size === 0) settle(null, err);
        },
      });
      pending.add(attempt);
      if (next < order.length) stagger = setTimeout(startNext, ATTEMPT_DELAY_MS);
    }

    if (opts.gone?.gone) return onAbort();
    startNext();
  });
}

function dialOne(a: DialAddr, port: number, opts: DialOptions, on: { won: (c: Conn) => void; lost: (e: ProxyError) => void }): Attempt {
  const conn = new Conn(opts.label);
  const where = shown(a, port);
  const tls = opts.tls;
  let over = false;
  const lose = (e: ProxyError) => {
    if (over) return;
    over = true;
    conn.destroy(true);
    on.lost(e);
  };
  const win = () => {
    if (over) return;
    over = true;
    conn.sock?.setNoDelay(true);
    conn.remote = a;
    on.won(conn);
  };
  if (tls) {
    // Verification is ours to check: proceed only on a handshake with no authorization error.
    conn.onHandshake = (ok, err) => {
      conn.onHandshake = null;
      if (ok && err === null) return win();
      lose(new ProxyError("upstream_tls", `TLS to ${tls.serverName} (${where}) failed verification: ${err?.message ?? "not authorized"}`));
    };
    conn.onClose = (err) =>
      lose(new ProxyError("upstream_tls", `TLS to ${tls.serverName} (${where}) failed: ${err?.message ?? "connection closed during the handshake"}`));
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
      if (over) {
        sock.terminate();
        return;
      }
      if (!tls) win();
    },
    (err: unknown) => {
      const why = (err as { code?: string }).code ?? (err as Error).message;
      lose(new ProxyError(upstreamErrorCode(err), `connecting to ${where} failed: ${why}`, { cause: err }));
    },
  );
  return {
    cancel() {
      if (over) return;
      over = true;
      conn.destroy(true);
    },
  };
}
