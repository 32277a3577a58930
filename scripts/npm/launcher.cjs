#!/usr/bin/env node
// codex-network-proxy's npm launcher: finds the binary that npm installed for this platform
// (one of the optional @codex-network-proxy/<platform>-<arch>[-musl] packages) and runs it with
// the same arguments, standard streams and exit status. CODEX_NETWORK_PROXY_BINARY names
// another binary to run instead.
"use strict";
const { spawn } = require("node:child_process");
const { existsSync } = require("node:fs");

const SCOPE = "@codex-network-proxy";
const NAME = "codex-network-proxy";

function isMusl() {
  if (process.platform !== "linux") return false;
  // glibc's version is in the process report; on musl it is absent.
  const report = typeof process.report?.getReport === "function" ? process.report.getReport() : null;
  return !report?.header?.glibcVersionRuntime;
}

function packageName() {
  return `${SCOPE}/${process.platform}-${process.arch}${isMusl() ? "-musl" : ""}`;
}

function binaryPath() {
  const override = process.env.CODEX_NETWORK_PROXY_BINARY;
  if (override) {
    if (!existsSync(override)) fail(`CODEX_NETWORK_PROXY_BINARY names ${override}, which does not exist`);
    return override;
  }
  const pkg = packageName();
  const file = `${pkg}/bin/${NAME}${process.platform === "win32" ? ".exe" : ""}`;
  try {
    return require.resolve(file);
  } catch {
    fail(
      `no binary for ${process.platform}-${process.arch}${isMusl() ? " (musl)" : ""}: the optional package ${pkg} is not installed.\n` +
        "If this platform is supported, reinstall without --no-optional / --omit=optional; otherwise download a binary (see the README's Download section).",
    );
  }
}

function fail(message) {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit" });
child.on("error", (e) => fail(`cannot run ${e.path ?? "the binary"}: ${e.message}`));

// Signals sent to this launcher go on to the binary. Ctrl+C in a terminal already reaches the
// binary (the whole foreground process group gets SIGINT), and a second SIGINT would make it
// skip its graceful shutdown, so SIGINT is passed on only when no terminal is attached.
const forwarded = process.platform === "win32" ? [] : ["SIGTERM", "SIGHUP", "SIGQUIT", "SIGINT"];
const forward = (signal) => {
  if (signal === "SIGINT" && process.stdin.isTTY) return;
  child.kill(signal);
};
for (const s of forwarded) process.on(s, forward);

child.on("exit", (code, signal) => {
  for (const s of forwarded) process.off(s, forward);
  if (signal)
    process.kill(process.pid, signal); // die the same way, so callers see the signal
  else process.exit(code ?? 1);
});
