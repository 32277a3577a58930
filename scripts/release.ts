/**
 * `bun run release`: every platform's binary, with checksums and the npm packages.
 *
 *   bun scripts/release.ts [--out DIR] [--npm-out DIR] [--targets linux-x64,darwin-arm64,...]
 *                          [--check-reproducible]
 *
 * Writes DIR (default dist/release/) with codex-network-proxy-<version>-<os>-<arch>[.exe] per
 * target, install.sh, and SHA256SUMS over all of them (the format `sha256sum -c` reads), and --npm-out (default dist/npm/)
 * with one directory per npm package. darwin binaries are re-signed ad hoc and every darwin
 * signature is verified: a binary macOS would kill is never written out as a release.
 * --check-reproducible builds every target a second time and fails unless the bytes match.
 * Cross-compiling fetches each target's Bun runtime from the npm registry the first time.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { compile } from "../build.ts";
import pkg from "../package.json" with { type: "json" };
import { buildInfo, type BuildInfo } from "./lib/build-info.ts";
import { signAdhoc, verifyAdhoc } from "./lib/macho.ts";
import { type Built, writeNpmPackages } from "./lib/npm-packages.ts";
import { fileName, TARGETS, type Target } from "./lib/targets.ts";

const ROOT = resolve(import.meta.dir, "..");

async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

/**
 * Compile one target to `path`, by way of a scratch directory beside it (Bun embeds the output's
 * base name in the binary, so the scratch file has the final name); darwin output is re-signed
 * and its signature checked.
 */
async function buildOne(t: Target, info: BuildInfo, path: string): Promise<void> {
  const scratch = join(dirname(path), `.build-${t.name}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch);
  try {
    const raw = join(scratch, basename(path));
    await compile({ outfile: raw, target: t.bun, info });
    if (!existsSync(raw)) throw new Error(`${t.name}: Bun wrote no ${raw}`);
    if (t.os === "darwin") {
      const signed = signAdhoc(new Uint8Array(await Bun.file(raw).arrayBuffer()), "codex-network-proxy");
      const report = verifyAdhoc(signed);
      if (!report.ok) throw new Error(`${t.name}: the new signature does not verify: ${report.problems.join("; ")}`);
      await Bun.write(raw, signed);
    }
    chmodSync(raw, 0o755);
    renameSync(raw, path);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface ReleaseRow {
  readonly target: string;
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

export async function release(opts: {
  out: string;
  npmOut: string;
  targets: readonly Target[];
  checkReproducible: boolean;
  log?: (line: string) => void;
}): Promise<ReleaseRow[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  // The binaries are this Bun's runtime: only the pinned one makes the release the project tested.
  const pinned = pkg.devDependencies.bun;
  if (Bun.version !== pinned)
    throw new Error(`this is Bun ${Bun.version}, but package.json pins ${pinned}: run the release with the pinned Bun (npm ci, then node_modules/.bin/bun)`);
  const out = resolve(opts.out);
  const npmOut = resolve(opts.npmOut);
  if (out === npmOut || npmOut.startsWith(`${out}/`) || out.startsWith(`${npmOut}/`)) {
    throw new Error(`--out (${out}) and --npm-out (${npmOut}) must be separate directories, neither inside the other`);
  }
  const info = buildInfo(ROOT);
  if (info.dirty) log(`warning: the tree has uncommitted changes; the binaries say commit ${info.commit}`);
  mkdirSync(opts.out, { recursive: true });
  // Only our own files are removed: --out may name a directory that holds other things.
  for (const f of readdirSync(opts.out)) {
    if (f === "SHA256SUMS" || f === "install.sh" || f.startsWith("codex-network-proxy-")) rmSync(join(opts.out, f), { force: true });
  }
  const rows: ReleaseRow[] = [];
  const built: Built[] = [];
  for (const t of opts.targets) {
    const file = fileName(info.version, t);
    const path = join(opts.out, file);
    await buildOne(t, info, path);
    const sha256 = await sha256File(path);
    if (opts.checkReproducible) {
      const dir = join(opts.out, ".again");
      mkdirSync(dir, { recursive: true });
      try {
        await buildOne(t, info, join(dir, file));
        const second = await sha256File(join(dir, file));
        if (second !== sha256) throw new Error(`${t.name}: two builds of commit ${info.commit} differ (${sha256} vs ${second})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    rows.push({ target: t.name, file, bytes: statSync(path).size, sha256 });
    built.push({ target: t, path });
    log(`built ${file}`);
  }
  // The install script is served beside the binaries, and listed so a manual download can be checked too.
  copyFileSync(join(ROOT, "install.sh"), join(opts.out, "install.sh"));
  chmodSync(join(opts.out, "install.sh"), 0o755);
  const listed = [...rows.map((r) => ({ file: r.file, sha256: r.sha256 })), { file: "install.sh", sha256: await sha256File(join(opts.out, "install.sh")) }];
  const sums = listed.sort((a, b) => (a.file < b.file ? -1 : 1)).map((r) => `${r.sha256}  ${r.file}\n`);
  writeFileSync(join(opts.out, "SHA256SUMS"), sums.join(""));
  writeNpmPackages(opts.npmOut, built);
  return rows;
}

export function table(rows: readonly ReleaseRow[]): string {
  const lines = ["| target | file | size | sha256 |", "| --- | --- | --- | --- |"];
  for (const r of rows) lines.push(`| ${r.target} | ${r.file} | ${(r.bytes / 2 ** 20).toFixed(1)} MiB | ${r.sha256} |`);
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      out: { type: "string", default: join(ROOT, "dist", "release") },
      "npm-out": { type: "string", default: join(ROOT, "dist", "npm") },
      targets: { type: "string" },
      "check-reproducible": { type: "boolean", default: false },
    },
    strict: true,
  });
  let targets = TARGETS;
  if (values.targets !== undefined) {
    const names = values.targets.split(",").map((s) => s.trim());
    const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
    if (unknown.length > 0) {
      console.error(`unknown target ${unknown.join(", ")}; the targets are ${TARGETS.map((t) => t.name).join(", ")}`);
      process.exit(2);
    }
    targets = TARGETS.filter((t) => names.includes(t.name));
  }
  const started = performance.now();
  try {
    const rows = await release({ out: resolve(values.out), npmOut: resolve(values["npm-out"]), targets, checkReproducible: values["check-reproducible"] });
    console.log(`\n${table(rows)}\n`);
    console.log(
      `${rows.length} binaries and SHA256SUMS in ${values.out}, npm packages in ${values["npm-out"]}${values["check-reproducible"] ? ", each built twice with the same bytes" : ""} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  } catch (e) {
    console.error(`release failed: ${(e as Error).message}`);
    process.exit(1);
  }
}
