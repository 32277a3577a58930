/**
 * The work of a reload done in a process of its own: the config under `home` read, parsed,
 * validated and compiled again and again for `seconds` (the proxy's loader, run synchronously:
 * this process forwards nothing, so it has no event loop to keep free). Run beside the proxy
 * while wrk forwards through it, it shows what that CPU costs the forwarding p99 on this machine
 * when nothing of it happens inside the proxy.
 */
import { loadConfig } from "../../src/config/load.ts";

export interface ReloadWorkArgs {
  home: string;
  seconds: number;
}

export function reloadWork(a: ReloadWorkArgs): { loads: number } {
  const env = { CODEX_HOME: a.home };
  const end = performance.now() + a.seconds * 1000;
  let loads = 0;
  while (performance.now() < end) {
    const r = loadConfig({ env });
    if (!r.ok) throw new Error(`the config did not load: ${r.problems[0]}`);
    loads++;
  }
  return { loads };
}
