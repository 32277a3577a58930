/**
 * A file's identity at one moment (device, inode, size, modification and change times), to
 * tell later whether the file is still the one that was read. The config loader takes it just
 * before reading: a change after the read then shows as a different stamp, and a change
 * between the stat and the read costs at most one reload that finds nothing new.
 */
import { statSync } from "node:fs";

/** The stamp of the file at `path`, or null when it cannot be stat'ed (missing, unreadable). */
export function fileStamp(path: string): string | null {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return null;
  }
}
