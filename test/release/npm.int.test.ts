/**
 * The npm distribution: `npm pack` the main package and this platform's package, install the
 * tarballs into an empty project with npm offline (the registry pointed at a closed port), and
 * run the launcher the way users do.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { NPM_SCOPE, TARGETS } from "../../scripts/lib/targets.ts";
import { ProxyProcess } from "../helpers/cli.ts";
import { exec, RELEASE_TIMEOUT_MS, type ReleaseDirs, releaseOnce } from "../helpers/release.ts";

const NODE = join(import.meta.dir, "..", "..", ".cache", "node", "22", "bin", "node");
/** npm must never reach a registry: offline, and the registry a port nobody listens on. */
const OFFLINE = {
  npm_config_registry: "http://127.0.0.1:9/",
  npm_config_offline: "true",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};

let rel: ReleaseDirs;
let packs: string;
beforeAll(
  async () => {
    rel = await releaseOnce();
    packs = join(rel.root, "packs");
    mkdirSync(packs, { recursive: true });
    const r = await exec(
      ["npm", "pack", "--silent", "--pack-destination", packs, join(rel.npm, "codex-network-proxy"), join(rel.npm, "codex-network-proxy-linux-x64")],
      { env: OFFLINE },
    );
    if (r.code !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  },
  { timeout: RELEASE_TIMEOUT_MS },
);

function project(): string {
  const dir = join(rel.root, `proj-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  return dir;
}
const tarball = (name: string) => join(packs, `${name}-${pkg.version}.tgz`);

describe("the npm packages", () => {
  test("the main package lists every platform package; each declares its os, cpu and libc", () => {
    const main = JSON.parse(readFileSync(join(rel.npm, "codex-network-proxy", "package.json"), "utf8"));
    expect(main.bin).toEqual({ "codex-network-proxy": "bin/codex-network-proxy.js" });
    const shipped = TARGETS.filter((t) => t.npm !== null);
    expect(Object.keys(main.optionalDependencies).sort()).toEqual(shipped.map((t) => `${NPM_SCOPE}/${t.npm}`).sort());
    for (const t of shipped) {
      expect(main.optionalDependencies[`${NPM_SCOPE}/${t.npm}`]).toBe(pkg.version);
      const p = JSON.parse(readFileSync(join(rel.npm, `codex-network-proxy-${t.npm}`, "package.json"), "utf8"));
      expect(p.os).toEqual([t.os === "windows" ? "win32" : t.os]);
      expect(p.cpu).toEqual([t.arch]);
      if (t.os === "linux") expect(p.libc).toEqual([t.variant === "musl" ? "musl" : "glibc"]);
      else expect(p.libc).toBeUndefined();
    }
    // Baseline builds are not on npm (npm cannot choose by CPU feature); install.sh serves them.
    expect(readdirSync(rel.npm).some((d) => d.includes("baseline"))).toBe(false);
  });

  test(
    "npm install <tarballs> offline, then npx codex-network-proxy --version",
    async () => {
      const dir = project();
      const i = await exec(["npm", "install", tarball("codex-network-proxy"), tarball("codex-network-proxy-linux-x64")], { cwd: dir, env: OFFLINE });
      expect(i.code).toBe(0);
      expect(readdirSync(join(dir, "node_modules", "@codex-network-proxy"))).toEqual(["linux-x64"]);
      const v = await exec(["npx", "--no-install", "codex-network-proxy", "--version"], { cwd: dir, env: OFFLINE });
      expect(v.stderr).toBe("");
      expect(v.stdout).toStartWith(`codex-network-proxy ${pkg.version} (commit `);
      expect(v.code).toBe(0);
      // Arguments and exit status pass through.
      const bad = await exec(["npx", "--no-install", "codex-network-proxy", "check", "--config", join(dir, "missing.toml")], { cwd: dir, env: OFFLINE });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("missing.toml");
    },
    RELEASE_TIMEOUT_MS,
  );

  test(
    "without this platform's package the launcher says which package is missing",
    async () => {
      const dir = project();
      expect((await exec(["npm", "install", tarball("codex-network-proxy")], { cwd: dir, env: OFFLINE })).code).toBe(0);
      const v = await exec(["npx", "--no-install", "codex-network-proxy", "--version"], { cwd: dir, env: OFFLINE });
      expect(v.code).toBe(1);
      expect(v.stderr).toContain(`no binary for linux-x64: the optional package ${NPM_SCOPE}/linux-x64 is not installed`);
    },
    RELEASE_TIMEOUT_MS,
  );

  test.skipIf(!existsSync(NODE))(
    "SIGTERM to the launcher stops the proxy gracefully, and the launcher exits with its status",
    async () => {
      const dir = project();
      await exec(["npm", "install", tarball("codex-network-proxy"), tarball("codex-network-proxy-linux-x64")], { cwd: dir, env: OFFLINE });
      const launcher = join(dir, "node_modules", "codex-network-proxy", "bin", "codex-network-proxy.js");
      await using p = await ProxyProcess.start({ binary: launcher, wrap: (argv) => [NODE, ...argv] });
      expect(p.ready.pid).not.toBe(p.proc.pid); // the ready file is the binary's, under the launcher
      const code = await p.stop("SIGTERM");
      expect(p.stderr).toContain("shutting down");
      expect(code).toBe(0);
      expect(() => process.kill(p.ready.pid, 0)).toThrow(); // the binary is gone too
      // SIGUSR1 goes on too: Node would otherwise open its debugger on 127.0.0.1:9229. The binary
      // does not catch it and dies of it; the launcher reports that as a shell would (128 + 10).
      await using q = await ProxyProcess.start({ binary: launcher, wrap: (argv) => [NODE, ...argv] });
      expect(await q.stop("SIGUSR1")).toBe(128 + 10);
      expect(q.stderr).not.toContain("Debugger listening");
      expect(() => process.kill(q.ready.pid, 0)).toThrow();
    },
    RELEASE_TIMEOUT_MS,
  );
});
