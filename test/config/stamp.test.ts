/**
 * File stamps (config/stamp.ts): what tells the watch, when it begins, whether the config file
 * is still the one that was read.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileStamp, unchanged } from "../../src/config/stamp.ts";

describe("file stamps", () => {
  test("a file written just now is racy and never taken as unchanged; once its time is past, it is", () => {
    const dir = mkdtempSync(join(tmpdir(), "cnp-stamp-"));
    try {
      const path = join(dir, "config.toml");
      writeFileSync(path, "a = 1\n");
      const fresh = fileStamp(path);
      expect(fresh).toEndWith(":racy");
      expect(unchanged(fresh, fileStamp(path))).toBe(false);
      const past = new Date(Date.now() - 60_000);
      utimesSync(path, past, past);
      const settled = fileStamp(path);
      expect(settled).not.toEndWith(":racy");
      expect(unchanged(settled, fileStamp(path))).toBe(true);
      // Any field that moves is a change: size, times, and a file replaced (its inode).
      writeFileSync(path, "a = 12\n");
      utimesSync(path, past, past);
      expect(unchanged(settled, fileStamp(path))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("no file is a null stamp, unchanged only while there still is none", () => {
    const missing = join(tmpdir(), "cnp-stamp-none", "config.toml");
    expect(fileStamp(missing)).toBeNull();
    expect(unchanged(null, fileStamp(missing))).toBe(true);
    expect(unchanged(undefined, null)).toBe(true);
    expect(unchanged(null, "1:2:3:4:5")).toBe(false);
    expect(unchanged("1:2:3:4:5", null)).toBe(false);
  });
});
