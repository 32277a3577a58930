/**
 * `x-unix-socket` (macOS only, as in the original): a request carrying this header is sent to an
 * allowlisted Unix socket instead of a network host. Paths match exactly or after resolving
 * symlinks on both sides.
 */
import { realpathSync } from "node:fs";
import { ProxyError } from "../../errors.ts";
import { Conn, connHandlers } from "../conn.ts";

export function unixSocketAllowed(path: string, allowed: readonly string[]): boolean {
  if (!path.startsWith("/")) return false;
  if (allowed.includes(path)) return true;
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  for (const a of allowed) {
    try {
      if (realpathSync(a) === real) return true;
    } catch {
      // an allowlisted path that does not exist matches nothing
    }
  }
  return false;
}

export function dialUnixSocket(path: string, timeoutMs: number): Promise<Conn> {
  const conn = new Conn("unix");
  return new Promise<Conn>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new ProxyError("unix_socket_failed", `connecting to ${path} timed out`));
    }, timeoutMs);
    Bun.connect<Conn>({ unix: path, data: conn, allowHalfOpen: true, socket: connHandlers }).then(
      (sock) => {
        clearTimeout(timer);
        conn.sock = sock;
        if (settled) return sock.terminate();
        settled = true;
        resolve(conn);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(new ProxyError("unix_socket_failed", `unix socket proxy failed: ${(err as Error).message}`, { cause: err }));
      },
    );
  });
}
