/**
 * What the proxy does before it is ready, beyond its result: it runs no regular expression (the
 * first one pages in the engine's code, about 1.3 MiB of idle memory and part of a millisecond
 * of start-up) and loads no package but the TOML parser, with the default listeners and an
 * allowlist of names, a wildcard and addresses.
 * Run from source with a preload that records them (helpers/regexp-before-ready.ts).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MAIN, ProxyProcess } from "../helpers/cli.ts";
import { until } from "../helpers/until.ts";

const PRELOAD = join(import.meta.dir, "../helpers/regexp-before-ready.ts");

describe("start-up", () => {
  test("no regular expression runs and no package but the TOML parser loads before the ready file is written", async () => {
    await using p = await ProxyProcess.start({
      config: ['network_proxy.policy.allowed_domains=["example.com", "*.example.org", "**.example.net", "127.0.0.1", "[::1]"]'],
      // From source whatever CNP_BINARY says: the preload needs the source run.
      wrap: (argv) => [process.execPath, "--preload", PRELOAD, MAIN, ...argv.slice(argv[1] === MAIN ? 2 : 1)],
    });
    // Written before the ready file, so it is on its way through the pipe already.
    await until(() => p.stderr.includes("REGEXPS-BEFORE-READY "), "the preload's report (is the ready file still made with JSON.stringify?)");
    const line = p.stderr.split("\n").find((l) => l.startsWith("REGEXPS-BEFORE-READY "))!;
    const ran = JSON.parse(line.slice("REGEXPS-BEFORE-READY ".length)) as [string, string][];
    expect(ran.map(([re, where]) => `${re} at ${where}`)).toEqual([]);
    // Of the packages, only the TOML parser (the -c values): ipaddr.js waits for a spelling our
    // readers do not take, the X.509 and crypto packages for MITM.
    await until(() => p.stderr.includes("PACKAGES-BEFORE-READY "), "the preload's package report");
    const packages = p.stderr.split("\n").find((l) => l.startsWith("PACKAGES-BEFORE-READY "))!;
    expect(JSON.parse(packages.slice("PACKAGES-BEFORE-READY ".length))).toEqual(["smol-toml"]);
  });
});
