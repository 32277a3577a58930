/**
 * `npm start` is how the README starts the proxy from source: a signal to npm must stop the
 * proxy too, not leave a bun process behind holding the ports.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess } from "../helpers/cli.ts";
import { until } from "../helpers/until.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("npm start", () => {
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    test(`${sig} to npm stops the proxy it started (no orphaned bun)`, async () => {
      await using p = await ProxyProcess.start({
        args: ["-c", "network_proxy.limits.shutdown_grace_ms=200"],
        env: { CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-npm-")) },
        binary: "",
        // The proxy's own arguments, after npm's "--".
        wrap: (argv) => ["npm", "start", "--silent", "--", ...argv.slice(2)],
      });
      const proxyPid = p.ready.pid;
      expect(proxyPid).not.toBe(p.proc.pid); // npm is in between
      p.proc.kill(sig);
      await p.proc.exited;
      await until(() => !alive(proxyPid), `the proxy (pid ${proxyPid}) to exit after ${sig} to npm`);
      expect(p.stderr).toContain(`shutting down signal=${sig}`);
    });
  }
});
