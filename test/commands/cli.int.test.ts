import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, runCli } from "../helpers/cli.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { HeldOrigin, runCliExactEnv, socks5Connect } from "../helpers/ops.ts";
import { RawClient, rawRequest } from "../helpers/raw.ts";

const home = () => mkdtempSync(join(tmpdir(), "cnp-home-"));
/** Every listener on an ephemeral port, so tests never collide with each other or a real proxy. */
const EPHEMERAL = ["-c", 'network_proxy.proxy_url="127.0.0.1:0"', "-c", 'network_proxy.admin_url="127.0.0.1:0"', "-c", 'network_proxy.socks_url="127.0.0.1:0"'];

describe("the CLI as a process", () => {
  test("--version and --help exit 0; usage errors exit 2", async () => {
    const v = await runCli(["--version"]);
    expect(v).toMatchObject({ code: 0 });
    expect(v.stdout).toMatch(/^codex-network-proxy \d+\.\d+\.\d+/);
    const h = await runCli(["check", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("Usage: codex-network-proxy check");
    const u = await runCli(["--bogus"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown option "--bogus"');
  });

  test("check prints the effective config (TOML and JSON); a missing file is fine and logged", async () => {
    const h = home();
    const r = await runCli(["check", "-c", 'network_proxy.policy.allowed_domains=["example.com"]'], { CODEX_HOME: h });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('allowed_domains = [ "example.com" ]');
    expect(r.stderr).toContain(`no config file found; using defaults looked_for=${join(h, "config.toml")}`);
    const j = await runCli(["check", "--format", "json", "--log-format", "json"], { CODEX_HOME: h });
    expect(JSON.parse(j.stdout).network_proxy.proxy_url).toBe("http://127.0.0.1:3128");
    expect(JSON.parse(j.stderr.trim().split("\n")[0]!)).toMatchObject({ level: "info", msg: "no config file found; using defaults" });
  });

  test("check logs every warning; a hundred and a count is what serving logs at start-up", async () => {
    const h = home();
    const broad = Array.from({ length: 150 }, (_, i) => `h${i}.*`);
    writeFileSync(join(h, "config.toml"), `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(broad)}\n`);
    const r = await runCli(["check"], { CODEX_HOME: h });
    expect(r.code).toBe(0);
    expect(r.stderr.match(/its last label is a wildcard/g)?.length).toBe(150);
    expect(r.stderr).not.toContain("not shown");
    await using p = await ProxyProcess.start({ env: { CODEX_HOME: h } });
    await p.waitFor(/50 more warnings not shown; `codex-network-proxy check` lists every one/);
    expect(p.stderr.match(/its last label is a wildcard/g)?.length).toBe(100);
  });

  test("check lists every problem and exits 1; running with a bad config exits 2", async () => {
    const h = home();
    writeFileSync(join(h, "config.toml"), '[network_proxy]\nmode = "FULL"\nenabled = 3\n');
    const r = await runCli(["check"], { CODEX_HOME: h });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("network_proxy.mode: expected one of");
    expect(r.stderr).toContain("network_proxy.enabled: expected a boolean");
    const s = await runCli([], { CODEX_HOME: h });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("invalid config");
  });

  test("typos are errors with file:line and a did-you-mean; a --config that is not there exits 2", async () => {
    const h = home();
    const path = join(h, "config.toml");
    writeFileSync(path, 'model = "m"\n[network_prox]\nmode = "limited"\n[network_proxy.policy]\nallowed_domain = ["a.com"]\n');
    for (const cmd of [["check"], []]) {
      const r = await runCli(cmd, { CODEX_HOME: h });
      expect(r.code).toBe(cmd.length ? 1 : 2);
      expect(r.stderr).toContain(`${path}:2: network_prox: unknown table; did you mean [network_proxy]?`);
      expect(r.stderr).toContain(`${path}:5: network_proxy.policy.allowed_domain: unknown key; did you mean network_proxy.policy.allowed_domains?`);
    }
    const c = await runCli(["check", "-c", "proxy_url=127.0.0.1:9"], { CODEX_HOME: home() });
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('-c "proxy_url=127.0.0.1:9": only network_proxy.* keys are read; did you mean network_proxy.proxy_url?');
    for (const cmd of [["check"], [], ["env"], ["explain", "a.com"], ["run", "--", "true"]]) {
      const m = await runCli([...cmd.slice(0, 1), "--config", join(h, "nope.toml"), ...cmd.slice(1)], { CODEX_HOME: h });
      expect(`${cmd.join(" ")}: ${m.code}`).toBe(`${cmd.join(" ")}: 2`);
      expect(m.stderr).toContain(`${join(h, "nope.toml")}: no such config file`);
    }
  });

  test("init creates the CA under CODEX_HOME, is idempotent, and explains trust", async () => {
    const h = home();
    const first = await runCli(["init"], { CODEX_HOME: h });
    expect(first.code).toBe(0);
    const key = join(h, "network_proxy/mitm/ca.key");
    const cert = join(h, "network_proxy/mitm/ca.pem");
    expect(first.stdout).toContain(`certificate: ${cert}`);
    expect(first.stdout).toContain("NODE_EXTRA_CA_CERTS=");
    expect(first.stdout).toContain("--cacert");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const pem = readFileSync(cert, "utf8");
    const again = await runCli(["init"], { CODEX_HOME: h });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("found existing MITM CA");
    expect(readFileSync(cert, "utf8")).toBe(pem);
  });

  test("init refuses a half-present CA with exit 1", async () => {
    const h = home();
    await runCli(["init"], { CODEX_HOME: h });
    const other = home();
    writeFileSync(join(other, "config.toml"), `[network_proxy.mitm]\nca_cert_path = "${join(h, "network_proxy/mitm/ca.pem")}"\nca_key_path = "missing.key"\n`);
    const r = await runCli(["init", "--config", join(other, "config.toml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("both ca_cert_path and ca_key_path must exist");
  });

  test("enabled = false exits 0 and says why", async () => {
    const r = await runCli(["-c", "network_proxy.enabled=false"], { CODEX_HOME: home() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("network_proxy.enabled is false; not starting any listener");
  });

  test("the dashboard ships inside the program: GET / on the admin listener is the page with its script", async () => {
    await using p = await ProxyProcess.start({ env: { CODEX_HOME: home() } });
    await p.waitFor(/codex-network-proxy started/);
    const r = await fetch(`${p.adminUrl}/`);
    expect(r.status).toBe(200);
    const html = await r.text();
    expect(html).toContain("<title>codex-network-proxy</title>");
    // The script is in the page (not a placeholder), and its hash is the one the policy allows.
    const script = /<script type="module">([\s\S]*)<\/script>/.exec(html)![1]!;
    // Both parts, in order: the API part (api.js), then the page part (app.js).
    expect(script.indexOf("async function readEvents(")).toBeGreaterThan(0);
    expect(script.indexOf("function renderPending(")).toBeGreaterThan(script.indexOf("async function readEvents("));
    const hash = new Bun.CryptoHasher("sha256").update(script).digest("base64");
    expect(r.headers.get("content-security-policy")).toContain(`script-src 'sha256-${hash}'`);
  });

  test("SIGTERM and SIGINT stop the proxy with exit 0", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      await using p = await ProxyProcess.start({ args: ["-c", "network_proxy.limits.shutdown_grace_ms=200"], env: { CODEX_HOME: home() } });
      await p.waitFor(/codex-network-proxy started/);
      p.proc.kill(sig);
      expect(await p.proc.exited).toBe(0);
      expect(p.stderr).toContain(`shutting down signal=${sig}`);
      expect(p.stderr).toContain("stopped");
    }
  });
});

const ALLOW_LOOPBACK = 'network_proxy.policy.allowed_domains=["127.0.0.1", "localhost"]';

/** The bound port of a listener, from its "... listening" line (text or JSON log format). */

/**
 * Is a new connection to this port left unserved? Either it is refused, or (when it raced the
 * listener's close and got in) it is closed without an answer to a request that would be
 * answered at once (a blocked host) if the proxy were still serving.
 */
async function unserved(port: number): Promise<"refused" | "closed unserved" | string> {
  let c: RawClient;
  try {
    c = await RawClient.connect(port);
  } catch (e) {
    // Refused, or reset while still in the closing listener's queue: not served either way.
    const code = (e as { code?: string }).code;
    return code === "ECONNREFUSED" || code === "ECONNRESET" ? "refused" : `${code}: ${String(e)}`;
  }
  using conn = c;
  conn.send("GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\nConnection: close\r\n\r\n");
  const got = await conn.untilClose();
  return got.length === 0 ? "closed unserved" : `served: ${got.toString("latin1").split("\r\n")[0]}`;
}

describe("shutdown grace (SIGINT/SIGTERM)", () => {
  test("a request in flight when the signal arrives still completes with 200; new connections are not served; exit 0 as soon as it is done", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      using origin = new HeldOrigin();
      await using p = await ProxyProcess.start({
        args: ["-c", "network_proxy.limits.shutdown_grace_ms=20000", "-c", ALLOW_LOOPBACK],
        env: { CODEX_HOME: home() },
      });
      const port = p.http;
      await p.waitFor(/codex-network-proxy started/);
      using c = await RawClient.connect(port);
      c.send(`GET ${origin.url("/slow")} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await origin.arrived(1);
      p.proc.kill(sig);
      await p.waitFor(new RegExp(`shutting down signal=${sig} grace_ms=20000`));
      expect(["refused", "closed unserved"]).toContain(await unserved(port)); // stopped accepting at once
      expect(p.proc.exitCode).toBeNull(); // but waits for the request in flight
      origin.release();
      const r = await c.response();
      expect(`${sig}: ${r.status} ${r.body.toString()}`).toBe(`${sig}: 200 ${origin.body}`);
      const t0 = performance.now();
      expect(await p.proc.exited).toBe(0);
      expect(performance.now() - t0).toBeLessThan(5000); // done: no waiting out the 20 s grace
      expect(p.stderr).toContain("stopped");
    }
  });

  test("a request that outlasts shutdown_grace_ms is cut off, and the process still exits 0 within the bound", async () => {
    const GRACE = 300;
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      using origin = new HeldOrigin(); // never released while the proxy runs
      await using p = await ProxyProcess.start({
        args: ["-c", `network_proxy.limits.shutdown_grace_ms=${GRACE}`, "-c", ALLOW_LOOPBACK],
        env: { CODEX_HOME: home() },
      });
      const port = p.http;
      await p.waitFor(/codex-network-proxy started/);
      using c = await RawClient.connect(port);
      c.send(`GET ${origin.url("/forever")} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await origin.arrived(1);
      const t0 = performance.now();
      p.proc.kill(sig);
      const response = c.response().then(
        (r) => `${r.status} ${r.headers["x-proxy-error"]}`,
        (e: Error) => e.message,
      );
      const code = await p.proc.exited;
      const elapsed = performance.now() - t0;
      expect(code).toBe(0);
      expect(elapsed).toBeGreaterThanOrEqual(GRACE); // it did give the request its grace
      expect(elapsed).toBeLessThan(GRACE + 3000); // and no more
      await origin.aborted(1); // the upstream connection was cut
      expect(p.stderr).toContain(`shutting down signal=${sig} grace_ms=${GRACE}`);
      expect(p.stderr).toContain("stopped");
      // The client is told the real cause (no byte of the response had gone out), never a 502
      // blaming the upstream, which never closed anything.
      const seen = await response;
      expect(`${sig}: ${seen}`).toBe(`${sig}: 503 shutting-down`);
      expect(p.stderr).not.toContain("code=upstream_closed");
    }
  });

  test("the same signal twice at once (a terminal's Ctrl+C also passed on by a launcher) still drains", async () => {
    using origin = new HeldOrigin();
    await using p = await ProxyProcess.start({
      args: ["-c", "network_proxy.limits.shutdown_grace_ms=20000", "-c", ALLOW_LOOPBACK],
      env: { CODEX_HOME: home() },
    });
    await p.waitFor(/codex-network-proxy started/);
    using c = await RawClient.connect(p.http);
    c.send(`GET ${origin.url("/slow")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await origin.arrived(1);
    p.proc.kill("SIGINT");
    // Once the first is handled (two pending SIGINTs would merge into one), the second follows
    // at once, as from a launcher passing on the terminal's Ctrl+C.
    await p.waitFor(/shutting down signal=SIGINT/);
    p.proc.kill("SIGINT");
    await p.waitFor(/still draining signal=SIGINT/);
    expect(p.proc.exitCode).toBeNull();
    origin.release();
    const r = await c.response();
    expect(`${r.status} ${r.body.toString()}`).toBe(`200 ${origin.body}`);
    expect(await p.proc.exited).toBe(0);
    expect(p.stderr).not.toContain("exiting now");
  });

  test("a second signal during the grace period exits 0 at once", async () => {
    using origin = new HeldOrigin();
    await using p = await ProxyProcess.start({
      args: ["-c", "network_proxy.limits.shutdown_grace_ms=30000", "-c", ALLOW_LOOPBACK],
      env: { CODEX_HOME: home() },
    });
    const port = p.http;
    await p.waitFor(/codex-network-proxy started/);
    using c = await RawClient.connect(port);
    c.send(`GET ${origin.url("/forever")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await origin.arrived(1);
    p.proc.kill("SIGTERM");
    await p.waitFor(/shutting down signal=SIGTERM/);
    const t0 = performance.now();
    p.proc.kill("SIGINT");
    expect(await p.proc.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(p.stderr).toContain("second signal; exiting now signal=SIGINT");
  });
});

describe("--log-format json", () => {
  test("an invalid config and enabled = false are JSON lines too; a bad -c is reported with the rest", async () => {
    const bad = await runCli(["--log-format", "json", "-c", "noequals", "-c", "network_proxy.mode=x"], { CODEX_HOME: home() });
    expect(bad.code).toBe(2);
    const lines = bad.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", msg: "invalid config" });
    const problems = lines[0]!["problems"] as string[];
    expect(problems.some((p) => p.includes("noequals"))).toBe(true);
    expect(problems.some((p) => p.includes("network_proxy.mode"))).toBe(true);
    const off = await runCli(["--log-format", "json", "-c", "network_proxy.enabled=false"], { CODEX_HOME: home() });
    expect(off.code).toBe(0);
    const offLines = off.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(offLines.at(-1)).toMatchObject({ level: "warn", msg: "network_proxy.enabled is false; not starting any listener" });
  });
});

describe("--log-level", () => {
  test("check: warn hides info lines, error hides warnings too, debug and the default show both", async () => {
    const h = home();
    const args = ["check"];
    const INFO = "INFO  no config file found; using defaults";
    const WARN = "WARN  network_proxy.policy.allowed_domains is empty: every request will be blocked";
    const byLevel: Array<[string[], boolean, boolean]> = [
      [[], true, true],
      [["--log-level", "debug"], true, true],
      [["--log-level", "info"], true, true],
      [["--log-level", "warn"], false, true],
      [["--log-level=error"], false, false],
    ];
    for (const [flag, info, warn] of byLevel) {
      const r = await runCli([...args, ...flag], { CODEX_HOME: h });
      expect(r.code).toBe(0);
      expect(`${flag.join(" ")}: info=${r.stderr.includes(INFO)} warn=${r.stderr.includes(WARN)}`).toBe(`${flag.join(" ")}: info=${info} warn=${warn}`);
      if (!info && !warn) expect(r.stderr).toBe("");
    }
    const bad = await runCli(["check", "--log-level", "verbose"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--log-level must be one of debug, info, warn, error");
  });

  test("serve: debug shows the debug lines (config watch), the default level does not; both log each request's decision line", async () => {
    using origin = new HttpOrigin();
    const stderrFor = async (flags: string[]) => {
      const h = home();
      await using p = await ProxyProcess.start({ args: [...flags, "-c", ALLOW_LOOPBACK], env: { CODEX_HOME: h } });
      const port = p.http;
      await p.waitFor(/codex-network-proxy started/);
      expect((await rawRequest(port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).status).toBe(200);
      p.proc.kill("SIGTERM");
      expect(await p.proc.exited).toBe(0);
      return { h, stderr: p.stderr };
    };
    const debug = await stderrFor(["--log-level", "debug"]);
    expect(debug.stderr).toContain(`DEBUG watching the config file path=${join(debug.h, "config.toml")}`);
    const line =
      /INFO {2}decision protocol=http client=127\.0\.0\.1:\d+ method=GET target=127\.0\.0\.1:\d+ decision=allow reason=null rule=127\.0\.0\.1 route=direct status=200 error=null detail=null bytes_in=\d+ bytes_out=\d+ duration_ms=\d+/;
    expect(debug.stderr).toMatch(line);
    expect(debug.stderr).toContain("INFO  codex-network-proxy started");
    const normal = await stderrFor([]);
    expect(normal.stderr).toContain("INFO  codex-network-proxy started");
    expect(normal.stderr).toMatch(line);
    expect(normal.stderr).not.toContain("DEBUG");
    // [network_proxy.log] access = false: no line for allowed traffic.
    const quiet = await stderrFor(["-c", "network_proxy.log.access=false"]);
    expect(quiet.stderr).toContain("INFO  codex-network-proxy started");
    expect(quiet.stderr).not.toContain(" decision ");
  });

  test("serve: warn (JSON) logs only warnings: blocks and start-up warnings, no info or debug lines", async () => {
    using origin = new HttpOrigin();
    await using p = await ProxyProcess.start({
      args: ["--log-level", "warn", "--log-format", "json", "-c", "network_proxy.mode=limited", "-c", ALLOW_LOOPBACK],
    });
    const http = p.http;
    await p.waitFor(/SOCKS5 is blocked in limited mode/);
    expect((await rawRequest(http, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).status).toBe(200);
    expect((await rawRequest(http, "GET http://blocked.test/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).status).toBe(403);
    await p.waitFor(/"msg":"decision"/);
    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(0);
    const lines = p.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
      'warn SOCKS5 is blocked in limited mode (it cannot show a method); set mode = "full" to allow SOCKS5',
      "warn decision",
    ]);
  });
});

describe("secrets never reach the log", () => {
  test("Proxy-Authorization, the admin bearer token and proxy passwords stay out of stderr, even at debug level (JSON and text)", async () => {
    const BASIC = "c2VjcmV0OnNlY3JldA=="; // secret:secret, an origin's credentials
    const SOCKS_PASS = "socks-pass-5b1f0e";
    const PROXY_BASIC = Buffer.from(`agent:${SOCKS_PASS}`).toString("base64");
    const WRONG_SOCKS_PASS = "wrong-pass-77ac31";
    const WRONG_BEARER = "guessed-token-0c9d8e7f6a5b4c3d";
    using origin = new HttpOrigin();
    for (const format of ["json", "text"] as const) {
      const h = home();
      writeFileSync(
        join(h, "config.toml"),
        `[network_proxy.policy]\nallowed_domains = ["127.0.0.1", "localhost"]\n[network_proxy.auth]\nusername = "agent"\npassword = "${SOCKS_PASS}"\n`,
      );
      await using p = await ProxyProcess.start({ args: ["--log-level", "debug", "--log-format", format], env: { CODEX_HOME: h } });
      const port = p.http;
      const socksPort = p.socks;
      const adminPort = p.admin;
      await p.waitFor(/codex-network-proxy started/);
      const token = readFileSync(join(h, "network_proxy/admin.token"), "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(16);

      const auth = `Proxy-Authorization: Basic ${PROXY_BASIC}\r\n`;
      expect((await rawRequest(port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${BASIC}\r\n\r\n`)).status).toBe(407);
      // allowed and blocked (decision lines), failed before a decision (info "request failed"), CONNECT (a decision line when the tunnel ends)
      expect((await rawRequest(port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`)).status).toBe(200);
      expect((await rawRequest(port, `GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n${auth}Connection: close\r\n\r\n`)).status).toBe(403);
      expect((await rawRequest(port, `GET https://x.test/ HTTP/1.1\r\nHost: x.test\r\n${auth}\r\n`)).status).toBe(400);
      {
        using c = await RawClient.connect(port);
        c.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n${auth}\r\n`);
        expect((await c.response({ head: true })).status).toBe(200);
        c.send(`GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${BASIC}\r\nConnection: close\r\n\r\n`);
        expect((await c.response()).status).toBe(200);
      }
      // SOCKS5: a wrong password (debug "SOCKS handshake refused"), then the right one
      {
        const wrong = await socks5Connect(socksPort, "127.0.0.1", origin.port, { user: "agent", pass: WRONG_SOCKS_PASS });
        wrong.client[Symbol.dispose]();
        expect(wrong.authStatus).toBe(1);
        const right = await socks5Connect(socksPort, "127.0.0.1", origin.port, { user: "agent", pass: SOCKS_PASS });
        right.client[Symbol.dispose]();
        expect(right.reply).toBe(0);
      }
      // admin: a guessed token (401), the real one (mode change and reload: both logged)
      const admin = (path: string, bearer: string, body?: string) =>
        fetch(`http://127.0.0.1:${adminPort}${path}`, { method: "POST", headers: { authorization: `Bearer ${bearer}` }, ...(body ? { body } : {}) });
      expect((await admin("/mode", WRONG_BEARER, '{"mode":"limited"}')).status).toBe(401);
      expect((await admin("/mode", token, '{"mode":"limited"}')).status).toBe(200);
      expect((await admin("/reload", token)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${adminPort}/config`)).status).toBe(200);

      p.proc.kill("SIGTERM");
      expect(await p.proc.exited).toBe(0);
      const err = p.stderr;
      // The traffic above was logged, at every level...
      const logged = ["request failed", "SOCKS handshake refused", "updated network mode", "reloaded config"];
      const missing = logged.filter((msg) => !err.includes(format === "json" ? `"msg":"${msg}"` : ` ${msg} `));
      for (const [protocol, decision] of [
        ["http", "allow"],
        ["http", "block"],
        ["http-connect", "allow"],
        ["socks5", "allow"],
      ]) {
        const seen = format === "json" ? `"msg":"decision","protocol":"${protocol}"` : ` decision protocol=${protocol} `;
        if (!err.split("\n").some((l) => l.includes(seen) && l.includes(format === "json" ? `"decision":"${decision}"` : ` decision=${decision} `)))
          missing.push(`${protocol} ${decision}`);
      }
      expect({ format, missing }).toEqual({ format, missing: [] });
      if (format === "json") for (const l of err.trim().split("\n")) expect(() => JSON.parse(l)).not.toThrow();
      // ...and no secret is in it, in any spelling.
      for (const secret of [BASIC, BASIC.replace(/=+$/, ""), "secret:secret", PROXY_BASIC, token, WRONG_BEARER, SOCKS_PASS, WRONG_SOCKS_PASS]) {
        expect(`${format}: ${err.includes(secret) ? `leaks ${secret}` : "clean"}`).toBe(`${format}: clean`);
      }
    }
  });
  test("a failed reload does not log the secrets written in the config file", async () => {
    const h = home();
    const TOKEN = "tok-in-config-3f9a8b7c6d5e4f3a";
    const config = (extra: string) => `[network_proxy]\nadmin_token = "${TOKEN}"\n${extra}`;
    writeFileSync(join(h, "config.toml"), config(""));
    await using p = await ProxyProcess.start({ args: ["--log-format", "json"], env: { CODEX_HOME: h } });
    const adminPort = p.admin;
    await p.waitFor(/codex-network-proxy started/);
    const reload = () => fetch(`http://127.0.0.1:${adminPort}/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    // A TOML syntax error on the line after the token; then a secret of the wrong type.
    writeFileSync(join(h, "config.toml"), config("mode = full\n"));
    expect((await reload()).status).toBe(400);
    writeFileSync(join(h, "config.toml"), config('[network_proxy.socks5]\nusername = "agent"\npassword = 90210424242\n'));
    expect((await reload()).status).toBe(400);
    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(0);
    expect(p.stderr).toContain('"msg":"config reload failed; keeping the previous config"');
    const leaks = [TOKEN, "90210424242"].filter((secret) => p.stderr.includes(secret));
    expect(leaks).toEqual([]);
  });
});

describe("CODEX_HOME", () => {
  test("unset (or empty), it defaults to ~/.codex: the log names <HOME>/.codex/config.toml and a file there is used", async () => {
    const h = home();
    const env = { HOME: h, PATH: process.env["PATH"] ?? "/usr/bin:/bin" };
    const expected = join(h, ".codex", "config.toml");
    const extras: Array<Record<string, string>> = [{}, { CODEX_HOME: "" }, { CODEX_HOME: "  " }];
    for (const extra of extras) {
      const r = await runCliExactEnv(["check"], { ...env, ...extra });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`no config file found; using defaults looked_for=${expected}`);
    }
    mkdirSync(join(h, ".codex"));
    writeFileSync(expected, '[network_proxy.policy]\nallowed_domains = ["from-home.example"]\n');
    const found = await runCliExactEnv(["check"], env);
    expect(found.code).toBe(0);
    expect(found.stderr).toContain(`loaded config path=${expected}`);
    expect(found.stdout).toContain('allowed_domains = [ "from-home.example" ]');

    // The running proxy uses it too, and keeps its token beside it. (Bun.spawn drops undefined
    // variables, so this unsets an inherited CODEX_HOME.)
    await using p = await ProxyProcess.start({ env: { HOME: h, CODEX_HOME: undefined as unknown as string } });
    await p.waitFor(new RegExp(`loaded config path=${expected.replace(/[.]/g, "\\.")}`));
    const adminPort = p.admin;
    await p.waitFor(/codex-network-proxy started/);
    expect(existsSync(join(h, ".codex", "network_proxy", "admin.token"))).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${adminPort}/patterns`)).json()).toEqual({ allowed: ["from-home.example"], denied: [], runtime: [] });
  });
});

describe("runtime failures", () => {
  test("a listen port already in use exits 1 with an error naming the listener", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      for (const [key, name] of [
        ["proxy_url", "HTTP proxy"],
        ["socks_url", "SOCKS5 proxy"],
        ["admin_url", "admin API"],
      ] as const) {
        const r = await runCli([...EPHEMERAL, "-c", `network_proxy.${key}="127.0.0.1:${taken.port}"`], { CODEX_HOME: home() });
        expect(`${key}: exit ${r.code}`).toBe(`${key}: exit 1`);
        expect(r.stderr).toMatch(new RegExp(`ERROR bind ${name} 127\\.0\\.0\\.1:${taken.port}: \\S`));
        expect(r.stderr).not.toContain("codex-network-proxy started");
      }
    } finally {
      taken.stop(true);
    }
  });
});

describe("explain from the command line", () => {
  test("exit 0 when every target is allowed, 1 when any is blocked, 2 for an invalid one; a bare host means port 443", async () => {
    const h = home();
    const allow = ["-c", 'network_proxy.policy.allowed_domains=["127.0.0.1", "example.com"]', "--no-dns"];
    const ok = await runCli(["explain", ...allow, "http://127.0.0.1:9000/", "example.com"], { CODEX_HOME: h });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("example.com -> example.com:443 (domain; no port given, so 443 as for https)");
    const some = await runCli(["explain", ...allow, "example.com", "example.org"], { CODEX_HOME: h });
    expect(some.code).toBe(1);
    expect(some.stdout).toContain("example.org -> example.org:443 (domain; no port given, so 443 as for https)\n  BLOCK not_allowed");
    // Allowed as a target, but no entry path may carry it in limited mode without MITM: blocked.
    const limited = await runCli(["explain", ...allow, "-c", "network_proxy.mode=limited", "example.com:443"], { CODEX_HOME: h });
    expect(limited.code).toBe(1);
    const invalid = await runCli(["explain", ...allow, "example.com", "exa mple.com"], { CODEX_HOME: h });
    expect(invalid.code).toBe(2);
  });
});
