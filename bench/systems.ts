/**
 * The systems measured: our compiled binary and the Debian-packaged peers. Each start gets a
 * fresh temp dir (config, logs, pid file, cache), a free loopback port, and returns only once
 * the listener accepts, so no start-up cost leaks into a measurement.
 */
import { chownSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { OriginCerts } from "./certs.ts";
import { freePort, HOST, waitForAccept } from "./lib/net.ts";
import { adopt, makeTempDir, Proc, removeTempDir, run } from "./lib/procs.ts";
import { compiledBare, compiledBareWork } from "./compiled.ts";
import { ProxyProcess } from "../scripts/lib/proxy-process.ts";
import { systemUser } from "../scripts/lib/system-user.ts";
import type { OriginPorts } from "./origin.ts";

export type SystemId = "ours" | "direct" | "bun-relay" | "squid" | "tinyproxy" | "dante" | "microsocks" | "mitmproxy";

/** Column order of the report. */
export const COLUMNS: readonly SystemId[] = ["ours", "direct", "bun-relay", "squid", "tinyproxy", "dante", "microsocks", "mitmproxy"];

/** Reference columns: not peers, so never "the best peer". */
export const REFERENCES: readonly SystemId[] = ["ours", "direct", "bun-relay"];

/**
 * What a start is for. Only mitmproxy and our proxy behave differently: mitmproxy passes
 * tunnels through untouched for "tunnel" (otherwise it would intercept), and our proxy runs in
 * limited mode with MITM for "mitm".
 */
export type Profile = "forward" | "tunnel" | "socks" | "mitm" | "chain";

/**
 * The origin's name in the chained rows (ours with squid as its upstream): squid maps it to
 * 127.0.0.1 from its hosts file, and ours leaves it to squid (`upstream.resolve = "upstream"`),
 * since loopback literals always go directly.
 */
export const CHAIN_HOST = "origin.bench";

export interface StartContext {
  origin: OriginPorts;
  certs: OriginCerts;
}

export interface Running {
  readonly proc: { readonly pid: number; readonly name: string };
  /** HTTP proxy port (absolute-form requests and CONNECT). */
  readonly http?: number;
  readonly socks?: number;
  /** PEM a client must trust for intercepted HTTPS. */
  readonly mitmCa?: string;
  /** The name clients must use for the origin (the chained rows); else HOST. */
  readonly host?: string;
  stop(): Promise<void>;
}

export interface Peer {
  readonly id: Exclude<SystemId, "ours" | "direct">;
  readonly pkg: string;
  readonly bin: string;
  version(): Promise<string>;
  start(profile: Profile, ctx: StartContext): Promise<Running>;
}

const READY_TIMEOUT_MS = 30_000;

/** Start `cmd`, wait until `ports` accept, and tie the temp dir's life to the process's. */
async function launch(name: string, cmd: string[], dir: string, ports: number[], opts: { env?: Record<string, string> } = {}): Promise<Proc> {
  const proc = new Proc(name, cmd, { cwd: dir, ...opts });
  try {
    await waitForAccept(ports, () => proc.running, READY_TIMEOUT_MS, name);
  } catch (e) {
    await proc.stop();
    removeTempDir(dir);
    throw new Error(`${(e as Error).message}\n${proc.tail()}`);
  }
  return proc;
}

function stopper(proc: Proc, dir: string): () => Promise<void> {
  return async () => {
    await proc.stop();
    removeTempDir(dir);
  };
}

async function firstLine(cmd: string[]): Promise<string> {
  const r = await run(cmd);
  return r.out.trim().split("\n")[0]?.trim() ?? "";
}

const squid: Peer = {
  id: "squid",
  pkg: "squid",
  bin: "squid",
  version: () => firstLine(["squid", "-v"]),
  async start(profile, _ctx) {
    const dir = makeTempDir("squid");
    const port = freePort();
    writeFileSync(join(dir, "hosts"), `127.0.0.1 localhost\n127.0.0.1 ${CHAIN_HOST}\n`);
    // No caching at all (cache deny all, no cache_dir, cache_mem 0) and no logging, so squid
    // does the same work as the other proxies: forward and relay. DNS, ICMP, ICP and HTCP point
    // at nothing, so squid itself sends no packet off 127.0.0.0/8.
    writeFileSync(
      join(dir, "squid.conf"),
      `http_port ${HOST}:${port}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log none
cache_store_log none
coredump_dir ${dir}
cache deny all
cache_mem 0 MB
netdb_filename none
dns_nameservers 127.0.0.1
${profile === "chain" ? `hosts_file ${dir}/hosts\n` : ""}pinger_enable off
icp_port 0
htcp_port 0
visible_hostname bench.invalid
max_filedescriptors 16384
shutdown_lifetime 0 seconds
via off
forwarded_for delete
acl to_loopback dst 127.0.0.0/8
http_access allow localhost to_loopback
http_access deny all
`,
    );
    // Started as root, squid switches to the "proxy" user, which must be able to write here.
    const user = process.getuid?.() === 0 ? systemUser("proxy") : null;
    if (user) for (const f of [dir, join(dir, "squid.conf"), join(dir, "hosts")]) chownSync(f, user.uid, user.gid);
    const proc = await launch("squid", ["squid", "-N", "-f", join(dir, "squid.conf")], dir, [port]);
    return { proc, http: port, stop: stopper(proc, dir) };
  },
};

const tinyproxy: Peer = {
  id: "tinyproxy",
  pkg: "tinyproxy",
  bin: "tinyproxy",
  version: () => firstLine(["tinyproxy", "-v"]),
  async start(_profile, ctx) {
    const dir = makeTempDir("tinyproxy");
    const port = freePort();
    const o = ctx.origin;
    // tinyproxy only CONNECTs to listed ports (443 and 563 by default); MaxClients is raised
    // from its default of 100 so the 2,000-tunnel memory row can run.
    writeFileSync(
      join(dir, "tinyproxy.conf"),
      `Port ${port}
Listen ${HOST}
Timeout 600
MaxClients 4096
LogFile "${dir}/tinyproxy.log"
LogLevel Critical
PidFile "${dir}/tinyproxy.pid"
Allow 127.0.0.1
DisableViaHeader Yes
ConnectPort ${o.bulk}
ConnectPort ${o.greet}
ConnectPort ${o.greetClose}
ConnectPort ${o.https}
`,
    );
    const proc = await launch("tinyproxy", ["tinyproxy", "-d", "-c", join(dir, "tinyproxy.conf")], dir, [port]);
    return { proc, http: port, stop: stopper(proc, dir) };
  },
};

const dante: Peer = {
  id: "dante",
  pkg: "dante-server",
  bin: "danted",
  version: () => firstLine(["danted", "-v"]),
  async start(_profile, _ctx) {
    const dir = makeTempDir("dante");
    const port = freePort();
    const asRoot = process.getuid?.() === 0;
    writeFileSync(
      join(dir, "danted.conf"),
      `logoutput: ${dir}/danted.log
internal: ${HOST} port = ${port}
external: ${HOST}
clientmethod: none
socksmethod: none
${asRoot ? "user.privileged: root\nuser.unprivileged: nobody\n" : ""}client pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
}
`,
    );
    const proc = await launch("danted", ["danted", "-f", join(dir, "danted.conf"), "-p", join(dir, "danted.pid")], dir, [port]);
    return { proc, socks: port, stop: stopper(proc, dir) };
  },
};

const microsocks: Peer = {
  id: "microsocks",
  pkg: "microsocks",
  bin: "microsocks",
  // microsocks has no version flag: ask the package database.
  version: async () => `microsocks ${await firstLine(["dpkg-query", "-W", "-f=$" + "{Version}", "microsocks"])} (Debian package)`,
  async start(_profile, _ctx) {
    const dir = makeTempDir("microsocks");
    const port = freePort();
    const proc = await launch("microsocks", ["microsocks", "-i", HOST, "-p", String(port), "-b", HOST], dir, [port]);
    return { proc, socks: port, stop: stopper(proc, dir) };
  },
};

const mitmproxy: Peer = {
  id: "mitmproxy",
  pkg: "mitmproxy",
  bin: "mitmdump",
  version: () => firstLine(["mitmdump", "--version"]),
  async start(profile, ctx) {
    const dir = makeTempDir("mitmproxy");
    const port = freePort();
    const args = ["mitmdump", "--mode", "regular", "--listen-host", HOST, "--listen-port", String(port), "--set", `confdir=${dir}`, "--quiet"];
    // Raw tunnels: pass every CONNECT through as bytes (mitmproxy's "ignore_hosts").
    if (profile === "tunnel") args.push("--ignore-hosts", ".*");
    // Intercepting: verify the origin against its CA, as our proxy does with upstream_ca_file,
    // rather than ssl_insecure, so both do the same TLS work.
    if (profile === "mitm") args.push("--set", `ssl_verify_upstream_trusted_ca=${ctx.certs.caPem}`);
    const proc = await launch("mitmdump", args, dir, [port]);
    return { proc, http: port, mitmCa: join(dir, "mitmproxy-ca-cert.pem"), stop: stopper(proc, dir) };
  },
};

export const PEERS: readonly Peer[] = [squid, tinyproxy, dante, microsocks, mitmproxy];

/**
 * The bare Bun relay (bench/relay.ts) on the Bun that builds ours: what a proxy on
 * Bun.listen/Bun.connect reaches with no policy, parsing, limits or logs. Where ours falls short
 * of a target, this column shows how much of the gap is Bun's own.
 */
export const BUN_RELAY: Peer = {
  id: "bun-relay",
  pkg: "",
  bin: process.execPath,
  version: async () => `bench/relay.ts on bun ${Bun.version}`,
  async start(profile, ctx) {
    const mode = { forward: "forward", tunnel: "connect", socks: "socks", mitm: "mitm" }[profile as string];
    if (mode === undefined) throw new Error(`bun-relay has no ${profile} profile`);
    const dir = makeTempDir("bun-relay");
    const port = freePort();
    // mitm: the client trusts the origin's CA (no mitmCa below), so the relay shows the origin's own leaf.
    const rest = mode === "mitm" ? [ctx.certs.leafPem, ctx.certs.leafKey, ctx.certs.caPem] : [String(ctx.origin.http)];
    const proc = await launch("bun-relay", [process.execPath, join(import.meta.dir, "relay.ts"), mode, String(port), ...rest], dir, [port]);
    return { proc, ...(mode === "socks" ? { socks: port } : { http: port }), stop: stopper(proc, dir) };
  },
};

/**
 * The bun-relay column of the start-up and idle-memory rows: bench/bare.ts compiled, started as
 * ours is (the same harness, waiting for the same ready file). What any proxy compiled from
 * this Bun costs before it does anything; with `runtimeWork`, bench/bare-work.ts instead: what
 * it costs once it has also made the runtime calls ours makes before it is ready.
 */
function bareSystem(runtimeWork: boolean): Peer {
  const name = runtimeWork ? "bun-bare-work" : "bun-bare";
  return {
    id: "bun-relay",
    pkg: "",
    bin: process.execPath,
    version: async () => `bench/${runtimeWork ? "bare-work" : "bare"}.ts compiled by bun ${Bun.version}`,
    async start(_profile, _ctx) {
      const binary = await (runtimeWork ? compiledBareWork() : compiledBare());
      const dir = makeTempDir("bun-bare-home");
      const p = await ProxyProcess.start({ binary, env: { CODEX_HOME: dir }, readyTimeoutMs: READY_TIMEOUT_MS });
      adopt(p.proc);
      return {
        proc: { pid: p.proc.pid, name },
        http: p.http,
        stop: async () => {
          await p.stop();
          removeTempDir(dir);
        },
      };
    },
  };
}

export const BUN_BARE = bareSystem(false);
export const BUN_BARE_WORK = bareSystem(true);

/** Which of our listeners exist ("HTTP proxy", "SOCKS5 proxy", "admin API"). */
export interface OursInfo {
  binary: string;
  version: string;
  listeners: Set<string>;
}

/**
 * Start the binary once and read which listeners it brings up from its ready file, so a SOCKS5
 * row lights up by itself the day the binary has one.
 */
export async function probeOurs(binary: string): Promise<OursInfo> {
  const version = await firstLine([binary, "--version"]);
  const dir = makeTempDir("ours-probe");
  await using p = await ProxyProcess.start({ binary, env: { CODEX_HOME: dir }, readyTimeoutMs: READY_TIMEOUT_MS });
  const listeners = new Set<string>(["HTTP proxy", "admin API"]);
  if (p.ready.socks) listeners.add("SOCKS5 proxy");
  removeTempDir(dir);
  return { binary, version, listeners };
}

/** Our proxy at --log-level warn (the hot path logs nothing then), through the same harness the tests use. */
export async function startOurs(info: OursInfo, profile: Profile, ctx: StartContext): Promise<Running> {
  const dir = makeTempDir("ours");
  const env = { CODEX_HOME: dir };
  const config = [`network_proxy.policy.allowed_domains=["${HOST}"]`];
  let mitmCa: string | undefined;
  if (profile === "mitm") {
    const init = await run([info.binary, "init"], env);
    if (init.code !== 0) throw new Error(`codex-network-proxy init failed:\n${init.out}`);
    mitmCa = join(dir, "network_proxy/mitm/ca.pem");
    config.push("network_proxy.mode=limited", "network_proxy.mitm.enabled=true", `network_proxy.mitm.upstream_ca_file="${ctx.certs.caPem}"`);
  }
  // Chained: a squid of its own as the upstream, which resolves the origin's name.
  const upstream = profile === "chain" ? await squid.start("chain", ctx) : null;
  if (upstream) {
    config[0] = `network_proxy.policy.allowed_domains=["${CHAIN_HOST}"]`;
    config.push(`network_proxy.upstream.url="http://${HOST}:${upstream.http}"`, 'network_proxy.upstream.resolve="upstream"');
  }
  const p = await ProxyProcess.start({ binary: info.binary, config, args: ["--log-level", "warn"], env, readyTimeoutMs: READY_TIMEOUT_MS });
  adopt(p.proc);
  return {
    proc: { pid: p.proc.pid, name: "codex-network-proxy" },
    http: p.http,
    ...(p.ready.socks ? { socks: p.socks } : {}),
    ...(mitmCa ? { mitmCa } : {}),
    ...(upstream ? { host: CHAIN_HOST } : {}),
    stop: async () => {
      await p.stop();
      await upstream?.stop();
      removeTempDir(dir);
    },
  };
}

/** A path relative to the working directory when it lies below it (the report is committed). */
function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith("..") ? p : r;
}

/** Versions of what is measured, for the report header. */
export async function versions(
  ours: OursInfo,
  provenance: string,
  peers: readonly Peer[],
  missing: ReadonlyMap<string, string>,
): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [
    ["codex-network-proxy", `${ours.version} (${shortPath(ours.binary)}; ${provenance})`],
    ["bun", `${Bun.version} (${Bun.revision.slice(0, 9)})`],
  ];
  for (const p of peers) out.push([p.id, missing.has(p.bin) ? `not measured: ${missing.get(p.bin)}` : await p.version()]);
  out.push(["wrk", missing.has("wrk") ? `not measured: ${missing.get("wrk")}` : await firstLine(["wrk", "-v"])]);
  out.push(["openssl", await firstLine(["openssl", "version"])]);
  return out;
}
