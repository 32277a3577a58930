/**
 * The default command: run the listeners until SIGINT/SIGTERM (on Windows: Ctrl+C, Ctrl+Break
 * or the console closing; see platform.ts).
 */
import { renameSync, writeFileSync } from "node:fs";
import type { CliOptions } from "../cli.ts";
import { loadConfigSliced } from "../config/load-async.ts";
import { hardenProcess } from "../harden.ts";
import { systemResolver } from "../runtime/resolver.ts";
import { ProxyState } from "../runtime/state.ts";
import { ProxyServer } from "../server.ts";
import { isRepeat, shutdownSignals } from "../platform.ts";
import { VERSION } from "../version.ts";
import { loadOptions, loadOrReport, makeLogger, type Io } from "./common.ts";

export async function serveCommand(o: CliOptions, io: Io): Promise<number> {
  const log = makeLogger(o);
  const config = loadOrReport(o, io, log);
  if (typeof config === "number") return config;
  if (!config.np.enabled) {
    const msg = "network_proxy.enabled is false; not starting any listener";
    if (o.logFormat === "json") log.warn(msg);
    else io.err(`codex-network-proxy: ${msg}\n`);
    return 0;
  }
  hardenProcess(log, "other processes of this user");
  const opts = loadOptions(o, io);
  const state = new ProxyState(config, log, systemResolver, () => loadConfigSliced(opts));
  const server = new ProxyServer(state, log);
  try {
    await server.start();
  } catch (e) {
    log.error((e as Error).message);
    await server.stop(0);
    return 1;
  }

  const { promise, resolve } = Promise.withResolvers<number>();
  let first: { sig: NodeJS.Signals; at: number } | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (first !== null) {
      if (isRepeat(first, sig, performance.now())) {
        log.info("the same signal again at once (delivered twice, e.g. by a terminal and a launcher); still draining", { signal: sig });
        return;
      }
      log.warn("second signal; exiting now", { signal: sig });
      resolve(0);
      return;
    }
    first = { sig, at: performance.now() };
    const grace = state.config.np.limits.shutdown_grace_ms;
    log.info("shutting down", { signal: sig, grace_ms: grace });
    server.stop(grace).then(
      () => resolve(0),
      (e) => {
        log.error("shutdown failed", { error: (e as Error).message });
        resolve(1);
      },
    );
  };
  for (const sig of shutdownSignals(process.platform)) {
    try {
      process.on(sig, onSignal);
    } catch (e) {
      log.warn("cannot listen for a signal on this platform", { signal: sig, error: (e as Error).message });
    }
  }
  if (o.readyFile !== undefined) {
    try {
      writeReadyFile(o.readyFile, server);
    } catch (e) {
      log.error("cannot write the ready file", { path: o.readyFile, error: (e as Error).message });
      await server.stop(0);
      return 1;
    }
  }
  // Watching is not part of accepting: it starts once whoever waits for the ready file can go
  // on, and reloads at once if the file changed since it was read.
  server.watchConfig();
  log.info("codex-network-proxy started", { version: VERSION, mode: state.mode, pid: process.pid });

  // Keep the process alive even before any listener exists.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const code = await promise;
  clearInterval(keepAlive);
  for (const sig of shutdownSignals(process.platform)) process.off(sig, onSignal);
  log.info("stopped");
  return code;
}

/** The bound addresses, for whoever started us (tests, the benchmark): written whole or not at all. */
function writeReadyFile(path: string, server: ProxyServer): void {
  const b = server.state.bound!;
  const info = { pid: process.pid, version: VERSION, http: b.http, socks: b.socks, admin: b.admin };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info) + "\n");
  renameSync(tmp, path);
}
