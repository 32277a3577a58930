/**
 * Run the CLI as a real subprocess (`bun src/main.ts ...`, or the compiled binary when
 * CNP_BINARY is set), and wait for lines on its stderr.
 */
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const MAIN = join(ROOT, "src/main.ts");

export function cliCommand(args: readonly string[]): string[] {
  const bin = process.env["CNP_BINARY"];
  return bin ? [bin, ...args] : [process.execPath, MAIN, ...args];
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const p = Bun.spawn(cliCommand(args), { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** A long-running process started from a full argv, whose stderr can be awaited line by line. */
export class ArgvProcess implements AsyncDisposable {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stderr = "";
  #waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  readonly #pumped: Promise<void>;

  constructor(argv: readonly string[], env: Record<string, string> = {}) {
    this.proc = Bun.spawn([...argv], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    this.#pumped = this.#pump();
  }

  async #pump(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      this.stderr += dec.decode(chunk, { stream: true });
      this.#check();
    }
    this.#check();
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      const m = this.stderr.match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /** Resolve when stderr matches; reject if the process exits first. */
  waitFor(re: RegExp): Promise<RegExpMatchArray> {
    const { promise, resolve, reject } = Promise.withResolvers<RegExpMatchArray>();
    this.#waiters.push({ re, resolve });
    this.#check();
    this.proc.exited.then(async (code) => {
      await this.#pumped;
      const m = this.stderr.match(re);
      if (m) resolve(m);
      else reject(new Error(`process exited (${code}) before ${re}; stderr:\n${this.stderr}`));
    });
    return promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

/** The CLI (`bun src/main.ts ...` or CNP_BINARY) as an ArgvProcess. */
export class CliProcess extends ArgvProcess {
  constructor(args: readonly string[], env: Record<string, string> = {}) {
    super(cliCommand(args), env);
  }
}
