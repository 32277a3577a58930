/**
 * `doctor`: each check, with a set-up that makes it fail (or warn), and the healthy case.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTestPki } from "../../scripts/lib/pki.ts";
import { ProxyProcess, runCli } from "../helpers/cli.ts";
import { home } from "../helpers/clients.ts";
import { freePort } from "../helpers/ops.ts";

/** `-c` settings putting the three listeners on these loopback ports. */
const listeners = (http: number, socks: number, admin: number) => [
  "-c",
  `network_proxy.proxy_url="127.0.0.1:${http}"`,
  "-c",
  `network_proxy.socks_url="127.0.0.1:${socks}"`,
  "-c",
  `network_proxy.admin_url="127.0.0.1:${admin}"`,
];
const FREE = () => listeners(freePort(), freePort(), freePort());
const ALLOW = ["-c", 'network_proxy.policy.allowed_domains=["example.com"]'];
/** The environment of a shell that ran `env` for nothing: no proxy variables at all. */
const CLEAN = { HTTP_PROXY: "", HTTPS_PROXY: "", ALL_PROXY: "", http_proxy: "", https_proxy: "", all_proxy: "", NO_PROXY: "", no_proxy: "" };

async function doctor(args: string[], env: Record<string, string> = {}) {
  const r = await runCli(["doctor", ...args], { ...CLEAN, CODEX_HOME: home(), ...env });
  return { code: r.code, out: r.stdout, lines: r.stdout.split("\n") };
}
const line = (out: string, start: string) => out.split("\n").find((l) => l.startsWith(start)) ?? `(no line starting ${start})`;

