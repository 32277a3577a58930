/**
 * Keep other processes of the same user out of the proxy's memory. The proxy holds secrets (the
 * admin token, proxy passwords, injected credentials) and, under `run`, the very program it
 * polices runs as the same user: without this, that program could read them from
 * /proc/<pid>/mem or attach a debugger.
 *
 * - Linux: prctl(PR_SET_DUMPABLE, 0). /proc/<pid>/{mem,environ,maps} and ptrace then need
 *   CAP_SYS_PTRACE, and no core dump is written. Children get the flag reset by execve.
 * - macOS: ptrace(PT_DENY_ATTACH): no debugger can attach to the process.
 * - Elsewhere (Windows): no equivalent is applied; `protection` says so.
 */
import { dlopen, type FFIFunction, FFIType, type Library } from "bun:ffi";
import type { Logger } from "./log.ts";

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const PT_DENY_ATTACH = 31;

export interface Hardening {
  /** What was applied, or why nothing was. */
  readonly protection: string;
  readonly ok: boolean;
  /** This platform has such a protection (Linux, macOS): when it is not `ok`, something failed. */
  readonly expected: boolean;
}

/**
 * Where libc may be, for bun:ffi: glibc by its soname (the loader's own search, which never
 * looks in the working directory), then musl by its absolute path. Never a bare name ending in
 * ".so": bun:ffi takes such a name for a file in the working directory, so a `libc.so` planted
 * where the proxy is started (an agent's workspace) would be loaded into it.
 */
function libcCandidates(): string[] {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  return ["libc.so.6", `/lib/ld-musl-${arch}.so.1`];
}

/**
 * The first of libcCandidates that bun:ffi opens with `symbols`. When none does, the error names
 * what each candidate gave: the last alone can hide the cause (with JSC's JIT off, bun:ffi
 * refuses glibc first, and only musl's missing file would be reported).
 */
export function openLibc<Fns extends Record<string, FFIFunction>>(symbols: Fns, purpose: string): Library<Fns> {
  const failures: string[] = [];
  for (const name of libcCandidates()) {
    try {
      return dlopen(name, symbols);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`cannot load libc for ${purpose} (${failures.join("; ")})`);
}

const PRCTL = { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } } satisfies Record<
  string,
  FFIFunction
>;

function linux(): Hardening {
  let lib: Library<typeof PRCTL>;
  try {
    lib = openLibc(PRCTL, "prctl");
  } catch (e) {
    return { ok: false, expected: true, protection: (e as Error).message };
  }
  try {
    if (lib.symbols.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) return { ok: false, expected: true, protection: "prctl(PR_SET_DUMPABLE, 0) failed" };
    const now = lib.symbols.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return now === 0
      ? { ok: true, expected: true, protection: "not dumpable (prctl PR_SET_DUMPABLE 0)" }
      : { ok: false, expected: true, protection: `still dumpable (${now})` };
  } finally {
    lib.close();
  }
}

function darwin(): Hardening {
  try {
    const lib = dlopen("/usr/lib/libSystem.B.dylib", { ptrace: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 } });
    try {
      const r = lib.symbols.ptrace(PT_DENY_ATTACH, 0, null, 0);
      return r === 0
        ? { ok: true, expected: true, protection: "debuggers denied (ptrace PT_DENY_ATTACH)" }
        : { ok: false, expected: true, protection: "ptrace(PT_DENY_ATTACH) failed" };
    } finally {
      lib.close();
    }
  } catch (e) {
    return { ok: false, expected: true, protection: `cannot call ptrace: ${(e as Error).message}` };
  }
}

/**
 * Apply what this platform offers and log the result (a warning naming `exposedTo` when nothing
 * could be applied). Never throws.
 */
export function hardenProcess(log: Logger, exposedTo: string): Hardening {
  const h = protect();
  if (h.ok) log.debug("process hardened", { protection: h.protection });
  else log.warn(`the proxy's memory is not protected from ${exposedTo}`, { why: h.protection });
  return h;
}

function protect(): Hardening {
  switch (process.platform) {
    case "linux":
      return linux();
    case "darwin":
      return darwin();
    default:
      return {
        ok: false,
        expected: false,
        protection: `no memory protection on ${process.platform}: other processes of this user can read the proxy's memory`,
      };
  }
}
