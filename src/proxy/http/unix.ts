/**
 * `x-unix-socket` (macOS only, as in the original): a request carrying this header is sent to an
 * allowlisted Unix socket instead of a network host. Paths match exactly or after resolving
 * symlinks on both sides. Elsewhere it is refused with 501 before anything else.
 */
import { realpathSync } from "node:fs";
import { ProxyError } from "../../outcomes.ts";
import { type Platform, unixSocketPathMax } from "../../platform.ts";
import { parseAbsoluteUrl } from "../../policy/target.ts";
import { Conn, connHandlers } from "../conn.ts";
import type { SessionHandle } from "./handle.ts";
import type { RequestHead } from "./head.ts";
import { blockJson } from "./reply.ts";
import { hasBody, requestFacts } from "./rewrite.ts";

/** Why a socket path cannot be connected to on `platform` (too long for sun_path), or null. */
export function unixPathProblem(path: string, platform: Platform): string | null {
  const bytes = Buffer.byteLength(path);
  const max = unixSocketPathMax(platform);
  return bytes > max ? `x-unix-socket path is ${bytes} bytes; sockets on ${platform} take at most ${max}` : null;
}

export async function handleUnix(s: SessionHandle, req: RequestHead, path: string): Promise<void> {
  if (path === "" || !/^[\x21-\x7e]+$/.test(path)) throw new ProxyError("bad_request", "invalid x-unix-socket header");
  if (process.platform !== "darwin") throw new ProxyError("unix_sockets_unsupported", "unix sockets unsupported: x-unix-socket works on macOS only");
  const tooLong = unixPathProblem(path, process.platform);
  if (tooLong !== null) throw new ProxyError("bad_request", tooLong);
  const state = s.ctx.state;
  const allowed = unixSocketAllowed(path, state.config.policy.unixSockets);
  const v = s.ctx.gate.admitUnix({ path, client: s.peer, method: req.method, request: requestFacts(req, req.target), counters: s.client }, allowed);
  if (v.kind === "block") {
    // Never read the body of a blocked request: answer and close if it has one.
    const close = hasBody(req) || req.minor === 0 || req.connection.has("close");
    return s.answerLocal(blockJson(v.block, "unix-socket", path, close), close);
  }
  let originPath = req.target;
  if (!originPath.startsWith("/") && originPath !== "*") {
    try {
      originPath = parseAbsoluteUrl(req.target).path;
    } catch {
      originPath = "/";
    }
  }
  s.forward({
    req,
    target: null,
    path: originPath,
    hostHeader: req.host ?? "localhost",
    upgrade: null,
    dialer: () => dialUnixSocket(path, state.config.np.limits.connect_timeout_ms),
    poolKey: null,
    line: v.line,
    lease: null,
    hook: null,
  });
}

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
