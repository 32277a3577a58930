/**
 * The platforms a release is built for, and how each one is named: in file names
 * (`codex-network-proxy-<version>-<name>[.exe]`), in install.sh's detection, and in the npm
 * packages (`@codex-network-proxy/<npm name>`, named after Node's process.platform and arch).
 */
export interface Target {
  /** Bun's compile target. */
  readonly bun: Bun.Build.CompileTarget;
  /** `<os>-<arch>[-<variant>]`, the part of the file name after the version. */
  readonly name: string;
  readonly os: "linux" | "darwin" | "windows";
  readonly arch: "x64" | "arm64";
  /** musl: for Alpine and other musl systems; baseline: for x64 CPUs without AVX2 (before 2013). */
  readonly variant: "musl" | "baseline" | null;
  /** Package suffix on npm, or null when the target is not shipped there (npm cannot choose by CPU feature). */
  readonly npm: string | null;
}

function target(os: Target["os"], arch: Target["arch"], variant: Target["variant"] = null): Target {
  const name = `${os}-${arch}${variant ? `-${variant}` : ""}`;
  const nodeOs = os === "windows" ? "win32" : os;
  return {
    bun: `bun-${name}` as Bun.Build.CompileTarget,
    name,
    os,
    arch,
    variant,
    npm: variant === "baseline" ? null : `${nodeOs}-${arch}${variant ? `-${variant}` : ""}`,
  };
}

export const TARGETS: readonly Target[] = [
  target("linux", "x64"),
  target("linux", "x64", "baseline"),
  target("linux", "x64", "musl"),
  target("linux", "arm64"),
  target("linux", "arm64", "musl"),
  target("darwin", "x64"),
  target("darwin", "arm64"),
  target("windows", "x64"),
  target("windows", "x64", "baseline"),
  target("windows", "arm64"),
];

export const NPM_SCOPE = "@codex-network-proxy";

export function fileName(version: string, t: Target): string {
  return `codex-network-proxy-${version}-${t.name}${t.os === "windows" ? ".exe" : ""}`;
}