describe("doctor", () => {
  test("a healthy set-up passes every check (the shell's variables only warn when unset) and exits 0", async () => {
    const r = await doctor([...FREE(), ...ALLOW]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("PASS  probe: an allowed request went through a private instance and came back");
    expect(r.out).toContain("PASS  probe: a request to doctor-probe.invalid was refused (blocked-by-allowlist)");
    expect(r.out).toContain("WARN  this shell: no proxy variable is set, so clients here do not use the proxy");
    expect(r.out.trim().split("\n").at(-1)).toBe("all checks passed");
  });

  test("config: one that does not load fails", async () => {
    const r = await doctor(["-c", "network_proxy.mode=fast"]);
    expect(r.code).toBe(1);
    expect(line(r.out, "FAIL  config:")).toContain('network_proxy.mode: expected one of "full", "limited", found "fast"');
  });

  test("listeners: a port held by another program fails; one held by a running codex-network-proxy passes", async () => {
    const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await doctor([...FREE(), ...ALLOW, "-c", `network_proxy.proxy_url="127.0.0.1:${other.port}"`]);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`FAIL  HTTP proxy: 127.0.0.1:${other.port} is in use by another program`);
      expect(r.out).toContain("fix: stop that program, or set network_proxy.proxy_url to a free port");
    } finally {
      other.stop(true);
    }
    await using running = await ProxyProcess.start({ config: ['network_proxy.policy.allowed_domains=["example.com"]'] });
    const args = listeners(running.http, running.socks, running.admin);
    const r = await doctor([...args, ...ALLOW]);
    expect(r.out).toContain(`PASS  HTTP proxy: 127.0.0.1:${running.http} is held by a running codex-network-proxy (its admin API answers /health)`);
  });

  test("admin token: a file others can read fails, with the chmod that fixes it", async () => {
    const h = home();
    mkdirSync(join(h, "network_proxy"), { recursive: true });
    writeFileSync(join(h, "network_proxy/admin.token"), "t".repeat(32), { mode: 0o644 });
    chmodSync(join(h, "network_proxy/admin.token"), 0o644);
    const r = await doctor([...FREE(), ...ALLOW], { CODEX_HOME: h });
    expect(r.code).toBe(1);
    expect(line(r.out, "FAIL  admin API:")).toContain("its mode 0644 lets other users read it");
    expect(r.out).toContain(`fix: chmod 600 ${join(h, "network_proxy/admin.token")}`);
  });

  test("MITM CA: a key others can read fails; a key of another certificate fails", async () => {
    const h = home();
    const mitm = ["-c", "network_proxy.mitm.enabled=true"];
    expect((await runCli(["init"], { CODEX_HOME: h })).code).toBe(0);
    expect(line((await doctor([...FREE(), ...ALLOW, ...mitm], { CODEX_HOME: h })).out, "PASS  MITM CA:")).toMatch(/is valid for \d+ more days/);
    chmodSync(join(h, "network_proxy/mitm/ca.key"), 0o644);
    const open = await doctor([...FREE(), ...ALLOW, ...mitm], { CODEX_HOME: h });
    expect(open.code).toBe(1);
    expect(line(open.out, "FAIL  MITM CA:")).toContain("lets other users read it");
    const other = await makeTestPki();
    writeFileSync(join(h, "network_proxy/mitm/ca.key"), (await other.issue(["other.test"])).key, { mode: 0o600 });
    chmodSync(join(h, "network_proxy/mitm/ca.key"), 0o600);
    const mismatch = await doctor([...FREE(), ...ALLOW, ...mitm], { CODEX_HOME: h });
    expect(mismatch.code).toBe(1);
    expect(line(mismatch.out, "FAIL  MITM CA:")).toMatch(/ca\.key (does not belong to the certificate|is not a PKCS#8 ECDSA P-256 private key)/);
  });

  test("this shell: variables pointing elsewhere, a NO_PROXY that exempts what the policy refuses, a CA bundle without our CA", async () => {
    const h = home();
    const ports = FREE();
    const proxyPort = ports[1]!.replace(/^network_proxy\.proxy_url="127\.0\.0\.1:(\d+)"$/, "$1");
    const good = await doctor([...ports, ...ALLOW], { CODEX_HOME: h, HTTPS_PROXY: `http://127.0.0.1:${proxyPort}` });
    expect(good.out).toContain(`PASS  this shell: HTTPS_PROXY points at this proxy (127.0.0.1:${proxyPort})`);
    const elsewhere = await doctor([...ports, ...ALLOW], { CODEX_HOME: h, HTTPS_PROXY: "http://127.0.0.1:1" });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.out).toContain(`FAIL  this shell: HTTPS_PROXY points at 127.0.0.1:1, not at this proxy (127.0.0.1:${proxyPort}`);
    for (const np of ["*", "evil.example", "10.0.0.0/8"]) {
      const r = await doctor([...ports, ...ALLOW], { CODEX_HOME: h, NO_PROXY: np });
      expect(`${np}: ${r.code} ${line(r.out, "FAIL  this shell: NO_PROXY")}`).toContain(`${np}: 1 FAIL  this shell: NO_PROXY exempts "${np}"`);
    }
    expect((await doctor([...ports, ...ALLOW], { CODEX_HOME: h, NO_PROXY: "example.com" })).out).not.toContain("NO_PROXY exempts");
    const mitm = ["-c", "network_proxy.mitm.enabled=true"];
    expect((await runCli(["init"], { CODEX_HOME: h })).code).toBe(0);
    const pki = await makeTestPki();
    const wrong = await doctor([...ports, ...ALLOW, ...mitm], { CODEX_HOME: h, SSL_CERT_FILE: pki.caFile });
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain(`FAIL  this shell: SSL_CERT_FILE=${pki.caFile} does not hold this proxy's CA`);
    const bundle = JSON.parse((await runCli(["env", "--shell", "json", ...mitm], { CODEX_HOME: h })).stdout)["SSL_CERT_FILE"];
    expect((await doctor([...ports, ...ALLOW, ...mitm], { CODEX_HOME: h, SSL_CERT_FILE: bundle })).out).toContain(
      "PASS  this shell: SSL_CERT_FILE holds this proxy's CA",
    );
  });

  test("probe: a policy that refuses even the probe's own origin fails; one that lets any name through fails", async () => {
    const denied = await doctor([...FREE(), ...ALLOW, "-c", 'network_proxy.policy.denied_domains=["127.0.0.1"]']);
    expect(denied.code).toBe(1);
    expect(line(denied.out, "FAIL  probe:")).toContain("an allowed request got 403 (blocked-by-denylist)");
    const star = await doctor([...FREE(), "-c", 'network_proxy.policy.allowed_domains=["*"]']);
    expect(star.code).toBe(1);
    expect(line(star.out, "FAIL  probe: a request to doctor-probe.invalid")).toContain("got 502, not a block");
  });

  test("isolation: where no namespace can be made it warns that programs can go around the proxy", async () => {
    const r = await doctor([...FREE(), ...ALLOW], { PATH: "/nonexistent" });
    expect(line(r.out, "WARN  isolation:")).toContain("run --isolate is not available here: cannot create a network namespace here");
  });
});
