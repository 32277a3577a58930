/**
 * The inside of `run --isolate`, started by unshare(1) or bubblewrap in fresh user and network
 * namespaces: say where we are (our pid, for the proxy to enter our network namespace and listen
 * on its loopback), wait until the proxy is listening, then run the command and leave with its
 * exit status. Nothing in here leads out: no interface but loopback, no route, no resolver.
 *
 *   codex-network-proxy __isolated DIR -- CMD [ARGS...]
 */
import { existsSync, renameSync, watch, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { loopbackUp } from "./loopback.ts";

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** Resolves once `path` exists. */
function appears(path: string): Promise<void> {
  return new Promise((resolve) => {
    const w = watch(join(path, ".."), () => {
      if (existsSync(path)) {
        w.close();
        resolve();
      }
    });
    if (existsSync(path)) {
      w.close();
      resolve();
    }
  });
}

export async function isolatedMain(argv: readonly string[]): Promise<number> {
  const sep = argv.indexOf("--");
  const dir = sep === 1 ? argv[0] : undefined;
  const cmd = sep < 0 ? [] : argv.slice(sep + 1);
  if (!dir || cmd.length === 0) {
    process.stderr.write("codex-network-proxy __isolated: internal use only (run --isolate starts it)\n");
    return 2;
  }
  // Signals that come while we wait are held for the command.
  const early: NodeJS.Signals[] = [];
  let child: Bun.Subprocess<"inherit", "inherit", "inherit"> | null = null;
  const forward = (sig: NodeJS.Signals) => (child ? child.kill(sig) : early.push(sig));
  for (const s of FORWARDED) process.on(s, forward);
  writeFileSync(join(dir, "child.pid.tmp"), String(process.pid));
  renameSync(join(dir, "child.pid.tmp"), join(dir, "child.pid"));
  await appears(join(dir, "ready"));
  try {
    child = Bun.spawn(cmd, { env: process.env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (e) {
    process.stderr.write(`codex-network-proxy run: cannot run ${JSON.stringify(cmd[0])}: ${(e as Error).message}\n`);
    return 127;
  }
  for (const sig of early) child.kill(sig);
  const status = await child.exited;
  if (child.signalCode) return 128 + (constants.signals[child.signalCode as keyof typeof constants.signals] ?? 0);
  return status;
}

/**
 * `__probe HOST PORT` (for doctor, inside the namespaces): exit 0 when a direct TCP connection
 * gets through, 1 when it fails, as it must in there.
 */
export async function directProbeMain(argv: readonly string[]): Promise<number> {
  try {
    loopbackUp();
  } catch {
    // Without loopback the probe fails all the more.
  }
  try {
    const s = await Promise.race([
      Bun.connect({ hostname: argv[0]!, port: Number(argv[1]), socket: { data() {} } }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), 3000)),
    ]);
    s.end();
    return 0;
  } catch {
    return 1;
  }
}
