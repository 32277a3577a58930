import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.ts";

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

  test("SIGTERM and SIGINT stop the proxy with exit 0", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      await using p = new CliProcess(["-c", "network_proxy.limits.shutdown_grace_ms=200", ...EPHEMERAL], { CODEX_HOME: home() });
      await p.waitFor(/codex-network-proxy started/);
      p.proc.kill(sig);
      expect(await p.proc.exited).toBe(0);
      expect(p.stderr).toContain(`shutting down signal=${sig}`);
      expect(p.stderr).toContain("stopped");
    }
  });
});
