#!/usr/bin/env node
// codex-network-proxy's npm launcher: finds the binary that npm installed for this platform
// (one of the optional @codex-network-proxy/<platform>-<arch>[-musl] packages) and runs it with
// the same arguments, standard streams and exit status. CODEX_NETWORK_PROXY_BINARY names
// another binary to run instead.
"use strict";
const { spawn } = require("node:child_process");
const { existsSync } = require("node:fs");
const os = require("node:os");

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

// Signals sent to this launcher go on to the binary, every one the binary acts on or that would
// otherwise make Node act by itself (SIGUSR1 would open Node's debugger). A Ctrl+C in a terminal
// reaches the binary twice (from the terminal and from here); the binary counts a repeat of the
// same signal within half a second as one. On Windows there are no signals to send: the console
// delivers Ctrl+C and Ctrl+Break to every attached process, so the launcher only has to stay
// alive until the binary has finished.
const forwarded = process.platform === "win32" ? [] : ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const forward = (signal) => child.kill(signal);
const FATAL = new Set(["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR2", "SIGKILL", "SIGABRT", "SIGSEGV", "SIGBUS", "SIGALRM"]);
for (const s of forwarded) process.on(s, forward);
const ignore = () => {};
if (process.platform === "win32") for (const s of ["SIGINT", "SIGBREAK"]) process.on(s, ignore);

child.on("exit", (code, signal) => {
  if (signal) {
    // Die the same way, so callers see the signal, where Node dies of it by default; otherwise
    // (SIGUSR1 would start its debugger, SIGPIPE is ignored) exit as a shell reports it.
    if (FATAL.has(signal)) {
      for (const s of forwarded) process.off(s, forward);
      process.kill(process.pid, signal);
    }
    process.exit(128 + (os.constants.signals[signal] ?? 0));
  }
  process.exit(code ?? 1);
});
