/**
 * Start a command for `run --isolate`: through unshare(1) or bubblewrap, our own `__isolated`
 * step inside the new namespaces reports its pid and waits; the proxy enters that network
 * namespace to listen on its loopback (netns.ts), then lets the command run. If any of it fails
 * the command is killed before it ever started.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfCommand, type Isolation } from "./namespace.ts";

/** How long the namespaces may take to come up before `run --isolate` gives up. */
const SETUP_MS = 15_000;

function childPid(dir: string, child: Bun.Subprocess, ms: number): Promise<number> {
  const file = join(dir, "child.pid");
  return new Promise((resolve, reject) => {
    const done = (err: Error | null) => {
      clearTimeout(timer);
      w.close();
      if (err) return reject(err);
      resolve(Number(readFileSync(file, "utf8")));
    };
    const w = watch(dir, () => existsSync(file) && done(null));
    const timer = setTimeout(() => done(new Error(`the namespaces did not come up within ${ms / 1000} s`)), ms);
    void child.exited.then((code) => !existsSync(file) && done(new Error(`the isolation tool exited (${code}) before the namespaces were ready`)));
    if (existsSync(file)) done(null);
  });
}

export async function spawnIsolated(
  isolation: Isolation,
  server: { listenInside(pid: number): void },
  cmd: readonly string[],
  env: Record<string, string>,
): Promise<Bun.Subprocess<"inherit", "inherit", "inherit">> {
  const dir = mkdtempSync(join(tmpdir(), "cnp-isolate-"));
  const child = Bun.spawn(isolation.argv([...selfCommand(), "__isolated", dir, "--", ...cmd]), { env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  void child.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  try {
    server.listenInside(await childPid(dir, child, SETUP_MS));
    writeFileSync(join(dir, "ready"), "");
    return child;
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}
