/**
 * Watch the config file and reload on change, debounced. The directory is watched rather than
 * the file, because editors replace files (write a temp file, rename it over the old one),
 * which ends a watch on the file itself.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "../log.ts";

export function watchConfig(path: string, onChange: () => void, log: Logger, debounceMs = 150): { close(): void } {
  const dir = dirname(path);
  const name = basename(path);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
  } catch (e) {
    log.warn("not watching the config file for changes", { path, error: (e as Error).message });
    return { close() {} };
  }
  watcher.on("error", (e) => log.warn("config watch failed", { path, error: e.message }));
  log.debug("watching the config file", { path });
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
