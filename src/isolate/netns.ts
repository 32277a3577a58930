/**
 * Enter a child's network namespace for a moment, on this (the main) thread: setns(2) into it,
 * run `fn` (which opens listening sockets: they stay in that namespace), and come back. The
 * proxy then serves the isolated command directly, on the command's own loopback, with no
 * bridge process in between. Sockets opened after the return are in our namespace again.
 *
 * setns on the network namespace affects only the calling thread; JavaScript runs nothing else
 * between the two calls. The child's user namespace is owned by our user, which gives us the
 * capabilities in it that setns and bringing its loopback up need.
 */
import { FFIType } from "bun:ffi";
import { closeSync, openSync } from "node:fs";
import { openLibc } from "../harden.ts";
import { loopbackUp } from "./loopback.ts";

const CLONE_NEWNET = 0x40000000;

/** Run `fn` inside the network namespace of process `pid`, with its loopback up; always come back. */
export function inNetworkNamespace<T>(pid: number, fn: () => T): T {
  const libc = openLibc({ setns: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } }, "setns");
  const home = openSync("/proc/thread-self/ns/net", "r");
  let theirs = -1;
  try {
    theirs = openSync(`/proc/${pid}/ns/net`, "r");
    if (libc.symbols.setns(theirs, CLONE_NEWNET) !== 0) throw new Error(`setns into the namespace of process ${pid} failed`);
    try {
      loopbackUp();
      return fn();
    } finally {
      if (libc.symbols.setns(home, CLONE_NEWNET) !== 0) {
        // Every later dial would start inside the command's namespace: never carry on like that.
        process.stderr.write("codex-network-proxy: cannot return to its own network namespace; exiting\n");
        process.exit(70);
      }
    }
  } finally {
    if (theirs >= 0) closeSync(theirs);
    closeSync(home);
    libc.close();
  }
}
