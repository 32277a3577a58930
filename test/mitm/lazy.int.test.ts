/**
 * The MITM code (X.509, ASN.1, the public roots) is loaded only when a config enables MITM. These
 * run the program as a process (the compiled binary under CNP_BINARY), where that loading is a
 * separate step: a proxy started without MITM must still intercept once a reload enables it, and
 * a broken CA must still stop the start before any listener accepts.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki } from "../../scripts/lib/pki.ts";
import { ProxyProcess, runCli } from "../helpers/cli.ts";
import { curl } from "../helpers/raw.ts";

const TOKEN = "lazy-mitm-0123456789abcdef";

function config(home: string, caFile: string, mitm: boolean): void {
  writeFileSync(
    join(home, "config.toml"),
    [
      "[network_proxy]",
      'mode = "limited"',
      `admin_token = "${TOKEN}"`,
      "[network_proxy.policy]",
      'allowed_domains = ["localhost"]',
      "[network_proxy.mitm]",
      `enabled = ${mitm}`,
      `upstream_ca_file = "${caFile}"`,
      "",
    ].join("\n"),
  );
}

describe("MITM loaded on demand", () => {
  test("started with MITM off, a reload that enables it loads the CA and intercepts", async () => {
    const pki = await makeTestPki();
    const c = await pki.issue(["localhost"]);
    using origin = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { key: c.key, cert: c.cert },
      fetch: (req) => Response.json({ path: new URL(req.url).pathname }),
    });
    const home = mkdtempSync(join(tmpdir(), "cnp-lazy-"));
    config(home, pki.caFile, false);
    await using p = await ProxyProcess.start({ env: { CODEX_HOME: home } });
    const url = `https://localhost:${origin.port}`;
    const off = await curl(["-x", `http://127.0.0.1:${p.http}`, "-i", `${url}/before`]);
    expect(off.stdout).toContain("blocked-by-mitm-required");
    expect(existsSync(join(home, "network_proxy/mitm/ca.pem"))).toBe(false);

    config(home, pki.caFile, true);
    const r = await fetch(`${p.adminUrl}/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await r.json()) as { status: string }).status).toBe("reloaded");
    const on = await curl(["--cacert", join(home, "network_proxy/mitm/ca.pem"), "-x", `http://127.0.0.1:${p.http}`, `${url}/after`]);
    expect(JSON.parse(on.stdout)).toEqual({ path: "/after" });
  });

  test("a broken CA still fails the start, with its message, before any listener accepts", async () => {
    const home = mkdtempSync(join(tmpdir(), "cnp-lazy-"));
    writeFileSync(join(home, "junk.pem"), "junk");
    writeFileSync(join(home, "junk.key"), "junk", { mode: 0o600 });
    const ready = join(home, "ready.json");
    const r = await runCli(
      [
        ...["proxy_url", "socks_url", "admin_url"].flatMap((k) => ["-c", `network_proxy.${k}="127.0.0.1:0"`]),
        ...["-c", "network_proxy.mitm.enabled=true", "-c", 'network_proxy.mitm.ca_cert_path="junk.pem"', "-c", 'network_proxy.mitm.ca_key_path="junk.key"'],
        ...["--ready-file", ready],
      ],
      { CODEX_HOME: home },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(home, "junk.pem")} is not a PEM certificate`);
    expect(existsSync(ready)).toBe(false);
  });
});
