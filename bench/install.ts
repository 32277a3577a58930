/**
 * Install missing peers from Debian packages, or say why a tool is missing so its cells are
 * marked skipped instead of failing the run.
 *
 * Debian starts a packaged daemon (squid, tinyproxy, danted) right after installing it unless
 * /usr/sbin/policy-rc.d forbids it. The benchmark must not leave a system squid on port 3128
 * behind, so if that file is absent a deny-all one is put there for the install and removed
 * afterwards.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { run } from "./lib/procs.ts";

const POLICY_RC = "/usr/sbin/policy-rc.d";

export interface Tool {
  bin: string;
  pkg: string;
}

/** Missing binaries after installing what can be installed: bin -> why it is missing. */
export async function ensureInstalled(tools: readonly Tool[], allowInstall: boolean): Promise<Map<string, string>> {
  const missing = (): Tool[] => tools.filter((t) => !Bun.which(t.bin));
  let todo = missing();
  if (todo.length === 0) return new Map();
  const pkgs = [...new Set(todo.map((t) => t.pkg))];
  let why = "";
  if (!allowInstall) why = `not installed (run without --no-install, or: apt-get install -y ${pkgs.join(" ")})`;
  else if (process.getuid?.() !== 0) why = `not installed, and installing needs root: apt-get install -y ${pkgs.join(" ")}`;
  else if (!Bun.which("apt-get")) why = "not installed, and this machine has no apt-get";
  else {
    console.error(`installing ${pkgs.join(" ")} (apt-get install -y)...`);
    const tempPolicy = !existsSync(POLICY_RC);
    if (tempPolicy) writeFileSync(POLICY_RC, "#!/bin/sh\n# written by codex-network-proxy's bench/install.ts for one install\nexit 101\n", { mode: 0o755 });
    try {
      const env = { DEBIAN_FRONTEND: "noninteractive" };
      let r = await run(["apt-get", "install", "-y", "-q", ...pkgs], env);
      if (r.code !== 0) {
        // A stale package list is the usual cause: refresh once and retry.
        await run(["apt-get", "update", "-q"], env);
        r = await run(["apt-get", "install", "-y", "-q", ...pkgs], env);
      }
      why =
        r.code === 0
          ? "installed, but the program is not on PATH"
          : `apt-get install ${pkgs.join(" ")} failed (${r.code}): ${r.out.trim().split("\n").slice(-3).join(" / ")}`;
    } finally {
      if (tempPolicy) rmSync(POLICY_RC, { force: true });
    }
  }
  todo = missing();
  return new Map(todo.map((t) => [t.bin, why]));
}
