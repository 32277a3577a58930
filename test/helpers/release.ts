/**
 * One `bun run release` per test process, shared by the release, installer, npm and arm64
 * tests: every target into a temp directory (about 3 GB, removed when the test run ends).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./cli.ts";
import { removeAtEnd } from "./teardown.ts";

export interface ReleaseDirs {
  readonly root: string;
  readonly out: string;
  readonly npm: string;
  /** What the script printed. */
  readonly stdout: string;
}

/** Run a command to completion; stdout, stderr and status. */
export async function exec(argv: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const p = Bun.spawn([...argv], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

let made: Promise<ReleaseDirs> | null = null;

export function releaseOnce(): Promise<ReleaseDirs> {
  made ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), "cnp-release-"));
    removeAtEnd(root);
    const out = join(root, "release");
    const npm = join(root, "npm");
    const r = await exec([process.execPath, join(ROOT, "scripts", "release.ts"), "--out", out, "--npm-out", npm]);
    if (r.code !== 0) throw new Error(`bun run release exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return { root, out, npm, stdout: r.stdout };
  })();
  return made;
}

/** Minutes, for hooks that wait on a release build (cross-compiling may first download runtimes). */
export const RELEASE_TIMEOUT_MS = 10 * 60_000;
