import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../src/cli.ts";

describe("parseArgs", () => {
  test("no arguments runs the proxy with defaults", () => {
    expect(parseArgs([])).toEqual({
      kind: "ok",
      options: {
        command: "serve",
        configPath: undefined,
        overrides: [],
        logFormat: "text",
        logLevel: "info",
        logLevelSet: false,
        format: "toml",
        shell: "sh",
        noDns: false,
        isolate: false,
        readyFile: undefined,
        args: [],
      },
    });
  });
  test("options in every spelling", () => {
    const r = parseArgs([
      "check",
      "--config",
      "/x.toml",
      "-c",
      "a.b=1",
      "-ca.c=2",
      "--config-override=a.d=3",
      "--log-format=json",
      "--log-level",
      "debug",
      "--format",
      "json",
    ]);
    expect(r).toMatchObject({
      kind: "ok",
      options: { command: "check", configPath: "/x.toml", overrides: ["a.b=1", "a.c=2", "a.d=3"], logFormat: "json", logLevel: "debug", format: "json" },
    });
  });
  test("help and version", () => {
    expect(parseArgs(["--help"])).toEqual({ kind: "help", command: null });
    expect(parseArgs(["init", "-h"])).toEqual({ kind: "help", command: "init" });
    expect(parseArgs(["-V"])).toEqual({ kind: "version" });
  });
  test("explain and run take arguments", () => {
    expect(parseArgs(["explain", "--no-dns", "http://a.com/", "b.com:443"])).toMatchObject({
      options: { command: "explain", noDns: true, args: ["http://a.com/", "b.com:443"] },
    });
    expect(parseArgs(["run", "-c", "x=1", "--", "curl", "-c", "--config"])).toMatchObject({
      options: { command: "run", overrides: ["x=1"], args: ["curl", "-c", "--config"] },
    });
  });
  test.each([
    [["frobnicate"], "unknown command"],
    [["--nope"], "unknown option"],
    [["--config"], "--config needs a value"],
    [["--log-level", "loud"], "--log-level must be one of"],
    [["--format", "json"], "--format is an option of check"],
    [["check", "--format", "yaml"], "--format must be toml or json"],
    [["explain"], "explain needs at least one TARGET"],
    [["run"], "run needs a command after --"],
    [["check", "extra"], "unexpected argument"],
  ])("%j is a usage error", (argv, message) => {
    const r = parseArgs(argv);
    expect(r.kind).toBe("usage");
    expect(r.kind === "usage" && r.message).toContain(message);
  });
});
