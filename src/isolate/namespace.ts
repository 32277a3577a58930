/**
 * How `run --isolate` makes its namespaces, with what this machine has: util-linux unshare(1)
 * (unprivileged user namespace mapped to root inside, and a network namespace), else bubblewrap.
 * Each is tried for real before it is chosen; when none works the caller refuses to run the
 * command at all, never without isolation.
 */
import { which } from "bun";

export interface Isolation {
  /** What is used, for the debug log. */
  readonly tool: string;
  /** The command line that runs `inner` inside the namespaces. */
  argv(inner: readonly string[]): string[];
}

function works(argv: string[]): { ok: true } | { ok: false; why: string } {
  try {
    const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" });
    return r.exitCode === 0 ? { ok: true } : { ok: false, why: r.stderr.toString().trim().split("\n")[0] || `exit ${r.exitCode}` };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

/** `self`: how to start this program (the probe runs it inside, with --version). */
export function findIsolation(self: readonly string[] = selfCommand()): Isolation | { error: string } {
  if (process.platform !== "linux") return { error: `--isolate needs Linux network namespaces; this is ${process.platform}` };
  const tried: string[] = [];
  const unshare = which("unshare");
  if (unshare) {
    const base = [unshare, "--user", "--map-root-user", "--net"];
    // Probed with this program itself: what runs in there is what must work.
    const probe = works([...base, "--", ...self, "--version"]);
    if (probe.ok) return { tool: `unshare(1) (${unshare}): user and network namespaces`, argv: (inner) => [...base, "--", ...inner] };
    tried.push(`unshare --user --net: ${probe.why}`);
  } else tried.push("unshare(1): not installed (util-linux)");
  const bwrap = which("bwrap");
  if (bwrap) {
    const base = [bwrap, "--unshare-user", "--unshare-net", "--uid", "0", "--gid", "0", "--dev-bind", "/", "/", "--die-with-parent"];
    const probe = works([...base, "--", ...self, "--version"]);
    if (probe.ok) return { tool: `bubblewrap (${bwrap}): user and network namespaces`, argv: (inner) => [...base, "--", ...inner] };
    tried.push(`bwrap --unshare-user --unshare-net: ${probe.why}`);
  } else tried.push("bubblewrap: not installed");
  return {
    error: `cannot create a network namespace here (${tried.join("; ")}). Enable unprivileged user namespaces (sysctl user.max_user_namespaces > 0, and kernel.unprivileged_userns_clone = 1 where it exists) or install bubblewrap`,
  };
}

/** How to start this program again: the compiled binary, or bun with the entry script. */
export function selfCommand(): string[] {
  const compiled = !/[\\/]bun(\.exe)?$/.test(process.execPath);
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}
