/**
 * Real upstream proxies for the chaining tests: squid (with or without basic authentication),
 * and microsocks (SOCKS5, with username and password). Each listens on a free loopback port,
 * keeps its own record of what went through it (squid's access log; the connections microsocks
 * accepted), and reaches nothing but loopback: squid resolves names only from the hosts file
 * the test gives it (its DNS server is 127.0.0.1, where nothing answers).
 */
import { chownSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./ops.ts";
import { until } from "./until.ts";
import { systemUser } from "../../scripts/lib/system-user.ts";

async function listening(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

export interface Squid extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  /** squid's access log so far: one line per request or tunnel it handled. */
  log(): string;
}

export async function startSquid(o: { auth?: { user: string; pass: string }; hosts?: Record<string, string> } = {}): Promise<Squid> {
  const dir = mkdtempSync(join(tmpdir(), "cnp-squid-"));
  const port = freePort();
  const hosts = Object.entries(o.hosts ?? {})
    .map(([name, ip]) => `${ip} ${name}`)
    .join("\n");
  writeFileSync(join(dir, "hosts"), `127.0.0.1 localhost\n${hosts}\n`);
  let access = "http_access allow localhost to_loopback";
  if (o.auth) {
    const hash = Bun.spawnSync(["openssl", "passwd", "-apr1", o.auth.pass]).stdout.toString().trim();
    writeFileSync(join(dir, "passwd"), `${o.auth.user}:${hash}\n`);
    access = `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd\nacl authed proxy_auth REQUIRED\nhttp_access allow authed to_loopback`;
  }
  writeFileSync(
    join(dir, "squid.conf"),
    `http_port 127.0.0.1:${port}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log stdio:${dir}/access.log squid
buffered_logs off
logfile_rotate 0
cache_store_log none
coredump_dir ${dir}
cache deny all
cache_mem 0 MB
netdb_filename none
hosts_file ${dir}/hosts
dns_nameservers 127.0.0.1
pinger_enable off
icp_port 0
htcp_port 0
visible_hostname squid.invalid
shutdown_lifetime 0 seconds
via off
forwarded_for delete
acl to_loopback dst 127.0.0.0/8
${access}
http_access deny all
`,
  );
  // Started as root, squid switches to the "proxy" user, which must be able to write here.
  const user = userInfo().uid === 0 ? systemUser("proxy") : null;
  if (user) for (const f of ["", "squid.conf", "hosts", ...(o.auth ? ["passwd"] : [])]) chownSync(join(dir, f), user.uid, user.gid);
  const proc = Bun.spawn(["squid", "-N", "-f", join(dir, "squid.conf")], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  await until(async () => (await listening(port)) || proc.exitCode !== null, "squid to listen", 20_000);
  if (proc.exitCode !== null) throw new Error(`squid exited (${proc.exitCode}): ${await new Response(proc.stderr).text()}`);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => {
      try {
        return readFileSync(join(dir, "access.log"), "utf8");
      } catch {
        return "";
      }
    },
    async [Symbol.asyncDispose]() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

export interface Microsocks extends AsyncDisposable {
  readonly port: number;
  /** What microsocks printed: a line per client it served. */
  output(): string;
}

export async function startMicrosocks(auth?: { user: string; pass: string }): Promise<Microsocks> {
  const port = freePort();
  const args = ["microsocks", "-i", "127.0.0.1", "-p", String(port), ...(auth ? ["-u", auth.user, "-P", auth.pass] : [])];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += new TextDecoder().decode(c);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  await until(async () => (await listening(port)) || proc.exitCode !== null, "microsocks to listen", 10_000);
  if (proc.exitCode !== null) throw new Error(`microsocks exited (${proc.exitCode}): ${out}`);
  return {
    port,
    output: () => out,
    async [Symbol.asyncDispose]() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
