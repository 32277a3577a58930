/**
 * Fetch the Node.js releases that the client tests run README's Node snippets on, whatever
 * `node` the machine has: the npm registry's `node-<platform>-<arch>` packages carry the official
 * binaries, so this needs nothing but npm. Each lands in `.cache/node/<major>/bin/node` and is
 * checked by running it. Idempotent; `.ci/run` calls it.
 *
 *   bun scripts/get-node.ts
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The versions tested: the current 20, 22 and 24 lines, whatever `node` this machine has. */
export const NODE_VERSIONS = ["20.20.2", "22.23.5", "24.22.3"] as const;

const ROOT = join(import.meta.dir, "..");
export const NODE_CACHE = join(ROOT, ".cache", "node");

export function nodePath(version: string): string {
  return join(NODE_CACHE, version.split(".")[0]!, "bin", "node");
}

function run(cmd: string[], cwd?: string): string {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

async function fetchVersion(version: string): Promise<void> {
  const bin = nodePath(version);
  if (existsSync(bin) && run([bin, "--version"]) === `v${version}`) return;
  const pkg = `node-${process.platform}-${process.arch}@${version}`;
  const tmp = mkdtempSync(join(tmpdir(), "cnp-node-"));
  try {
    const file = run(["npm", "pack", pkg, "--silent", "--pack-destination", tmp]).split("\n").at(-1)!;
    const dir = join(NODE_CACHE, version.split(".")[0]!);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    run(["tar", "xzf", join(tmp, file), "-C", dir, "--strip-components=1", "package/bin/node"]);
    const got = run([bin, "--version"]);
    if (got !== `v${version}`) throw new Error(`${bin} says ${got}, expected v${version}`);
    console.log(`node ${version}: ${bin}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  let failed = false;
  for (const v of NODE_VERSIONS) {
    try {
      await fetchVersion(v);
    } catch (e) {
      console.error(`node ${v}: ${(e as Error).message}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}
