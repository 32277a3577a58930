/**
 * What a build stamps into the binary: the package version, the git commit and a date.
 *
 * The date is the commit's date (or SOURCE_DATE_EPOCH when set, as reproducible-build tools
 * expect), never the clock: two builds of one commit must be the same bytes. A tree with
 * uncommitted changes is marked "-dirty" so such a binary never passes for the commit.
 */
import pkg from "../../package.json" with { type: "json" };

export interface BuildInfo {
  readonly version: string;
  /** 12 hex digits, "-dirty" appended for a changed tree; "unknown" outside a git checkout. */
  readonly commit: string;
  /** ISO 8601, UTC, whole seconds. */
  readonly date: string;
  readonly dirty: boolean;
}

function git(root: string, args: string[]): string | null {
  const r = Bun.spawnSync(["git", "-C", root, ...args], { stdout: "pipe", stderr: "ignore" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

/** Seconds since the epoch as `2026-12-05T00:06:48Z`. */
export function isoSeconds(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function buildInfo(root: string, env: Readonly<Record<string, string | undefined>> = process.env): BuildInfo {
  const head = git(root, ["rev-parse", "HEAD"]);
  const dirty = head !== null && (git(root, ["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "";
  const sde = env["SOURCE_DATE_EPOCH"];
  let seconds: number;
  if (sde !== undefined && sde !== "") {
    if (!/^\d+$/.test(sde)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got ${JSON.stringify(sde)}`);
    seconds = Number(sde);
  } else {
    const committed = head !== null ? git(root, ["log", "-1", "--format=%ct", "HEAD"]) : null;
    if (committed === null) throw new Error("not a git checkout and no SOURCE_DATE_EPOCH: set SOURCE_DATE_EPOCH to date the build");
    seconds = Number(committed);
  }
  const commit = head === null ? "unknown" : `${head.slice(0, 12)}${dirty ? "-dirty" : ""}`;
  return { version: pkg.version, commit, date: isoSeconds(seconds), dirty };
}

/** The `define` map that src/version.ts reads. */
export function buildDefines(info: BuildInfo): Record<string, string> {
  return {
    BUILD_VERSION: JSON.stringify(info.version),
    BUILD_COMMIT: JSON.stringify(info.commit),
    BUILD_DATE: JSON.stringify(info.date),
  };
}
