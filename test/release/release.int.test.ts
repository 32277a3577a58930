/**
 * `bun run release`: every target, named and checksummed, stamped with the commit and date,
 * in the right executable format, darwin binaries validly signed, and rebuilt bit for bit.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { compile } from "../../build.ts";
import { buildInfo } from "../../scripts/lib/build-info.ts";
import { signAdhoc, verifyAdhoc } from "../../scripts/lib/macho.ts";
import { fileName, TARGETS, type Target } from "../../scripts/lib/targets.ts";
import { ProxyProcess, ROOT } from "../helpers/cli.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { curl } from "../helpers/raw.ts";
import { exec, RELEASE_TIMEOUT_MS, type ReleaseDirs, releaseOnce } from "../helpers/release.ts";

let rel: ReleaseDirs;
beforeAll(
  async () => {
    rel = await releaseOnce();
  },
  { timeout: RELEASE_TIMEOUT_MS },
);

const pathOf = (t: Target) => join(rel.out, fileName(pkg.version, t));
const byName = (name: string) => TARGETS.find((t) => t.name === name)!;

/** The machine an executable is for, read from its header the way each loader reads it. */
function machine(bytes: Buffer): string {
  if (bytes.readUInt32BE(0) === 0x7f454c46) return `elf-${{ 62: "x64", 183: "arm64" }[bytes.readUInt16LE(18)] ?? "?"}`;
  if (bytes.readUInt32LE(0) === 0xfeedfacf) return `macho-${{ 16777223: "x64", 16777228: "arm64" }[bytes.readUInt32LE(4)] ?? "?"}`;
  if (bytes.toString("latin1", 0, 2) === "MZ") {
    const pe = bytes.readUInt32LE(0x3c);
    if (bytes.toString("latin1", pe, pe + 4) !== "PE\0\0") return "mz-without-pe";
    return `pe-${{ 34404: "x64", 43620: "arm64" }[bytes.readUInt16LE(pe + 4)] ?? "?"}`;
  }
  return "unknown";
}

