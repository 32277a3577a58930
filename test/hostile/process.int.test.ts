/**
 * Attacks on the proxy process itself rather than on its policy decision: exhausting its
 * capacity, reading its memory, starving its resolver, planting files it trusts. Each runs
 * against a real proxy process (the compiled binary when CNP_BINARY is set).
 */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { chownSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cliCommand, ProxyProcess, runCli } from "../helpers/cli.ts";
import { parsePrometheus, sample } from "../helpers/ops.ts";
import { FakeDns } from "../helpers/isolated-dns.ts";
import { RawOrigin } from "../helpers/origin.ts";
import { rawRequest } from "../helpers/raw.ts";
import { until } from "../helpers/until.ts";

const TOKEN = "process-test-token-0123456789";

/**
 * An ordinary user's processes: as root, drop CAP_SYS_PTRACE (which reads any process's memory),
 * so that the proxy and its attacker are what two processes of one unprivileged user are.
 */
const ORDINARY = process.getuid?.() === 0 ? ["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", "--"] : [];

function startProxy(extra: string[], wrap?: (argv: string[]) => string[]): Promise<ProxyProcess> {
  return ProxyProcess.start({ config: [`network_proxy.admin_token="${TOKEN}"`, ...extra], ...(wrap ? { wrap } : {}) });
}

/** One sample of the proxy's /metrics, 0 when the series is absent. */
async function metric(p: ProxyProcess, series: string, labels: Record<string, string> = {}): Promise<number> {
  return sample(parsePrometheus(await (await fetch(`${p.adminUrl}/metrics`)).text()), series, labels);
}

/** Connect and reset at once (SO_LINGER 0): the proxy may see the socket already dead when it accepts it. */
function connectAndReset(port: number): Promise<void> {
  return new Promise<void>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.terminate();
          resolve();
        },
        data() {},
        close: () => resolve(),
        error: () => resolve(),
      },
    }).catch(() => resolve());
  });
}

