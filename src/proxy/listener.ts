/**
 * Bun.listen wiring for the proxy ports: one shared handler object per listener, a Conn per
 * socket, the connection cap, and graceful stop.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { ListenAddr } from "../config/addr.ts";
import { fmtAddr } from "../config/addr.ts";
import type { Service } from "../service.ts";
import { Conn, connHandlers } from "./conn.ts";
import type { ProxyContext, Session } from "./context.ts";

export interface ListenerSpec {
  readonly name: string;
  readonly metricLabel: string;
  /** Create the session for an accepted connection. */
  readonly accept: (ctx: ProxyContext, conn: Conn, peer: string) => Session;
  /** Bytes to send before closing a connection over the cap (HTTP answers 503; SOCKS just closes). */
  readonly overCapReply: Buffer | null;
  /** How records name every client of this listener, instead of its address (`run --isolate`). */
  readonly peer?: string;
}

/** The client's address for logs and records; "unknown" for a socket reset before we looked. */
export function peerOf(s: Socket<unknown>): string {
  const raw = s.remoteAddress as string | undefined;
  if (!raw) return "unknown";
  const a = raw.startsWith("::ffff:") ? raw.slice(7) : raw;
  return a.includes(":") ? `[${a}]:${s.remotePort}` : `${a}:${s.remotePort}`;
}

export function startListener(env: ProxyContext, addr: ListenAddr, spec: ListenerSpec): Service {
  const handlers: SocketHandler<Conn> = {
    ...connHandlers,
    open(s) {
      const conn = new Conn(spec.metricLabel);
      s.data = conn;
      conn.sock = s;
      const gauge = env.state.metrics.active;
      const lease = env.connectionSlots.tryLease(spec.metricLabel);
      if (!lease) {
        env.state.metrics.errors.add({ code: "too_many_connections" });
        // Nothing it sends is kept; the answer (if any) goes out, then a close that is reset
        // after LINGER_MS if the peer does not finish it.
        conn.onData = () => {};
        if (spec.overCapReply) s.write(spec.overCapReply);
        conn.destroy();
        return;
      }
      gauge.add({ listener: spec.metricLabel }, 1);
      // The slot is tied to the connection before anything else can fail: whatever happens
      // from here (a throw in set-up, a reset, a normal close), closing gives it back.
      conn.afterClose = () => lease.release();
      try {
        s.setNoDelay(true);
        const session = spec.accept(env, conn, spec.peer ?? peerOf(s));
        env.track(session);
        conn.afterClose = () => {
          lease.release();
          env.untrack(session);
        };
      } catch (e) {
        env.log.error("connection set-up failed", { listener: spec.name, error: (e as Error)?.message ?? String(e) });
        conn.destroy(true);
        conn.reportClose(e as Error);
      }
    },
  };
  let server: TCPSocketListener<Conn>;
  try {
    server = Bun.listen<Conn>({ hostname: addr.host, port: addr.port, allowHalfOpen: true, socket: handlers, data: undefined as unknown as Conn });
  } catch (e) {
    throw new Error(`bind ${spec.name} ${fmtAddr(addr)}: ${(e as Error).message}`);
  }
  const bound = { host: addr.host, port: server.port };
  env.log.info(`${spec.name} listening`, { addr: fmtAddr(bound) });
  return {
    name: spec.name,
    address: bound,
    async stop(graceMs: number) {
      server.stop(false);
      for (const s of env.sessions) s.shutdown(false);
      if (env.sessions.size > 0 && graceMs > 0) {
        const deadline = Date.now() + graceMs;
        while (env.sessions.size > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          for (const s of env.sessions) s.shutdown(false);
        }
      }
      for (const s of env.sessions) s.shutdown(true);
      server.stop(true);
    },
  };
}
