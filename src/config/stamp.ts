/**
 * A file's identity at one moment (device, inode, size, modification and change times), to
 * tell later whether the file is still the one that was read. The config loader takes it just
 * before reading: a change after the read then shows as a different stamp, and a change
 * between the stat and the read costs at most one reload that finds nothing new.
 *
 * A file modified just before the stat is "racy": file-system clocks tick in steps (a few
 * milliseconds on older Linux kernels, two seconds on FAT), so an edit of the same size in the
 * same step could leave every field as it was. Such a stamp is never taken as unchanged.
 */
import { statSync } from "node:fs";

/** How recent a modification makes a stamp racy (the coarsest common clock step, FAT's). */
const RACY_MS = 2000;

/** The stamp of the file at `path`, or null when it cannot be stat'ed (missing, unreadable). */
export function fileStamp(path: string): string | null {
  try {
    const s = statSync(path, { bigint: true });
    const id = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    return Date.now() - Number(s.mtimeMs) < RACY_MS ? `${id}:racy` : id;
  } catch {
    return null;
  }
}

/** Whether a file stamped `then` surely still is the file stamped `now` (null: no file). */
export function unchanged(then: string | null | undefined, now: string | null): boolean {
  return !then?.endsWith(":racy") && (then ?? null) === now;
}
