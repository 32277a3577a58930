/**
 * bench/bare.ts plus the runtime work ours does before it is ready and the bare program does
 * not, each the way ours does it, and nothing of ours besides: the floor under our idle RSS on
 * this Bun (the row under idle RSS). Compiled the same way, as its own program, so that the
 * bare reference is unchanged.
 *
 * - each -c value parsed as TOML with smol-toml (ours parses its overrides so);
 * - prctl(PR_SET_DUMPABLE, 0) through bun:ffi (ours' hardening);
 * - $CODEX_HOME/network_proxy/admin.token created from 32 random bytes: create-new, 0600, fsync;
 * - $CODEX_HOME watched (ours watches its config file's directory).
 *
 * The imports are static, as ours' are. bare.ts, imported first, opens the listeners and writes
 * the ready file; the work runs right after, in the same turn, so it is done long before the
 * benchmark reads the idle memory (a second after the ready file).
 *
 *   bare-work [-c KEY=VALUE]... --ready-file PATH
 */
import "./bare.ts";
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, fsyncSync, mkdirSync, openSync, watch, writeSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";

const args = process.argv;
let parsed = 0;
for (let i = 1; i < args.length - 1; i++) {
  if (args[i] !== "-c") continue;
  const value = args[i + 1]!.slice(args[i + 1]!.indexOf("=") + 1);
  parsed += Object.keys(parse(`value = ${value}`)).length;
}
const libc = dlopen("libc.so.6", { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
if (libc.symbols.prctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0) !== 0) throw new Error("prctl(PR_SET_DUMPABLE, 0) failed");
libc.close();
const home = process.env["CODEX_HOME"];
if (!home) throw new Error("bare-work needs CODEX_HOME");
mkdirSync(join(home, "network_proxy"), { recursive: true, mode: 0o700 });
const fd = openSync(join(home, "network_proxy", "admin.token"), "wx", 0o600);
writeSync(fd, `${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}\n`);
fsyncSync(fd);
closeSync(fd);
watch(home, { persistent: false }, () => {});
// For the test that holds this program to its work: done, and how many -c values were parsed.
writeSync(2, `bare-work done ${JSON.stringify({ parsed })}\n`);
