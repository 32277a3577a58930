/**
 * A process that does nothing but keep one core busy until `until` (epoch ms), started by the
 * reload row at the lowest CPU priority Linux has (SCHED_IDLE, through chrt): the scheduler runs it only
 * when nothing else on that core wants to run. Beside wrk forwarding through the proxy, it
 * shows what the mere presence of a busy neighbour costs the forwarding p99 on this machine,
 * the least any CPU work done meanwhile (a reload among it) can cost.
 */
import { readFileSync } from "node:fs";

export interface SpinArgs {
  /** Date.now() at which to stop: a deadline set by the caller, whenever this process starts. */
  until: number;
}

/** `policy`: the scheduling policy this process ran under, from /proc (5 is SCHED_IDLE). */
export function spin(a: SpinArgs): { policy: number; rounds: number } {
  // Field 41 of /proc/self/stat; the command name (field 2) is in parentheses and may hold spaces.
  const stat = readFileSync("/proc/self/stat", "utf8");
  const policy = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
  let rounds = 0;
  let x = 0;
  while (Date.now() < a.until) {
    for (let i = 0; i < 100_000; i++) x = (x * 31 + i) | 0;
    rounds++;
  }
  return { policy, rounds: rounds + (x & 0) };
}
