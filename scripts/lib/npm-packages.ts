/**
 * The npm distribution, laid out as esbuild and Biome ship native binaries: a small
 * `codex-network-proxy` package holding only a Node launcher, whose optionalDependencies are
 * one package per platform, each holding one binary and declaring its os/cpu/libc so that npm
 * installs only the one that fits. Nothing here publishes; the directories are ready for
 * `npm pack` / `npm publish`.
 */
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { NPM_SCOPE, type Target } from "./targets.ts";

const ROOT = join(import.meta.dir, "..", "..");

export interface Built {
  readonly target: Target;
  readonly path: string;
}

const common = { version: pkg.version, license: pkg.license };

function link(from: string, to: string, mode: number): void {
  try {
    linkSync(from, to); // 100 MB each: share the release file's blocks where the file system can
  } catch {
    copyFileSync(from, to);
  }
  chmodSync(to, mode);
}

/** Write dist/npm/<package>/ for the main package and every built target npm ships; returns the directories. */
export function writeNpmPackages(outDir: string, built: readonly Built[]): string[] {
  // Only our own package directories are replaced: --npm-out may name a directory that holds other things.
  mkdirSync(outDir, { recursive: true });
  for (const d of readdirSync(outDir))
    if (d === "codex-network-proxy" || d.startsWith("codex-network-proxy-")) rmSync(join(outDir, d), { recursive: true, force: true });
  const dirs: string[] = [];
  const optional: Record<string, string> = {};
  for (const b of built) {
    if (b.target.npm === null) continue;
    const name = `${NPM_SCOPE}/${b.target.npm}`;
    const dir = join(outDir, `codex-network-proxy-${b.target.npm}`);
    const exe = `codex-network-proxy${b.target.os === "windows" ? ".exe" : ""}`;
    mkdirSync(join(dir, "bin"), { recursive: true });
    link(b.path, join(dir, "bin", exe), 0o755);
    const [os, cpu] = b.target.npm.split("-") as [string, string];
    const manifest = {
      name,
      ...common,
      description: `The ${b.target.name} binary of codex-network-proxy (installed by the codex-network-proxy package).`,
      os: [os],
      cpu: [cpu],
      ...(b.target.os === "linux" ? { libc: [b.target.variant === "musl" ? "musl" : "glibc"] } : {}),
      files: [`bin/${exe}`],
      preferUnplugged: true,
    };
    writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileSync(
      join(dir, "README.md"),
      `# ${name}\n\nThe ${b.target.name} binary of codex-network-proxy. Install \`codex-network-proxy\` instead; it picks this package on ${b.target.name}.\n`,
    );
    optional[name] = pkg.version;
    dirs.push(dir);
  }
  const main = join(outDir, "codex-network-proxy");
  mkdirSync(join(main, "bin"), { recursive: true });
  copyFileSync(join(ROOT, "scripts", "npm", "launcher.cjs"), join(main, "bin", "codex-network-proxy.js"));
  chmodSync(join(main, "bin", "codex-network-proxy.js"), 0o755);
  copyFileSync(join(ROOT, "README.md"), join(main, "README.md"));
  const manifest = {
    name: "codex-network-proxy",
    ...common,
    description: pkg.description,
    bin: { "codex-network-proxy": "bin/codex-network-proxy.js" },
    files: ["bin/codex-network-proxy.js"],
    engines: { node: ">=18" },
    optionalDependencies: optional,
  };
  writeFileSync(join(main, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  dirs.unshift(main);
  return dirs;
}
