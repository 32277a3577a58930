/**
 * Crash-safe file creation for secrets: a temp file in the same directory, opened create-new
 * (O_EXCL) with its final mode, written and fsynced, then hard-linked into place (which fails
 * atomically if the target exists, so an existing file is never overwritten), and the
 * directory fsynced. Readers never see a partial file or a transiently permissive mode.
 */
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { canFsyncDirectory, type Platform, privateAclCommand, secretPrivacy, sidFromWhoami, whoamiCommand } from "./platform.ts";

export class FileExistsError extends Error {
  readonly code = "EEXIST";
}

/** Runs a command to completion: how fsutil reaches icacls and whoami on Windows. */
export type CommandRunner = (argv: string[]) => { exitCode: number; stdout: string; stderr: string };

const runCommand: CommandRunner = (argv) => {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

export interface PlatformIo {
  readonly platform?: Platform;
  readonly run?: CommandRunner;
}

export function writeFileCreateNew(path: string, data: string | Uint8Array, mode: number, io: PlatformIo = {}): void {
  const platform = io.platform ?? process.platform;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`);
  const fd = openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
  try {
    try {
      fchmodSync(fd, mode); // the umask may have narrowed it; make it exact
      if (secretPrivacy(platform) === "acl" && (mode & 0o077) === 0) restrictToOwner(tmp, io.run ?? runCommand); // before a byte is written
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new FileExistsError(`refusing to overwrite existing file ${path}`);
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "ENOSYS") throw e;
      // File systems without hard links: check, then rename (a small race, as the original had).
      if (existsSync(path)) throw new FileExistsError(`refusing to overwrite existing file ${path}`);
      renameSync(tmp, path);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never linked
    }
  }
  fsyncDir(dir, platform);
}

/**
 * Replace a file's contents atomically: through symlinks to the file they name (a dotfiles link
 * stays a link), keeping its mode, via a create-new temp file beside it that is renamed over it.
 * A missing file is created with `mode`.
 */
export function replaceFile(path: string, data: string, mode = 0o600): void {
  let target = path;
  let keep = mode;
  if (existsSync(path)) {
    target = realpathSync(path);
    keep = statSync(target).mode & 0o777;
  }
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.tmp.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`);
  const fd = openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, keep);
  try {
    try {
      fchmodSync(fd, keep);
      const bytes = Buffer.from(data);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw e;
  }
  fsyncDir(dir);
}

export function fsyncDir(dir: string, platform: Platform = process.platform): void {
  if (!canFsyncDirectory(platform)) return; // NTFS journals its metadata; a directory cannot be opened for fsync
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p, with `mode` for directories created here. */
export function ensureDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
}

/** `s` quoted for a POSIX shell, for the commands that error messages suggest. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

let ownerSid: string | null = null;

/**
 * Windows: leave `path` readable by this user and SYSTEM only (see privateAclCommand). Throws
 * when that cannot be done: a secret is never written into a file others may read.
 */
function restrictToOwner(path: string, run: CommandRunner): void {
  let sid = ownerSid;
  if (sid === null) {
    const who = run(whoamiCommand(process.env));
    sid = who.exitCode === 0 ? sidFromWhoami(who.stdout) : null;
    if (sid === null)
      throw new Error(`cannot make ${path} private: "whoami /user" did not give this user's SID (${who.stderr.trim() || `exit ${who.exitCode}`})`);
    if (run === runCommand) ownerSid = sid; // the process's own user does not change
  }
  const acl = run(privateAclCommand(path, sid, process.env));
  if (acl.exitCode !== 0) throw new Error(`cannot make ${path} private: icacls failed (${acl.stderr.trim() || `exit ${acl.exitCode}`})`);
}

/**
 * Why a file holding a secret (the admin token, the CA key, a credential) must not be trusted,
 * or null: it is a symbolic link or not a regular file, it belongs to another user (who could
 * have planted it, or can read it), or its mode lets other users read it (POSIX only: see
 * secretPrivacy). `what` names it in the message, which ends with the command that fixes it.
 */
export function secretFileProblem(path: string, st: Stats, what: string, platform: Platform = process.platform): string | null {
  if (st.isSymbolicLink()) return `refusing ${what} ${path}: it is a symbolic link; point the config at the file itself`;
  if (!st.isFile()) return `refusing ${what} ${path}: not a regular file`;
  const uid = secretPrivacy(platform) === "mode" ? process.getuid?.() : undefined;
  if (uid !== undefined && st.uid !== uid) {
    return `refusing ${what} ${path}: it belongs to uid ${st.uid}, not to the proxy's user (uid ${uid}), so another user may have written it or can replace it; if it is yours, fix with: chown ${uid} ${shellQuote(path)} (or remove it to have a new one created where that applies)`;
  }
  if (secretPrivacy(platform) === "mode" && (st.mode & 0o077) !== 0) {
    return `refusing ${what} ${path}: its mode ${(st.mode & 0o777).toString(8).padStart(4, "0")} lets other users read it; fix with: chmod 600 ${shellQuote(path)}`;
  }
  return null;
}
