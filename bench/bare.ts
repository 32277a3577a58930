/**
 * The least a proxy's process on this Bun does before it serves anything, as the reference for
 * the start-up and idle-memory rows (the bun-relay column there): compiled the way ours is
 * (bun build --compile, minified, bytecode), it reads $CODEX_HOME/config.toml through node:fs
 * when there is one (as any proxy with a config file must), opens the same three listeners on
 * 127.0.0.1:0 (two Bun.listen, one Bun.serve for the admin API) and writes the same ready file
 * (renamed into place once all of them accept). It parses, decides and logs nothing.
 *
 * With --runtime-work it also makes the runtime calls that ours makes before it is ready and the
 * plain program does not, each the way ours makes it, and nothing of ours besides: it parses
 * each -c value as TOML (smol-toml), makes itself undumpable through bun:ffi (prctl), creates
 * $CODEX_HOME/network_proxy/admin.token from 32 random bytes (create-new, 0600, fsync) and
 * watches $CODEX_HOME once the listeners accept. Its idle RSS is the floor under ours on this
 * Bun: what the runtime holds for that work before a line of the proxy's own code runs.
 *
 *   bare [--runtime-work] [-c KEY=VALUE]... --ready-file PATH
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, watch, writeSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv;
const at = args.indexOf("--ready-file");
if (at < 0 || at + 1 >= args.length) throw new Error("usage: bare [--runtime-work] [-c KEY=VALUE]... --ready-file PATH");
const readyFile = args[at + 1]!;
const runtimeWork = args.includes("--runtime-work");
const home = process.env["CODEX_HOME"];
let configBytes = 0;
if (home) {
  try {
    configBytes = readFileSync(join(home, "config.toml")).length;
  } catch {
    // No config file: ours runs on its defaults and the overrides then.
  }
}
if (runtimeWork) {
  // Imported here, each a chunk of its own: the plain program never loads them.
  const { parse } = await import("smol-toml");
  for (let i = 1; i < args.length - 1; i++) {
    if (args[i] !== "-c") continue;
    const value = args[i + 1]!.slice(args[i + 1]!.indexOf("=") + 1);
    configBytes += Object.keys(parse(`value = ${value}`)).length;
  }
  const { dlopen, FFIType } = await import("bun:ffi");
  const libc = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
  if (libc.symbols.prctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0) !== 0) throw new Error("prctl(PR_SET_DUMPABLE, 0) failed");
  libc.close();
  if (home) {
    mkdirSync(join(home, "network_proxy"), { recursive: true, mode: 0o700 });
    const fd = openSync(join(home, "network_proxy", "admin.token"), "wx", 0o600);
    writeSync(fd, `${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}\n`);
    fsyncSync(fd);
    closeSync(fd);
  }
}
const socket = { data() {}, open() {} };
const http = Bun.listen({ hostname: "127.0.0.1", port: 0, socket });
const socks = Bun.listen({ hostname: "127.0.0.1", port: 0, socket });
const admin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
if (runtimeWork && home) watch(home, { persistent: false }, () => {});
const tmp = `${readyFile}.tmp`;
writeFileSync(
  tmp,
  JSON.stringify({
    pid: process.pid,
    version: "bare",
    configBytes,
    http: { host: "127.0.0.1", port: http.port },
    socks: { host: "127.0.0.1", port: socks.port },
    admin: { host: "127.0.0.1", port: admin.port },
  }),
);
renameSync(tmp, readyFile);
const stop = (): never => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
