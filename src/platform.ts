/**
 * What differs between the platforms the proxy is built for (Linux, macOS, Windows), as pure
 * functions of the platform name, so each platform's answer is unit-tested on every machine.
 * Callers pass process.platform.
 */
import { posix, win32 } from "node:path";

export type Platform = NodeJS.Platform;

/** The path rules of a platform (separators, drive letters, what "absolute" means). */
export function pathsOf(platform: Platform): typeof posix {
  return platform === "win32" ? win32 : posix;
}

/**
 * CODEX_HOME, or `~/.codex` (on Windows `%USERPROFILE%\.codex`, `home` being what os.homedir()
 * says). A relative CODEX_HOME is taken from `cwd`.
 */
export function codexHomeFor(platform: Platform, env: Readonly<Record<string, string | undefined>>, home: string, cwd: string): string {
  const p = pathsOf(platform);
  const given = env["CODEX_HOME"];
  return given !== undefined && given.trim() !== "" ? p.resolve(cwd, given) : p.join(home, ".codex");
}

/**
 * How a file holding a secret is kept to its owner:
 * - "mode": POSIX permission bits; created 0600, and a file whose mode lets group or others read
 *   it is refused;
 * - "acl": Windows has no such bits (Node reports 0666 for every writable file), so a new secret
 *   file gets an access list naming only its owner and SYSTEM before anything is written to it,
 *   and the mode of an existing file says nothing (it is not held against the file).
 */
export function secretPrivacy(platform: Platform): "mode" | "acl" {
  return platform === "win32" ? "acl" : "mode";
}

/** Whether a directory can be opened and fsynced (making a rename or link durable); not on Windows. */
export function canFsyncDirectory(platform: Platform): boolean {
  return platform !== "win32";
}

/** The SID in `whoami /user /fo csv /nh` output (`"host\user","S-1-5-21-..."`), or null. */
export function sidFromWhoami(output: string): string | null {
  const m = /"(S-1-[0-9-]+)"\s*$/.exec(output.trim());
  return m ? m[1]! : null;
}

/**
 * The full path of a Windows system tool (whoami.exe, icacls.exe): a bare name would be looked
 * up in the current directory first, where a project being worked on could hold its own.
 */
export function windowsTool(name: "whoami" | "icacls", env: Readonly<Record<string, string | undefined>>): string {
  const root = env["SystemRoot"] ?? env["SYSTEMROOT"] ?? "C:\\Windows";
  return win32.join(root, "System32", `${name}.exe`);
}

/** SYSTEM's well-known SID: services and backup run as it; it can read every file anyway. */
const SYSTEM_SID = "S-1-5-18";

/**
 * The icacls command that leaves `path` readable by `ownerSid` and SYSTEM only: inherited
 * entries removed, every other entry replaced. SIDs (`*S-1-...`) rather than names, so it works
 * whatever the system's language.
 */
export function privateAclCommand(path: string, ownerSid: string, env: Readonly<Record<string, string | undefined>> = {}): string[] {
  if (!/^S-1-[0-9-]+$/.test(ownerSid)) throw new Error(`not a SID: ${JSON.stringify(ownerSid)}`);
  return [windowsTool("icacls", env), path, "/inheritance:r", "/grant:r", `*${ownerSid}:F`, `*${SYSTEM_SID}:F`];
}

/** The command whose output sidFromWhoami reads. */
export function whoamiCommand(env: Readonly<Record<string, string | undefined>> = {}): string[] {
  return [windowsTool("whoami", env), "/user", "/fo", "csv", "/nh"];
}

/**
 * Signals that start a graceful shutdown of `serve`. Windows delivers Ctrl+C as SIGINT,
 * Ctrl+Break as SIGBREAK and a closed console window as SIGHUP (the process is ended a few
 * seconds later, so draining starts at once); SIGTERM cannot be caught there.
 */
export function shutdownSignals(platform: Platform): NodeJS.Signals[] {
  return platform === "win32" ? ["SIGINT", "SIGBREAK", "SIGHUP"] : ["SIGINT", "SIGTERM"];
}

/** A second signal within this time of the first, and the same one, is the first delivered twice. */
export const SAME_SIGNAL_MS = 500;

/**
 * Whether `sig` at `now` (ms) repeats the first shutdown signal rather than asking to skip the
 * drain: a Ctrl+C reaches a process both from the terminal and from a parent that passes signals
 * on (npm's launcher, a supervisor), moments apart. A different signal, or the same one later,
 * is a request to exit at once.
 */
export function isRepeat(first: { sig: NodeJS.Signals; at: number }, sig: NodeJS.Signals, now: number): boolean {
  return sig === first.sig && now - first.at < SAME_SIGNAL_MS;
}

/**
 * Signals `run` passes on to its command. None on Windows: a console's Ctrl+C and Ctrl+Break
 * already reach every process attached to it, and "sending" a signal there only terminates the
 * process.
 */
export function forwardedSignals(platform: Platform): NodeJS.Signals[] {
  return platform === "win32" ? [] : ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
}

/**
 * The longest Unix socket path a connect() accepts, in bytes: sun_path is 104 bytes on macOS
 * and the BSDs and 108 on Linux, including the terminating NUL.
 */
export function unixSocketPathMax(platform: Platform): number {
  return platform === "linux" || platform === "android" ? 107 : 103;
}

/** The line ending a text file already uses, so edits to it keep it (CRLF files from Windows editors stay CRLF). */
export function lineEndingOf(text: string): "\r\n" | "\n" {
  const lf = text.indexOf("\n");
  return lf > 0 && text[lf - 1] === "\r" ? "\r\n" : "\n";
}
