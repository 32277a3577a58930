/**
 * Bun.listen wiring for the proxy ports: one shared handler object per listener, a Conn per
 * socket, the connection cap, and graceful stop.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { ListenAddr } from "../config/addr.ts";
import { fmtAddr } from "../config/addr.ts";
import type { Service } from "../server.ts";
import { Conn, connHandlers } from "./conn.ts";
import type { ProxyEnv, Session } from "./env.ts";

export interface ListenerSpec {
  readonly name: string;
  readonly metricLabel: string;
  /** Create the session for an accepted connection. */
  readonly accept: (env: ProxyEnv, conn: Conn, peer: string) => Session;
  /** Bytes to send before closing a connection over the cap (HTTP answers 503; SOCKS just closes). */
  readonly overCapReply: Buffer | null;
}

export function peerOf(s: Socket<unknown>): string {
  const a = s.remoteAddress.startsWith("::ffff:") ? s.remoteAddress.slice(7) : s.remoteAddress;
  return a.includes(":") ? `[${a}]:${s.remotePort}` : `${a}:${s.remotePort}`;
}

export function startListener(env: ProxyEnv, addr: ListenAddr, spec: ListenerSpec): Service {
  const handlers: SocketHandler<Conn> = {
    ...connHandlers,
    open(s) {
      const conn = new Conn(spec.metricLabel);
      s.data = conn;
      conn.sock = s;
      if (env.connections >= env.state.config.np.limits.max_connections) {
        env.state.metrics.errors.add({ code: "too_many_connections" });
        // Nothing it sends is kept; the answer (if any) goes out, then a close that is reset
        // after LINGER_MS if the peer does not finish it.
        conn.onData = () => {};
        if (spec.overCapReply) s.write(spec.overCapReply);
        conn.destroy();
        return;
      }
      s.setNoDelay(true);
      env.connections++;
      env.state.metrics.active.add({ listener: spec.metricLabel }, 1);
      const session = spec.accept(env, conn, peerOf(s));
      env.track(session);
      conn.afterClose = () => {
        env.connections--;
        env.state.metrics.active.add({ listener: spec.metricLabel }, -1);
        env.untrack(session);
      };
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
