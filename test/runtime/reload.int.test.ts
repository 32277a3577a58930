/**
 * Configuration that breaks while the proxy runs (or before it starts): the previous config stays
 * in force and traffic continues, and start-up fails with a clear error.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { startProxy } from "../helpers/proxy.ts";
import { RawClient } from "../helpers/raw.ts";
import { until } from "../helpers/until.ts";
import { bystander } from "../helpers/bystander.ts";

describe("configuration faults", () => {
  test("an unusable CA directory fails start-up with a clear error and exit 1", async () => {
    const home = mkdtempSync(join(tmpdir(), "cnp-fault-"));
    writeFileSync(join(home, "blocker"), "");
    const r = await runCli(
      [
        "-c",
        "network_proxy.mitm.enabled=true",
        "-c",
        'network_proxy.mitm.ca_cert_path="blocker/ca.pem"',
        "-c",
        'network_proxy.mitm.ca_key_path="blocker/ca.key"',
        "-c",
        'network_proxy.proxy_url="127.0.0.1:0"',
        "-c",
        'network_proxy.admin_url="127.0.0.1:0"',
        "-c",
        'network_proxy.socks_url="127.0.0.1:0"',
      ],
      { CODEX_HOME: home },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot check ${join(home, "blocker/ca.pem")}: ENOTDIR`);
  });

  test("config deleted or corrupted while running: the previous config stays in force, traffic continues", async () => {
    using healthy = new HttpOrigin();
    const cfg = '[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n';
    await using proxy = await startProxy([], { configText: cfg, watch: true });
    using b = await bystander(proxy, healthy);
    rmSync(proxy.configPath);
    await until(() => proxy.log.includes("was deleted; keeping the previous config"), "the deletion to be noticed");
    await b.check();
    writeFileSync(proxy.configPath, "[network_proxy\nbroken");
    await until(() => proxy.log.includes("TOML syntax error"), "the corruption to be noticed");
    await b.check();
    expect(proxy.state.config.np.policy.allowed_domains).toEqual(["127.0.0.1"]);
    writeFileSync(proxy.configPath, cfg.replace('"127.0.0.1"', '"127.0.0.1", "fixed.test"'));
    await until(() => proxy.state.config.np.policy.allowed_domains.includes("fixed.test"), "the fixed file to load");
    await b.check();
  });

  // Written a minute ago: a stamp taken now is not racy (config/stamp.ts).
  const settled = (path: string) => utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

  test("a config file changed after it was read, before the watch began, is reloaded when the watch begins", async () => {
    const cfg = '[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n';
    const edited = cfg.replace('"127.0.0.1"', '"127.0.0.1", "late.test"');
    await using proxy = await startProxy([], { configText: cfg, watch: true, beforeLoad: settled, afterLoad: (path) => writeFileSync(path, edited) });
    await until(() => proxy.state.config.np.policy.allowed_domains.includes("late.test"), "the edit made during start-up to load");
    expect(proxy.log).toContain("the config file may have changed after it was read; reloading");
  });

  test("an unchanged config file is not reloaded when the watch begins", async () => {
    const cfg = '[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n';
    await using proxy = await startProxy([], { configText: cfg, watch: true, beforeLoad: settled });
    // The comparison is made synchronously as the watch begins: a reload would be logged by now.
    expect(proxy.log).toContain("watching the config file");
    expect(proxy.log).not.toContain("changed after it was read");
  });

  test("a file modified just before it was read is read again when the watch begins: an edit in the same clock step could keep every field", async () => {
    // Written just now and not touched again; on a file system whose clock ticks coarsely, an
    // edit in that tick could not be told apart, so the file is read once more.
    await using proxy = await startProxy([], { configText: '[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n', watch: true });
    expect(proxy.log).toContain("the config file may have changed after it was read; reloading");
    await until(() => proxy.log.includes("reloaded config"), "the second read");
  });

  test("admin reloads during traffic: no allowed request fails", async () => {
    using healthy = new HttpOrigin();
    const cfg = '[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n';
    await using proxy = await startProxy([], { configText: cfg });
    let stop = false;
    const reloads = (async () => {
      let n = 0;
      while (!stop) {
        writeFileSync(proxy.configPath, cfg.replace('"127.0.0.1"]', `"127.0.0.1", "r${n}.test"]`));
        expect((await proxy.admin("/reload", { method: "POST" })).status).toBe(200);
        n++;
      }
      return n;
    })();
    const clients = Array.from({ length: 8 }, async () => {
      using c = await RawClient.connect(proxy.port);
      for (let i = 0; i < 150; i++) {
        c.send(`GET ${healthy.url(`/echo?i=${i}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect((await c.response()).status).toBe(200);
      }
    });
    await Promise.all(clients);
    stop = true;
    expect(await reloads).toBeGreaterThan(5);
    expect(healthy.requests).toBe(8 * 150);
  });
});
