/**
 * The linux-arm64 release binary, run on this x64 machine under qemu-user (Debian's
 * qemu-user-static, with the arm64 C library from libc6-arm64-cross): --version, init, check,
 * and requests through it to a loopback origin.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { fileName, TARGETS } from "../../scripts/lib/targets.ts";
import { ProxyProcess } from "../helpers/cli.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { curl } from "../helpers/raw.ts";
import { exec, RELEASE_TIMEOUT_MS, type ReleaseDirs, releaseOnce } from "../helpers/release.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const haveQemu = existsSync(QEMU) && existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1"));
const ARM = 5 * 60_000; // an emulated JIT is slow

let rel: ReleaseDirs;
let bin: string;
const underQemu = (argv: string[]) => [QEMU, "-L", SYSROOT, ...argv];

describe.skipIf(!haveQemu)("linux-arm64 under qemu-user", () => {
  beforeAll(
    async () => {
      rel = await releaseOnce();
      bin = join(rel.out, fileName(pkg.version, TARGETS.find((t) => t.name === "linux-arm64")!));
    },
    { timeout: RELEASE_TIMEOUT_MS },
  );

  test(
    "--version, init and check",
    async () => {
      const v = await exec(underQemu([bin, "--version"]));
      expect(v.stdout).toStartWith(`codex-network-proxy ${pkg.version} (commit `);
      expect(v.code).toBe(0);
      const home = mkdtempSync(join(rel.root, "arm-home-"));
      const init = await exec(underQemu([bin, "init"]), { env: { CODEX_HOME: home } });
      expect(init.code).toBe(0);
      // The CA was made by the arm64 build's own crypto, and its key is private.
      expect(readFileSync(join(home, "network_proxy/mitm/ca.pem"), "utf8")).toStartWith("-----BEGIN CERTIFICATE-----");
      expect(statSync(join(home, "network_proxy/mitm/ca.key")).mode & 0o777).toBe(0o600);
      const check = await exec(underQemu([bin, "check", "--format", "json", "-c", 'network_proxy.policy.allowed_domains=["localhost"]']), {
        env: { CODEX_HOME: home },
      });
      expect(check.code).toBe(0);
      expect(JSON.parse(check.stdout).network_proxy.policy.allowed_domains).toEqual(["localhost"]);
    },
    ARM,
  );

  test(
    "serves: an allowed request reaches the loopback origin, a denied one is refused",
    async () => {
      using origin = new HttpOrigin();
      await using p = await ProxyProcess.start({
        binary: bin,
        wrap: underQemu,
        config: ['network_proxy.policy.allowed_domains=["localhost"]'],
        readyTimeoutMs: ARM,
      });
      const ok = await curl(["-x", `http://127.0.0.1:${p.http}`, `http://localhost:${origin.server.port}/hello`, "-o", "/dev/null", "-w", "%{http_code}"]);
      expect(ok.stdout).toBe("200");
      expect(origin.requests).toBe(1);
      const denied = await curl(["-x", `http://127.0.0.1:${p.http}`, "http://example.com/", "-D", "-", "-o", "/dev/null"]);
      expect(denied.stdout).toMatch(/^HTTP\/1\.1 403 /);
      expect(denied.stdout.toLowerCase()).toContain("x-proxy-error: blocked-by-allowlist");
      expect(origin.requests).toBe(1);
      expect(await p.stop("SIGTERM")).toBe(0);
    },
    ARM,
  );
});