describe("bun run release", () => {
  test("every target is built, executable, listed in SHA256SUMS, and sha256sum -c agrees", async () => {
    const sums = readFileSync(join(rel.out, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums).toHaveLength(TARGETS.length + 1);
    expect(sums.some((l) => l.endsWith("  install.sh"))).toBe(true);
    for (const t of TARGETS) {
      const name = fileName(pkg.version, t);
      expect(name).toBe(`codex-network-proxy-${pkg.version}-${t.os}-${t.arch}${t.variant ? `-${t.variant}` : ""}${t.os === "windows" ? ".exe" : ""}`);
      const st = statSync(pathOf(t));
      expect(st.mode & 0o777).toBe(0o755);
      expect(st.size).toBeGreaterThan(10 * 2 ** 20);
      const line = sums.find((l) => l.endsWith(`  ${name}`));
      expect(line).toMatch(/^[0-9a-f]{64} {2}/);
      // The printed table carries the same hash.
      expect(rel.stdout).toContain(`| ${t.name} | ${name} |`);
      expect(rel.stdout).toContain(line!.slice(0, 64));
    }
    const check = await exec(["sha256sum", "-c", "SHA256SUMS"], { cwd: rel.out });
    expect(check.code).toBe(0);
    expect(check.stdout.match(/: OK$/gm)).toHaveLength(TARGETS.length + 1);
  });

  test("each file is an executable for its own OS and processor", () => {
    for (const t of TARGETS) {
      const head = Buffer.alloc(4096);
      const fd = openSync(pathOf(t), "r");
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      const kind = { linux: "elf", darwin: "macho", windows: "pe" }[t.os];
      expect(`${t.name}: ${machine(head)}`).toBe(`${t.name}: ${kind}-${t.arch}`);
    }
  });

  test("--version names the version, the commit and the commit's date", async () => {
    const info = buildInfo(ROOT);
    const r = await exec([pathOf(byName("linux-x64")), "--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`codex-network-proxy ${pkg.version} (commit ${info.commit}, ${info.date})\n`);
    expect(info.commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
    const git = await exec(["git", "log", "-1", "--format=%cI", "HEAD"]);
    expect(Date.parse(info.date)).toBe(Date.parse(git.stdout.trim()));
  });

  test("darwin binaries carry a valid ad-hoc signature over every byte", () => {
    for (const name of ["darwin-x64", "darwin-arm64"]) {
      const bytes = readFileSync(pathOf(byName(name)));
      const report = verifyAdhoc(bytes);
      expect({ name, problems: report.problems }).toEqual({ name, problems: [] });
      expect(report.identifier).toBe("codex-network-proxy");
      expect(report.flags).toBe(0x20002); // adhoc | linker-signed
      // One changed byte anywhere in the code is caught, and so is anything appended.
      const tampered = Buffer.from(bytes);
      tampered[Math.floor(tampered.length / 3)]! ^= 1;
      expect(verifyAdhoc(tampered).problems).toContain(`1 of ${report.pages} page hashes do not match the file`);
      expect(verifyAdhoc(Buffer.concat([bytes, Buffer.of(0)])).problems).toContain("1 bytes follow the signature");
      // A truncated file is reported, never signed as if the missing bytes were zeros.
      const cut = bytes.subarray(0, bytes.length - report.pages * 16);
      expect(verifyAdhoc(cut).ok).toBe(false);
      expect(() => signAdhoc(bytes.subarray(0, 1 << 20), "x")).toThrow("truncated?");
    }
  });

  test(
    "the signer writes, byte for byte, the signature Bun's own signer gives a darwin-arm64 build",
    async () => {
      // Bun signs its darwin-arm64 output correctly (ad hoc, linker-style); re-signing that file
      // with the same identifier must change nothing, which ties our format to a known-good one.
      const raw = join(rel.root, "raw", "codex-network-proxy");
      await compile({ outfile: raw, target: "bun-darwin-arm64", info: buildInfo(ROOT) });
      const bytes = readFileSync(raw);
      const report = verifyAdhoc(bytes);
      expect(report.problems).toEqual([]);
      expect(signAdhoc(bytes, report.identifier!).equals(bytes)).toBe(true);
    },
    RELEASE_TIMEOUT_MS,
  );

  test(
    "two builds of the same commit are the same bytes (one target per OS, built twice)",
    async () => {
      const out = join(rel.root, "twice");
      const r = await exec([
        process.execPath,
        join(ROOT, "scripts", "release.ts"),
        "--out",
        out,
        "--npm-out",
        join(rel.root, "twice-npm"),
        "--targets",
        "linux-x64,darwin-x64,windows-x64",
        "--check-reproducible",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("each built twice with the same bytes");
      // And the same bytes as the first release run.
      for (const name of ["linux-x64", "darwin-x64", "windows-x64"]) {
        const f = fileName(pkg.version, byName(name));
        expect(readFileSync(join(out, f)).equals(readFileSync(join(rel.out, f)))).toBe(true);
      }
    },
    RELEASE_TIMEOUT_MS,
  );

  test("the baseline build (no AVX2 needed) runs here too: --version and a request through it", async () => {
    const bin = pathOf(byName("linux-x64-baseline"));
    expect((await exec([bin, "--version"])).stdout).toStartWith(`codex-network-proxy ${pkg.version} (commit `);
    using origin = new HttpOrigin();
    await using p = await ProxyProcess.start({ binary: bin, config: ['network_proxy.policy.allowed_domains=["localhost"]'] });
    const r = await curl(["-x", `http://127.0.0.1:${p.http}`, `http://localhost:${origin.server.port}/`, "-o", "/dev/null", "-w", "%{http_code}"]);
    expect(r.stdout).toBe("200");
    expect(origin.requests).toBe(1);
  });

  test("--out and --npm-out must not overlap; other files in either survive a release", async () => {
    const out = join(rel.root, "shared");
    const nested = await exec([process.execPath, join(ROOT, "scripts", "release.ts"), "--out", out, "--npm-out", join(out, "npm"), "--targets", "linux-x64"]);
    expect(nested.code).toBe(1);
    expect(nested.stderr).toContain(`must be separate directories, neither inside the other`);
    const npm = join(rel.root, "npm-keep");
    mkdirSync(npm, { recursive: true });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(npm, "notes.txt"), "mine");
    writeFileSync(join(out, "notes.txt"), "mine");
    const r = await exec([process.execPath, join(ROOT, "scripts", "release.ts"), "--out", out, "--npm-out", npm, "--targets", "linux-x64"]);
    expect(r.code).toBe(0);
    expect(readdirSync(npm).sort()).toEqual(["codex-network-proxy", "codex-network-proxy-linux-x64", "notes.txt"]);
    expect(readdirSync(out).sort()).toEqual(["SHA256SUMS", fileName(pkg.version, byName("linux-x64")), "install.sh", "notes.txt"].sort());
  });

  test("an unknown --targets name is refused with the list of targets", async () => {
    const r = await exec([process.execPath, join(ROOT, "scripts", "release.ts"), "--out", join(rel.root, "none"), "--targets", "linux-x86"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown target linux-x86; the targets are linux-x64, linux-x64-baseline");
  });
});
