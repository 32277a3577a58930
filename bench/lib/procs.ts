/**
 * Every process and temp dir the benchmark creates goes through here, so that however the run
 * ends (normal end, thrown error, Ctrl-C, SIGTERM) nothing outlives it.
 *
 * Each child is spawned detached, i.e. as the leader of its own process group: squid, danted
 * and mitmdump fork helpers or children, and killing the group reaches them too without ever
 * signalling anything we did not start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Output kept per process: enough for error messages, bounded so a chatty peer cannot grow us. */
const KEEP_OUTPUT = 64 * 1024;

const live = new Set<{ readonly pid: number }>();
const tempDirs = new Set<string>();

export class Proc {
  readonly sub: Bun.Subprocess<"pipe", "pipe", "pipe">;
  /** Combined stdout and stderr, last KEEP_OUTPUT characters. */
  output = "";
  /** Stdout alone (clients print their JSON result there), last KEEP_OUTPUT characters. */
  stdout = "";
  #waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  readonly #pumped: Promise<unknown>;

  constructor(
    readonly name: string,
    cmd: readonly string[],
    opts: { env?: Record<string, string | undefined>; cwd?: string } = {},
  ) {
    this.sub = Bun.spawn([...cmd], {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    live.add(this);
    this.#pumped = Promise.all([this.#pump(this.sub.stdout, true), this.#pump(this.sub.stderr, false)]);
    void this.sub.exited.then(() => {
      live.delete(this);
      // Helpers forked by the leader (danted's children) can outlive it: take the group down.
      killGroup(this.pid, "SIGKILL");
    });
  }

  get pid(): number {
    return this.sub.pid;
  }

  get running(): boolean {
    return this.sub.exitCode === null && this.sub.signalCode === null;
  }

  async #pump(stream: ReadableStream<Uint8Array>, isStdout: boolean): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      const text = dec.decode(chunk, { stream: true });
      this.output = bounded(this.output + text);
      if (isStdout) this.stdout = bounded(this.stdout + text);
      this.#check();
    }
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      const m = this.output.match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /** Resolves once both output pipes are closed. */
  get drained(): Promise<unknown> {
    return this.#pumped;
  }

  /** Resolve when the output matches; reject on exit or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const { promise, resolve, reject } = Promise.withResolvers<RegExpMatchArray>();
    this.#waiters.push({ re, resolve });
    this.#check();
    const timer = setTimeout(() => reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; output:\n${this.tail()}`)), timeoutMs);
    void this.sub.exited.then(async (code) => {
      await this.#pumped;
      const m = this.output.match(re);
      if (m) resolve(m);
      else reject(new Error(`${this.name} exited (${code}) before ${re}; output:\n${this.tail()}`));
    });
    return promise.finally(() => clearTimeout(timer));
  }

  /** The last lines of output, for error messages. */
  tail(lines = 15): string {
    return this.output.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM the group, SIGKILL it if the leader has not exited after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    killGroup(this.pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(this.pid, "SIGKILL"), graceMs);
    await this.sub.exited;
    clearTimeout(timer);
  }
}

function bounded(s: string): string {
  return s.length > 2 * KEEP_OUTPUT ? s.slice(-KEEP_OUTPUT) : s;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Run a command to completion (version queries, installs, cert generation). */
export async function run(cmd: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const p = new Proc(cmd[0]!, cmd, { env });
  p.sub.stdin.end();
  const code = await p.sub.exited;
  await p.drained;
  return { code, out: p.output };
}

/** Have a process started elsewhere (the proxy harness) killed with the rest if the benchmark is stopped. */
export function adopt(sub: { readonly pid: number; readonly exited: Promise<number> }): void {
  live.add(sub);
  void sub.exited.then(() => live.delete(sub));
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cnp-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Synchronous, so it also works from the `exit` event. */
function cleanupSync(): void {
  for (const p of live) killGroup(p.pid, "SIGKILL");
  live.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Install the exit, signal and crash hooks once, at start-up. */
export function installCleanup(): void {
  process.on("exit", cleanupSync);
  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping every process the benchmark started`);
      cleanupSync();
      process.exit(code);
    });
  }
  process.on("uncaughtException", (e) => {
    console.error(e);
    cleanupSync();
    process.exit(1);
  });
  process.on("unhandledRejection", (e) => {
    console.error(e);
    cleanupSync();
    process.exit(1);
  });
}
