/** The uid/gid of a system user (e.g. squid's "proxy"), from /etc/passwd; null when there is none. */
import { readFileSync } from "node:fs";

export function systemUser(name: string): { uid: number; gid: number } | null {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
