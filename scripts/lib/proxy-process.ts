/**
 * The one way tests, the benchmark and scripts start the proxy as a process: the compiled binary
 * (CNP_BINARY) or `bun src/main.ts`, every listener on port 0 unless told otherwise, and the bound
 * addresses read from the `--ready-file` the proxy writes once it accepts (no log scraping).
 * Its stderr is captured and can be awaited line by line.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const MAIN = join(ROOT, "src", "main.ts");

/** The command that runs the CLI: the compiled binary when CNP_BINARY is set, else bun on the source. */
export function cliCommand(args: readonly string[] = [], binary = process.env["CNP_BINARY"]): string[] {
  return binary ? [binary, ...args] : [process.execPath, MAIN, ...args];
}

export interface Addr {
  readonly host: string;
  readonly port: number;
}

/** What `--ready-file` holds. */
export interface ReadyInfo {
  readonly pid: number;
  readonly version: string;
  readonly http: Addr;
  readonly socks: Addr | null;
  readonly admin: Addr;
}

/** A process whose stderr is captured and can be awaited. */
export class CapturedProcess implements AsyncDisposable {
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

export interface ProxyOptions {
  /** `-c` overrides (without the "-c"); the listeners default to 127.0.0.1:0. */
  readonly config?: readonly string[];
  /** More CLI arguments (e.g. --log-level). */
  readonly args?: readonly string[];
  /** CODEX_HOME and other environment; a fresh CODEX_HOME when the key is absent (undefined: unset). */
  readonly env?: Record<string, string>;
  /** Put something in front of the command (a namespace, setpriv). */
  readonly wrap?: (argv: string[]) => string[];
  /** The binary to run instead of CNP_BINARY / the source. */
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
}

const EPHEMERAL = ['network_proxy.proxy_url="127.0.0.1:0"', 'network_proxy.socks_url="127.0.0.1:0"', 'network_proxy.admin_url="127.0.0.1:0"'];

/** A running proxy process and its bound addresses. */
export class ProxyProcess extends CapturedProcess {
  ready!: ReadyInfo;
  readonly home: string;

  /** The home was made here (no CODEX_HOME given), so it goes when the process is disposed of. */
  readonly #ownHome: boolean;

  private constructor(argv: readonly string[], env: Record<string, string>, home: string, ownHome: boolean) {
    super(argv, env);
    this.home = home;
    this.#ownHome = ownHome;
  }

  override async [Symbol.asyncDispose](): Promise<void> {
    await super[Symbol.asyncDispose]();
    if (this.#ownHome) rmSync(this.home, { recursive: true, force: true });
  }

  static async start(o: ProxyOptions = {}): Promise<ProxyProcess> {
    const dir = mkdtempSync(join(tmpdir(), "cnp-ready-"));
    const readyFile = join(dir, "ready.json");
    const given = o.env !== undefined && "CODEX_HOME" in o.env;
    const home = given ? (o.env!["CODEX_HOME"] ?? "") : mkdtempSync(join(tmpdir(), "cnp-home-"));
    const args = [...[...EPHEMERAL, ...(o.config ?? [])].flatMap((c) => ["-c", c]), ...(o.args ?? []), "--ready-file", readyFile];
    const argv = cliCommand(args, o.binary ?? process.env["CNP_BINARY"]);
    // Watch before starting: the file appears (renamed into place) once every listener accepts.
    const { promise: written, resolve } = Promise.withResolvers<void>();
    const watcher = watch(dir, () => existsSync(readyFile) && resolve());
    const p = new ProxyProcess(o.wrap ? o.wrap(argv) : argv, given ? o.env! : { ...o.env, CODEX_HOME: home }, home, !given);
    const ms = o.readyTimeoutMs ?? 30_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const outcome = await Promise.race([
        written.then(() => "ready" as const),
        p.proc.exited.then(() => "exited" as const),
        new Promise<"late">((r) => (timer = setTimeout(() => r("late"), ms))),
      ]);
      if (outcome !== "ready" && !existsSync(readyFile)) {
        await p[Symbol.asyncDispose]();
        const why = outcome === "exited" ? `exited (${p.proc.exitCode}) before it was ready` : `was not ready within ${ms} ms`;
        throw new Error(`the proxy ${why}; stderr:\n${p.stderr}`);
      }
      p.ready = JSON.parse(readFileSync(readyFile, "utf8")) as ReadyInfo;
      return p;
    } finally {
      clearTimeout(timer);
      watcher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  get http(): number {
    return this.ready.http.port;
  }
  get socks(): number {
    if (!this.ready.socks) throw new Error("SOCKS5 is off");
    return this.ready.socks.port;
  }
  get admin(): number {
    return this.ready.admin.port;
  }
  get adminUrl(): string {
    return `http://127.0.0.1:${this.admin}`;
  }

  /** Send a signal and wait for the exit status. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    return await this.proc.exited;
  }
}
