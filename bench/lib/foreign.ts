/**
 * How much CPU processes that are not ours used while the benchmark ran. On a shared 2-core
 * machine another user's test suite can halve a column; the report states this figure so a
 * reader can tell a quiet run from a noisy one.
 *
 * The machine's user + nice + system time (/proc/stat) minus our own tree's: this process and
 * its live descendants (utime + stime + cutime + cstime from /proc/PID/stat; reaped children
 * are in cutime/cstime). Interrupt time is left out of both sides, since the kernel may or may
 * not charge loopback packet processing to the process that sent the packet.
 */
import { readFileSync } from "node:fs";

/** Ticks per second of /proc times (sysconf(_SC_CLK_TCK)); 100 on every Linux Bun runs on. */
const CLK_TCK = 100;

function machineTicks(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  return Number(f[1]) + Number(f[2]) + Number(f[3]); // "cpu" user nice system ...
}

/** Our process and its descendants' CPU ticks, own and reaped children's. */
function ourTicks(): number {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the ")" that closes the command name: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // The process exited while we looked.
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of mine) ticks += procs.get(pid)?.ticks ?? 0;
  return ticks;
}

export class ForeignCpu {
  readonly #machine = machineTicks();
  readonly #ours = ourTicks();
  readonly #t0 = performance.now();

  /** CPU seconds used by others since construction, and their share of all cores over that time. */
  measure(): { seconds: number; share: number } {
    const ticks = machineTicks() - this.#machine - (ourTicks() - this.#ours);
    const seconds = Math.max(0, ticks) / CLK_TCK;
    const wall = (performance.now() - this.#t0) / 1000;
    return { seconds, share: seconds / (wall * navigator.hardwareConcurrency) };
  }
}
