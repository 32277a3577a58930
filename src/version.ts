/**
 * The version, injected by build.ts with `define`: BUILD_VERSION (package.json's version),
 * BUILD_COMMIT (the git commit the binary was built from, "-dirty" when the tree had changes)
 * and BUILD_DATE (an ISO date: the commit's date, or SOURCE_DATE_EPOCH, so that two builds of
 * one commit are the same bytes). Running from source, the version has a "-dev" suffix and the
 * other two are absent.
 */
import pkg from "../package.json" with { type: "json" };

declare const BUILD_VERSION: string;
declare const BUILD_COMMIT: string;
declare const BUILD_DATE: string;

export const VERSION: string = typeof BUILD_VERSION === "string" ? BUILD_VERSION : `${pkg.version}-dev`;
const COMMIT: string | null = typeof BUILD_COMMIT === "string" ? BUILD_COMMIT : null;
const DATE: string | null = typeof BUILD_DATE === "string" ? BUILD_DATE : null;

/** What `--version` prints: `codex-network-proxy 0.1.0 (commit 0123abcd4567, 2026-12-05T00:06:48Z)`. */
export function versionLine(): string {
  const details = [COMMIT !== null ? `commit ${COMMIT}` : null, DATE].filter((x) => x !== null);
  return `codex-network-proxy ${VERSION}${details.length > 0 ? ` (${details.join(", ")})` : ""}`;
}
