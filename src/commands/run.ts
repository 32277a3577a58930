/**
 * `run -- CMD ...`: a private proxy on free loopback ports, CMD run with the environment that
 * points at it, signals forwarded, a one-line summary of what was blocked, CMD's exit status.
 */
import { constants } from "node:os";
import type { CliOptions } from "../cli.ts";
import { clientEnv, hookSecretVars } from "./client-env.ts";
import { loadConfigSliced } from "../config/load-async.ts";
import { hardenProcess } from "../harden.ts";
import { forwardedSignals } from "../platform.ts";
import { systemResolver } from "../runtime/resolver.ts";
import { spawnIsolated } from "../isolate/launch.ts";
import { findIsolation, type Isolation } from "../isolate/namespace.ts";
import type { BlockedEvent } from "../runtime/blocked.ts";
import { ProxyState } from "../runtime/state.ts";
import { ProxyServer } from "../server.ts";
import { loadOrReport, makeLogger, type Io } from "./common.ts";
import { caBundleFor } from "./env.ts";

const EPHEMERAL = ['network_proxy.proxy_url="127.0.0.1:0"', 'network_proxy.socks_url="127.0.0.1:0"', 'network_proxy.admin_url="127.0.0.1:0"'];
const FORWARDED = forwardedSignals(process.platform);

export async function runCommand(o: CliOptions, io: Io): Promise<number> {
  // The listeners always go on free loopback ports: a private proxy for this one command.
  const opts = { ...o, overrides: [...o.overrides, ...EPHEMERAL], logLevel: o.logLevelSet ? o.logLevel : ("error" as const) };
  const log = makeLogger(opts);
  const config = loadOrReport(opts, io, log);
  if (typeof config === "number") return config;
  if (config.np.policy.on_unlisted === "ask") {
    // Nobody could answer: the admin API of this private proxy has a token only it knows.
    io.err(
      'codex-network-proxy run: policy.on_unlisted = "ask" needs someone to answer on the admin API, and run keeps its admin API to itself; ' +
        'start the proxy with `codex-network-proxy` and run the command under `eval "$(codex-network-proxy env)"`, or use on_unlisted = "deny" here\n',
    );
    return 2;
  }
  // --isolate: namespaces or nothing. The command never runs without the isolation it asked for.
  let isolation: Isolation | null = null;
  if (o.isolate) {
    const found = findIsolation();
    if ("error" in found) {
      io.err(`codex-network-proxy run --isolate: ${found.error}\n`);
      return 126;
    }
    isolation = found;
    log.debug("isolating the command", { with: found.tool });
  }
  // The command runs as our user: keep it out of our memory, where the admin token lives. Our
  // logs are quiet unless asked for, but where that protection exists and failed, it is said.
  const hardened = hardenProcess(log, "the command");
  if (!hardened.ok && hardened.expected && !o.logLevelSet) {
    const what = "the proxy's memory is not protected from the command";
    if (o.logFormat === "json") makeLogger({ ...o, logLevel: "warn" }).warn(what, { why: hardened.protection });
    else io.err(`codex-network-proxy run: warning: ${what}: ${hardened.protection}\n`);
  }
  const state = new ProxyState(config, log, systemResolver, () => loadConfigSliced({ configPath: o.configPath, overrides: opts.overrides, env: io.env }));
  const server = new ProxyServer(state, log);
  const blocked: BlockedEvent[] = [];
  state.onBlocked.push((e) => {
    if (blocked.length < 10_000) blocked.push(e);
  });
  let bundle: string | null;
  try {
    await server.start({ forCommand: true });
    bundle = await caBundleFor(config);
  } catch (e) {
    io.err(`codex-network-proxy run: ${(e as Error).message}\n`);
    await server.stop(0);
    return 1;
  }
  const addrs = { http: server.address("HTTP proxy"), socks: config.listeners.socks ? server.address("SOCKS5 proxy") : null };
  const env: Record<string, string> = { ...(io.env as Record<string, string>) };
  // The hooks' secrets were read from our environment; the command gets placeholders instead.
  for (const v of clientEnv(addrs, bundle, config.proxyAuth, hookSecretVars(config.np.mitm_hooks))) env[v.name] = v.value;
  env["CODEX_NETWORK_PROXY_ADMIN_URL"] = `http://127.0.0.1:${server.address("admin API").port}`;

  // Handlers go in before the child exists: a signal that arrives in between is held, not fatal.
  let child: Bun.Subprocess<"inherit", "inherit", "inherit"> | null = null;
  const early: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => (child ? child.kill(sig) : early.push(sig));
  for (const s of FORWARDED) process.on(s, forward);
  try {
    child = isolation
      ? await spawnIsolated(isolation, server, o.args, env)
      : Bun.spawn([...o.args], { env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (e) {
    for (const s of FORWARDED) process.off(s, forward);
    const what = isolation
      ? `run --isolate: cannot set up the namespace: ${(e as Error).message}`
      : `run: cannot run ${JSON.stringify(o.args[0])}: ${(e as Error).message}`;
    io.err(`codex-network-proxy ${what}\n`);
    await server.stop(0);
    return isolation ? 126 : 127;
  }
  for (const sig of early) child.kill(sig);
  const status = await child.exited;
  for (const s of FORWARDED) process.off(s, forward);
  io.err(summarize(blocked, Math.max(0, state.blocked.total - blocked.length)) + "\n");
  await server.stop(1000);
  if (child.signalCode) return 128 + (constants.signals[child.signalCode as keyof typeof constants.signals] ?? 0);
  return status;
}

/** One line: how many requests were blocked, by reason, with a few of the hosts. */
export function summarize(events: readonly BlockedEvent[], dropped: number): string {
  const total = events.length + dropped;
  if (total === 0) return "codex-network-proxy: no requests blocked";
  const byReason = new Map<string, Set<string>>();
  const counts = new Map<string, number>();
  for (const e of events) {
    counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
    const hosts = byReason.get(e.reason) ?? new Set<string>();
    const host = e.host.includes(":") ? `[${e.host}]` : e.host;
    hosts.add(e.port && e.port !== 80 && e.port !== 443 ? `${host}:${e.port}` : host);
    byReason.set(e.reason, hosts);
  }
  const parts = [...counts].map(([reason, n]) => {
    const hosts = [...byReason.get(reason)!];
    const shown = hosts.slice(0, 3).join(", ") + (hosts.length > 3 ? `, +${hosts.length - 3} more` : "");
    return `${n} ${reason} (${shown})`;
  });
  return `codex-network-proxy: ${total} request${total === 1 ? "" : "s"} blocked: ${parts.join("; ")}${dropped ? ` (${dropped} older not itemized)` : ""}`;
}
