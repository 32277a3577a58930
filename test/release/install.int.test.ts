/**
 * install.sh, run by dash (a strict POSIX shell) against a real static file server
 * (python3 -m http.server on 127.0.0.1) over the release directory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { fileName, TARGETS } from "../../scripts/lib/targets.ts";
import { ROOT } from "../helpers/cli.ts";
import { exec, RELEASE_TIMEOUT_MS, type ReleaseDirs, releaseOnce } from "../helpers/release.ts";

const INSTALL = join(ROOT, "install.sh");
const file = (name: string) => fileName(pkg.version, TARGETS.find((t) => t.name === name)!);
const hasAvx2 = /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
const nativeTarget = hasAvx2 ? "linux-x64" : "linux-x64-baseline";

/** python3 -m http.server over `dir` on 127.0.0.1, port chosen by the kernel. */
async function serve(dir: string): Promise<{ url: string; stop: () => void }> {
  const p = Bun.spawn(["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir], { stdout: "pipe", stderr: "ignore" });
  const reader = p.stdout.getReader();
  let text = "";
  const dec = new TextDecoder();
  while (!/port (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`http.server exited: ${text}`);
    text += dec.decode(value);
  }
  reader.releaseLock();
  return { url: `http://127.0.0.1:${/port (\d+)/.exec(text)![1]}`, stop: () => p.kill() };
}

let rel: ReleaseDirs;
let server: { url: string; stop: () => void };
let scratch: string;
beforeAll(
  async () => {
    rel = await releaseOnce();
    server = await serve(rel.out);
    scratch = mkdtempSync(join(rel.root, "install-"));
  },
  { timeout: RELEASE_TIMEOUT_MS },
);
afterAll(() => server?.stop());

let n = 0;
const fresh = () => {
  const d = join(scratch, String(n++));
  mkdirSync(d);
  return d;
};
const install = (args: string[], env: Record<string, string> = {}) => exec(["dash", INSTALL, ...args], { env: { HOME: fresh(), TMPDIR: fresh(), ...env } });

describe("install.sh", () => {
  test("finds this machine's build, checks it and installs it 0755 into ~/.local/bin or --prefix", async () => {
    const home = fresh();
    const r = await install([], { HOME: home, CODEX_NETWORK_PROXY_BASE_URL: server.url });
    expect(r.stderr).toContain(`installed ${home}/.local/bin/codex-network-proxy (${file(nativeTarget)}, sha256 `);
    expect(r.stderr).toContain("is not on your PATH");
    expect(r.code).toBe(0);
    const bin = join(home, ".local", "bin", "codex-network-proxy");
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    expect(readFileSync(bin).equals(readFileSync(join(rel.out, file(nativeTarget))))).toBe(true);
    const v = await exec([bin, "--version"]);
    expect(v.stdout).toStartWith(`codex-network-proxy ${pkg.version} (commit `);

    const prefix = fresh();
    const p = await install(["--base-url", `${server.url}/`, "--prefix", prefix]);
    expect(p.code).toBe(0);
    expect(readdirSync(join(prefix, "bin"))).toEqual(["codex-network-proxy"]);
  });

  test("a checksum mismatch installs nothing, leaves the installed binary alone and no temp files", async () => {
    const dir = fresh();
    copyFileSync(join(rel.out, "SHA256SUMS"), join(dir, "SHA256SUMS"));
    writeFileSync(join(dir, file(nativeTarget)), "not the binary the checksum file names\n");
    const bad = await serve(dir);
    try {
      const binDir = fresh();
      writeFileSync(join(binDir, "codex-network-proxy"), "the binary installed before\n");
      chmodSync(join(binDir, "codex-network-proxy"), 0o755);
      const tmp = fresh();
      const r = await install(["--base-url", bad.url, "--bin-dir", binDir], { TMPDIR: tmp });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`checksum mismatch for ${file(nativeTarget)}: SHA256SUMS says `);
      expect(r.stderr).toContain("nothing was installed");
      expect(readdirSync(binDir)).toEqual(["codex-network-proxy"]);
      expect(readFileSync(join(binDir, "codex-network-proxy"), "utf8")).toBe("the binary installed before\n");
      expect(readdirSync(tmp)).toEqual([]);
      // Into an empty directory: nothing at all is left.
      const empty = fresh();
      expect((await install(["--base-url", bad.url, "--bin-dir", empty])).code).toBe(1);
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      bad.stop();
    }
  });

  test("--target installs another machine's build without running it; several versions need --version", async () => {
    const binDir = fresh();
    const r = await install(["--base-url", server.url, "--bin-dir", binDir, "--target", "darwin-arm64"]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(binDir, "codex-network-proxy")).equals(readFileSync(join(rel.out, file("darwin-arm64"))))).toBe(true);
    const win = fresh();
    expect((await install(["--base-url", server.url, "--bin-dir", win, "--target", "windows-x64"])).code).toBe(0);
    expect(readdirSync(win)).toEqual(["codex-network-proxy.exe"]);

    // A directory holding two versions of the linux-x64 build.
    const dir = fresh();
    const old = `codex-network-proxy-0.0.9-${nativeTarget}`;
    copyFileSync(join(rel.out, file(nativeTarget)), join(dir, file(nativeTarget)));
    copyFileSync(join(rel.out, file(nativeTarget)), join(dir, old));
    const line = readFileSync(join(rel.out, "SHA256SUMS"), "utf8")
      .split("\n")
      .find((l) => l.endsWith(`  ${file(nativeTarget)}`))!;
    writeFileSync(join(dir, "SHA256SUMS"), `${line}\n${line.slice(0, 64)}  ${old}\n`);
    const two = await serve(dir);
    try {
      const a = await install(["--base-url", two.url, "--bin-dir", fresh()]);
      expect(a.code).toBe(1);
      expect(a.stderr).toContain(`SHA256SUMS lists 2 builds for ${nativeTarget}; pick one with --version`);
      const b = await install(["--base-url", two.url, "--bin-dir", fresh(), "--version", "0.0.9"]);
      expect(b.stderr).toContain(`(${old}, sha256`);
      expect(b.code).toBe(0);
      const c = await install(["--base-url", two.url, "--bin-dir", fresh(), "--version", "7.7.7"]);
      expect(c.stderr).toContain(`lists no build for ${nativeTarget} of version 7.7.7`);
    } finally {
      two.stop();
    }
  });

  test("SHA256SUMS written on Windows (CRLF), in binary mode (*name) or upper case is read; an HTML page is named as such", async () => {
    const dir = fresh();
    copyFileSync(join(rel.out, file(nativeTarget)), join(dir, file(nativeTarget)));
    const line = readFileSync(join(rel.out, "SHA256SUMS"), "utf8")
      .split("\n")
      .find((l) => l.endsWith(`  ${file(nativeTarget)}`))!;
    writeFileSync(join(dir, "SHA256SUMS"), `${line.slice(0, 64).toUpperCase()} *${file(nativeTarget)}\r\n`);
    const odd = await serve(dir);
    try {
      // A backslash in the temp directory's name must not change what the checksum tool prints.
      const tmp = join(fresh(), "back\\slash");
      mkdirSync(tmp);
      const r = await install(["--base-url", odd.url, "--bin-dir", fresh()], { TMPDIR: tmp });
      expect(r.stderr).toContain(`installed `);
      expect(r.code).toBe(0);
      writeFileSync(join(dir, "SHA256SUMS"), "<!doctype html><title>Not here</title>\n");
      const html = await install(["--base-url", odd.url, "--bin-dir", fresh()]);
      expect(html.code).toBe(1);
      expect(html.stderr).toContain("/SHA256SUMS has no checksum lines (is the base URL right?)");
    } finally {
      odd.stop();
    }
  });

  test("a directory where the binary should go, no HOME, or plain http to another machine: refused, nothing installed", async () => {
    const binDir = fresh();
    mkdirSync(join(binDir, "codex-network-proxy"));
    const d = await install(["--base-url", server.url, "--bin-dir", binDir]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`${binDir}/codex-network-proxy is a directory; remove it or choose another --bin-dir (nothing was installed)`);
    expect(readdirSync(binDir)).toEqual(["codex-network-proxy"]);
    expect(readdirSync(join(binDir, "codex-network-proxy"))).toEqual([]);
    const noHome = await exec(["dash", INSTALL, "--base-url", server.url], { env: { HOME: undefined, TMPDIR: fresh() } });
    expect(noHome.code).toBe(1);
    expect(noHome.stderr).toContain("HOME is not set, so there is no ~/.local/bin: pass --prefix DIR or --bin-dir DIR");
    // Refused before any traffic: .invalid names never resolve anyway.
    const plain = await install(["--base-url", "http://releases.example.invalid/cnp", "--bin-dir", fresh()]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("refusing plain http to another machine (http://releases.example.invalid/cnp)");
    expect((await install(["--base-url", "ftp://127.0.0.1/x"])).stderr).toContain("the base URL must start with https://");
  });

  test("hung up (terminal closed) or interrupted mid-download: no temp file, no staged file, no download left running", async () => {
    const sums = readFileSync(join(rel.out, "SHA256SUMS"));
    for (const sig of ["SIGHUP", "SIGINT", "SIGTERM"] as const) {
      const { promise: asked, resolve } = Promise.withResolvers<void>();
      const { promise: dropped, resolve: drop } = Promise.withResolvers<void>();
      // SHA256SUMS answers; the binary's body starts and never ends (and no idle time-out ends it).
      const stall = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        idleTimeout: 0,
        fetch(req) {
          if (new URL(req.url).pathname === "/SHA256SUMS") return new Response(sums);
          req.signal.addEventListener("abort", () => drop());
          resolve();
          return new Response(new ReadableStream({ start: (c) => c.enqueue(new Uint8Array(1024)) }), { headers: { "content-length": "100000000" } });
        },
      });
      const tmp = fresh();
      const binDir = fresh();
      const p = Bun.spawn(["dash", INSTALL, "--base-url", `http://127.0.0.1:${stall.port}`, "--bin-dir", binDir], {
        env: { ...process.env, TMPDIR: tmp },
        stdout: "ignore",
        stderr: "ignore",
      });
      await asked;
      p.kill(sig);
      expect(await p.exited).not.toBe(0);
      expect({ sig, tmp: readdirSync(tmp), bin: readdirSync(binDir) }).toEqual({ sig, tmp: [], bin: [] });
      await dropped; // the download was stopped too, not left running in the background
      await stall.stop(true);
    }
  });

  test("usage errors name the fix", async () => {
    expect((await install([])).stderr).toContain("no release location: pass --base-url URL or set CODEX_NETWORK_PROXY_BASE_URL");
    expect((await install(["--frobnicate"])).stderr).toContain("unknown argument '--frobnicate' (try --help)");
    expect((await install(["--target", "../../etc"])).stderr).toContain("bad target name '../../etc'");
    const down = await install(["--base-url", "http://127.0.0.1:9"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("cannot download http://127.0.0.1:9/SHA256SUMS");
  });
});

describe("install.sh detection (uname, getconf, ldd and sysctl answered by stand-ins on PATH)", () => {
  /** A bin directory whose uname (and optionally getconf, ldd, sysctl) say what we want. */
  function shims(o: { s: string; m: string; glibc?: boolean; lddSays?: string; translated?: string }): string {
    const d = fresh();
    const put = (name: string, body: string) => {
      writeFileSync(join(d, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(d, name), 0o755);
    };
    put("uname", `case "$1" in -s) echo '${o.s}' ;; -m) echo '${o.m}' ;; *) exit 1 ;; esac`);
    if (o.glibc === false) put("getconf", "exit 1");
    if (o.lddSays !== undefined) put("ldd", `echo '${o.lddSays}'; exit 1`);
    if (o.translated !== undefined) put("sysctl", `echo '${o.translated}'`);
    return d;
  }
  const detect = async (o: Parameters<typeof shims>[0]) => {
    const r = await exec(["dash", INSTALL, "--print-target"], { env: { PATH: `${shims(o)}:${process.env["PATH"]}` } });
    return r.code === 0 ? r.stdout.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
  };

  test("each OS, processor and C library maps to its build", async () => {
    expect(await detect({ s: "Linux", m: "x86_64" })).toBe(nativeTarget);
    expect(await detect({ s: "Linux", m: "aarch64" })).toBe("linux-arm64");
    // (Without AVX2 here, x64 musl is refused: the namespace test below covers that.)
    if (hasAvx2) expect(await detect({ s: "Linux", m: "x86_64", glibc: false, lddSays: "musl libc (x86_64)" })).toBe("linux-x64-musl");
    expect(await detect({ s: "Linux", m: "aarch64", glibc: false, lddSays: "musl libc (aarch64)" })).toBe("linux-arm64-musl");
    expect(await detect({ s: "Darwin", m: "arm64" })).toBe("darwin-arm64");
    expect(await detect({ s: "Darwin", m: "x86_64", translated: "0" })).toBe("darwin-x64");
    expect(await detect({ s: "Darwin", m: "x86_64", translated: "1" })).toBe("darwin-arm64"); // Rosetta 2
    expect(await detect({ s: "MINGW64_NT-10.0-19045", m: "x86_64" })).toBe("windows-x64");
    expect(await detect({ s: "FreeBSD", m: "amd64" })).toBe(
      "exit 1: codex-network-proxy install: no build for the operating system 'FreeBSD'; the README lists the platforms",
    );
    expect(await detect({ s: "Linux", m: "riscv64" })).toBe(
      "exit 1: codex-network-proxy install: no build for the processor 'riscv64'; the README lists the platforms",
    );
    // Every name detection can give is a release target.
    for (const name of ["linux-x64", "linux-x64-baseline", "linux-x64-musl", "linux-arm64", "linux-arm64-musl", "darwin-x64", "darwin-arm64", "windows-x64"]) {
      expect(TARGETS.map((t) => t.name)).toContain(name);
    }
  });

  const canUnshare = process.getuid?.() === 0 && Bun.spawnSync(["unshare", "-m", "true"]).exitCode === 0;
  test.skipIf(!canUnshare)("an x64 CPU without AVX2 gets the baseline build (a /proc/cpuinfo without avx2 mounted in a namespace)", async () => {
    const fake = join(fresh(), "cpuinfo");
    writeFileSync(fake, readFileSync("/proc/cpuinfo", "utf8").replace(/\bavx2\b/g, "sse4_2"));
    const inNs = (extra: string) =>
      exec(["unshare", "-m", "sh", "-c", `mount --bind '${fake}' /proc/cpuinfo && exec dash '${INSTALL}' --print-target`], {
        env: { PATH: `${extra}:${process.env["PATH"]}` },
      });
    const glibc = await inNs(shims({ s: "Linux", m: "x86_64" }));
    expect(glibc.stdout.trim()).toBe("linux-x64-baseline");
    const musl = await inNs(shims({ s: "Linux", m: "x86_64", glibc: false, lddSays: "musl libc" }));
    expect(musl.code).toBe(1);
    expect(musl.stderr).toContain("this CPU has no AVX2 and there is no musl build without it");
  });
});
