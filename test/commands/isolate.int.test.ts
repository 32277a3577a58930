/**
 * `run --isolate`: the command runs in its own user and network namespaces, where the proxy is
 * the only way out. Through the proxy, real clients reach an allowed origin on this host's
 * loopback; around it (curl --noproxy, Node 20's fetch, a raw socket, DNS) nothing gets
 * anywhere. Skipped, with the reason printed, only where this machine cannot make namespaces.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findIsolation } from "../../src/isolate/namespace.ts";
import { nodePath } from "../../scripts/get-node.ts";
import { CliProcess, cliCommand, runCli } from "../helpers/cli.ts";
import { home } from "../helpers/clients.ts";
import { HttpOrigin } from "../helpers/origin.ts";

// Probed with the CLI as the tests run it (this file is not the program).
const iso = findIsolation(cliCommand([]));
const why = "error" in iso ? iso.error : null;
if (why) console.log(`run --isolate tests skipped: ${why}`);
const ALLOW = ["-c", 'network_proxy.policy.allowed_domains=["127.0.0.1"]'];
const NODE20 = nodePath("20.20.2");

describe.skipIf(why !== null)("run --isolate", () => {
  test("through the proxy the command reaches an allowed origin outside; around it, nothing", async () => {
    using origin = new HttpOrigin();
    const url = `http://127.0.0.1:${origin.port}/echo`;
    if (!existsSync(NODE20)) throw new Error(`${NODE20} is missing: run bun scripts/get-node.ts (npm test does)`);
    const py = (code: string) => `python3 -c '${code}' 2>&1 | tail -1`;
    const script = [
      `curl -s -o /dev/null -w "curl %{http_code}\\n" ${url}`,
      `python3 -c 'import os, urllib.request; print("python", urllib.request.urlopen("${url}").status)'`,
      // Node 22+ with NODE_USE_ENV_PROXY (which run sets) goes through the proxy.
      `${nodePath("22.23.5")} -e 'fetch("${url}").then((r) => console.log("node22", r.status))'`,
      // Around the proxy: each must fail, at once.
      `curl -s --noproxy "*" -m 5 ${url}; echo "noproxy exit $?"`,
      `${NODE20} -e 'fetch("${url}").then((r) => console.log("node20", r.status), (e) => console.log("node20 failed", e.cause?.code))'`,
      py(
        `import socket\ntry:\n  socket.create_connection(("127.0.0.1", ${origin.port}), 5); print("raw connected")\nexcept OSError as e: print("raw failed", e.errno)`,
      ),
      py(
        `import socket\ntry:\n  socket.create_connection(("192.0.2.1", 80), 5); print("outside connected")\nexcept OSError as e: print("outside failed", e.errno)`,
      ),
      py(`import socket\ntry:\n  socket.getaddrinfo("example.com", 80); print("dns resolved")\nexcept OSError as e: print("dns failed")`),
      `curl -s -o /dev/null -w "blocked %{http_code}\\n" http://blocked.invalid/`,
      "exit 7",
    ].join("\n");
    const r = await runCli(["run", "--isolate", ...ALLOW, "--", "sh", "-c", script], { CODEX_HOME: home() });
    expect(r.code).toBe(7);
    expect(r.stdout.trim().split("\n")).toEqual([
      "curl 200",
      "python 200",
      "node22 200",
      "noproxy exit 7",
      "node20 failed ECONNREFUSED",
      "raw failed 111",
      "outside failed 101",
      "dns failed",
      "blocked 403",
    ]);
    expect(origin.requests).toBe(3);
    // The summary lists what reached the proxy and was refused.
    expect(r.stderr.trim().split("\n").at(-1)).toBe("codex-network-proxy: 1 request blocked: 1 not_allowed (blocked.invalid)");
  });

  test("signals reach the command inside, and its death by signal is reported as in run", async () => {
    await using p = new CliProcess(
      ["run", "--isolate", "--log-level", "info", "--", "sh", "-c", "trap 'exit 42' TERM; echo ready >&2; while :; do sleep 0.05; done"],
      {
        CODEX_HOME: home(),
      },
    );
    await p.waitFor(/^ready$/m);
    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(42);
    await using q = new CliProcess(["run", "--isolate", "--", "sh", "-c", "echo ready >&2; exec sleep 30"], { CODEX_HOME: home() });
    await q.waitFor(/^ready$/m);
    q.proc.kill("SIGINT");
    expect(await q.proc.exited).toBe(130);
  });
});

const BWRAP = Bun.which("bwrap");

describe.skipIf(why !== null || BWRAP === null)("run --isolate with bubblewrap (where unshare(1) is missing)", () => {
  test("works the same way, and says which tool it used", async () => {
    using origin = new HttpOrigin();
    // A PATH with bubblewrap and the command's tools, but no unshare(1).
    const bin = mkdtempSync(join(tmpdir(), "cnp-bin-"));
    for (const tool of ["bwrap", "sh", "curl"]) symlinkSync(Bun.which(tool)!, join(bin, tool));
    const url = `http://127.0.0.1:${origin.port}/echo`;
    const script = `curl -s -o /dev/null -w "proxied %{http_code}\\n" ${url}; curl -s --noproxy "*" -m 5 ${url}; echo "noproxy exit $?"`;
    const r = await runCli(["run", "--isolate", "--log-level", "debug", ...ALLOW, "--", "sh", "-c", script], { CODEX_HOME: home(), PATH: bin });
    expect(r.stderr).toContain('isolating the command with="bubblewrap');
    expect(r.stdout.trim().split("\n")).toEqual(["proxied 200", "noproxy exit 7"]);
    expect(r.code).toBe(0);
  });
});

describe("run --isolate where namespaces cannot be made", () => {
  test("refuses with exit 126 and says why; the command never runs unisolated", async () => {
    // No unshare and no bwrap on the PATH: nothing can isolate the command.
    const r = await runCli(["run", "--isolate", "--", "sh", "-c", "echo ran"], { CODEX_HOME: home(), PATH: "/nonexistent" });
    expect(r.code).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "codex-network-proxy run --isolate: cannot create a network namespace here (unshare(1): not installed (util-linux); bubblewrap: not installed)",
    );
  });
});