describe("capacity", () => {
  test("a storm of connect-and-reset clients leaves no connection slot taken on either listener", async () => {
    await using p = await startProxy(["network_proxy.limits.max_connections=20", 'network_proxy.policy.allowed_domains=["127.0.0.1"]']);
    for (const port of [p.http, p.socks]) {
      for (let i = 0; i < 300; i++) await connectAndReset(port);
    }
    // Every slot comes back: the gauges return to 0 and an ordinary client is served, not 503.
    for (let i = 0; ; i++) {
      const open = (await metric(p, "cnp_active_connections", { listener: "http" })) + (await metric(p, "cnp_active_connections", { listener: "socks5" }));
      if (open === 0) break;
      if (i > 500) throw new Error(`${open} connection slots still taken after the storm`);
      await Bun.sleep(10);
    }
    const r = await rawRequest(p.http, "GET http://not-allowed.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(r.status).toBe(403);
  });
});

/** Reads a process's memory the way an attacker running as the same user would; prints `read` or `denied:...`. */
const MEMORY_PROBE = `
import os, subprocess, sys
def probe(pid):
    try:
        maps = open(f"/proc/{pid}/maps").read()
    except PermissionError:
        return "denied:maps"
    for line in maps.splitlines():
        addr, perms = line.split()[:2]
        if not perms.startswith("r"):
            continue
        try:
            with open(f"/proc/{pid}/mem", "rb") as f:
                f.seek(int(addr.split("-")[0], 16))
                if f.read(16):
                    return "read"
        except PermissionError:
            return "denied:mem"
        except OSError:
            continue
    return "nothing readable"
control = subprocess.Popen(["sleep", "30"])
print("control", probe(control.pid))
control.kill()
print("proxy", probe(os.getppid()))
`;

describe("memory", () => {
  test.skipIf(process.platform !== "linux")("the command under `run` cannot read the proxy's memory (where its admin token is)", async () => {
    const home = mkdtempSync(join(tmpdir(), "cnp-proc-"));
    const p = Bun.spawn([...ORDINARY, ...cliCommand(["run", "--", "python3", "-c", MEMORY_PROBE])], {
      env: { ...process.env, CODEX_HOME: home },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(stderr).not.toContain("not protected");
    expect(stdout).toContain("control read"); // the probe reads an ordinary process of the same user
    expect(stdout).toMatch(/proxy denied:(maps|mem)/);
    expect(code).toBe(0);
  });

  test.skipIf(process.platform !== "linux")("a long-running proxy is protected the same way", async () => {
    await using p = await startProxy([], (argv) => [...ORDINARY, ...argv]);
    const probe = MEMORY_PROBE.replace("os.getppid()", String(p.proc.pid));
    const out = Bun.spawnSync([...ORDINARY, "python3", "-c", probe]).stdout.toString();
    expect(out).toContain("control read");
    expect(out).toMatch(/proxy denied:(maps|mem)/);
  });
});

describe("memory protection unavailable", () => {
  test.skipIf(process.platform !== "linux")("the warning names why for every libc tried, and none is looked for in the working directory", async () => {
    // With JavaScriptCore's JIT off, bun:ffi refuses to load any library: the protection cannot
    // be applied, and the cause is the first candidate's answer (musl's file is merely missing).
    // The directory it runs in holds planted libraries: bun:ffi would load a bare `libc.so` from
    // there, so no candidate may be one.
    const home = mkdtempSync(join(tmpdir(), "cnp-proc-"));
    for (const name of ["libc.so", "libc.so.6"]) writeFileSync(join(home, name), "planted");
    const run = Bun.spawn(cliCommand(["run", "--log-level", "warn", "--", "true"]), {
      cwd: home,
      env: { ...process.env, CODEX_HOME: home, BUN_JSC_useJIT: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, code] = await Promise.all([new Response(run.stderr).text(), run.exited]);
    expect(code).toBe(0);
    expect(stderr).toContain("the proxy's memory is not protected from the command");
    expect(stderr).toContain("libc.so.6: bun:ffi requires the JIT");
    expect(stderr).toMatch(/ld-musl-[a-z0-9_]+\.so\.1: /);
    // However the temporary directory's path is spelled: no bare libc.so was tried anywhere.
    expect(stderr).not.toMatch(/"libc\.so"|\/libc\.so:/);
    // run's logs are quiet by default; this one is still said.
    const quiet = Bun.spawnSync(cliCommand(["run", "--", "true"]), { cwd: home, env: { ...process.env, CODEX_HOME: home, BUN_JSC_useJIT: "0" } });
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stderr.toString()).toContain(
      "codex-network-proxy run: warning: the proxy's memory is not protected from the command: cannot load libc for prctl (libc.so.6: bun:ffi requires the JIT",
    );
    // The same warning as one JSON line under --log-format json.
    const json = Bun.spawnSync(cliCommand(["run", "--log-format", "json", "--", "true"]), {
      cwd: home,
      env: { ...process.env, CODEX_HOME: home, BUN_JSC_useJIT: "0" },
    });
    const line = json.stderr
      .toString()
      .split("\n")
      .find((l) => l.includes("not protected"));
    expect(JSON.parse(line!)).toMatchObject({ level: "warn", msg: "the proxy's memory is not protected from the command" });
  });
});

describe("name resolution", () => {
  const DNS_OK = FakeDns.available();

  test.skipIf(!DNS_OK)("names whose server never answers delay only themselves; over max_dns_lookups a lookup fails at once", async () => {
    using origin = new RawOrigin((c) => c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nREACHED"));
    const dns = await FakeDns.start();
    try {
      dns.silence("slow.test");
      dns.set("fast.test", { a: ["127.0.0.1"] });
      await using p = await startProxy(
        ['network_proxy.policy.allowed_domains=["**.test", "127.0.0.1"]', "network_proxy.limits.dns_timeout_ms=1500", "network_proxy.limits.max_dns_lookups=4"],
        (argv) => dns.wrap(argv),
      );
      const get = (host: string) => rawRequest(p.http, `GET http://${host}:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      // Three names in flight that will never resolve (more than the resolver has threads).
      const slow = [1, 2, 3].map((i) => get(`n${i}.slow.test`));
      await until(() => dns.count("n3.slow.test") > 0, "the slow lookups to reach the server");
      // Another name is not held up by them...
      const fast = await get("fast.test");
      expect(fast.status).toBe(200);
      expect(fast.body.toString()).toBe("REACHED");
      // ...and a fourth and fifth slow name: the fourth takes the last place, the fifth is refused at once.
      const fourth = get("n4.slow.test");
      await until(() => dns.count("n4.slow.test") > 0, "the fourth lookup to start");
      expect(await get("n5.slow.test")).toMatchObject({ status: 503, headers: { "x-proxy-error": "dns-overloaded" } });
      expect(dns.count("n5.slow.test")).toBe(0);
      for (const r of await Promise.all([...slow, fourth])) expect(r).toMatchObject({ status: 504, headers: { "x-proxy-error": "dns-timeout" } });
    } finally {
      dns.close();
    }
  });
});

describe("files the proxy trusts", () => {
  const EPHEMERAL = [
    "-c",
    'network_proxy.proxy_url="127.0.0.1:0"',
    "-c",
    'network_proxy.socks_url="127.0.0.1:0"',
    "-c",
    'network_proxy.admin_url="127.0.0.1:0"',
  ];
  const ROOT = process.getuid?.() === 0;

  test.skipIf(!ROOT)("a token file or CA key owned by another user is refused, with the fix", async () => {
    const home = mkdtempSync(join(tmpdir(), "cnp-proc-"));
    const token = join(home, "network_proxy", "admin.token");
    mkdirSync(dirname(token), { recursive: true });
    writeFileSync(token, "planted-token-0123456789abcdef\n", { mode: 0o600 });
    chownSync(token, 65534, 65534);
    const r = await runCli(EPHEMERAL, { CODEX_HOME: home });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing admin token ${token}: it belongs to uid 65534, not to the proxy's user (uid 0)`);
    expect(r.stderr).toContain(`fix with: chown 0 ${token}`);

    // The same for the MITM CA key.
    const ca = mkdtempSync(join(tmpdir(), "cnp-proc-"));
    expect((await runCli(["init"], { CODEX_HOME: ca })).code).toBe(0);
    const key = join(ca, "network_proxy", "mitm", "ca.key");
    chownSync(key, 65534, 65534);
    const m = await runCli([...EPHEMERAL, "-c", "network_proxy.mitm.enabled=true", "-c", 'network_proxy.admin_token="x-0123456789abcdef"'], { CODEX_HOME: ca });
    expect(m.code).toBe(1);
    expect(m.stderr).toContain(`refusing CA key ${key}: it belongs to uid 65534`);
  });
});

describe("memory under slow readers", () => {
  test("clients that stop reading large downloads: past limits.max_buffered_bytes each holds at most one read", async () => {
    const N = 300;
    /** The most one read from a socket delivers (the socket layer's receive buffer). */
    const READ = 512 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 120);
    let stalled = 0;
    const pump = (s: Socket<{ stalled: boolean }>) => {
      while (s.write(chunk) === chunk.length);
      if (!s.data.stalled) stalled++;
      s.data.stalled = true;
    };
    // An origin that writes as fast as the proxy reads, and counts the connections it can no longer write to.
    const origin = Bun.listen<{ stalled: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.data = { stalled: false };
        },
        data(s) {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${2 ** 40}\r\n\r\n`);
          pump(s);
        },
        drain(s) {
          if (s.data.stalled) stalled--;
          s.data.stalled = false;
          pump(s);
        },
      },
    });
    const clients: Socket<undefined>[] = [];
    try {
      await using p = await startProxy(['network_proxy.policy.allowed_domains=["127.0.0.1"]', "network_proxy.limits.max_buffered_bytes=1048576"]);
      for (let i = 0; i < N; i++) {
        const c = await Bun.connect({ hostname: "127.0.0.1", port: p.http, socket: { data() {} } });
        c.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
        c.pause();
        clients.push(c);
      }
      // Every download stalls: the proxy stopped reading each upstream, so nothing more can pile up.
      await until(() => stalled === N, "every download to stall", 60_000);
      await until(async () => (await metric(p, "cnp_buffered_bytes")) > 0, "the gauge to be swept");
      // Without the budget each stalled connection could hold HIGH_WATER (256 KiB) plus a read.
      const queued = await metric(p, "cnp_buffered_bytes");
      expect({ perConnectionKiB: Math.round(queued / N / 1024), bounded: queued <= 2 ** 20 + N * READ }).toMatchObject({ bounded: true });
    } finally {
      for (const c of clients) c.terminate();
      origin.stop(true);
    }
  }, 120_000);
});
