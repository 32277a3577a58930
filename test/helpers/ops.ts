/**
 * Helpers for the operational tests (shutdown grace, logging, metrics): an origin that holds
 * its responses until the test releases them, a Prometheus text parser, a minimal SOCKS5
 * client, a free-port finder, and a CLI run with an exact environment.
 */
import type { Server } from "bun";
import { cliCommand, type CliRun } from "./cli.ts";
import { RawClient } from "./raw.ts";

/**
 * An HTTP origin whose every response waits until `release()`; `arrived(n)` resolves once n
 * requests have reached it, and `aborted(n)` once n of them were cut off by their client.
 */
export class HeldOrigin implements Disposable {
  readonly server: Server<undefined>;
  requests = 0;
  aborts = 0;
  readonly #gate = Promise.withResolvers<void>();
  #waiters: Array<() => void> = [];

  constructor(readonly body = "held-response-body") {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch: async (req) => {
        this.requests++;
        req.signal.addEventListener("abort", () => {
          this.aborts++;
          this.#wake();
        });
        this.#wake();
        await this.#gate.promise;
        return new Response(this.body);
      },
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #until(cond: () => boolean): Promise<void> {
    while (!cond()) await new Promise<void>((r) => this.#waiters.push(r));
  }

  arrived(n = 1): Promise<void> {
    return this.#until(() => this.requests >= n);
  }
  aborted(n = 1): Promise<void> {
    return this.#until(() => this.aborts >= n);
  }
  release(): void {
    this.#gate.resolve();
  }
  get port(): number {
    return this.server.port!;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  [Symbol.dispose](): void {
    this.#gate.resolve();
    this.server.stop(true);
  }
}

/** Prometheus text format 0.0.4 samples, keyed `name` or `name{a="x",b="y"}` (labels sorted). */
export type Samples = Map<string, number>;

export function parsePrometheus(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
    let pos = 0;
    while (pos < body.length) {
      re.lastIndex = pos;
      const l = re.exec(body);
      if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      pos = re.lastIndex;
    }
    const key = seriesKey(m[1]!, labels);
    if (out.has(key)) throw new Error(`duplicate series ${key}`);
    out.set(key, Number(m[3]));
  }
  return out;
}

export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const ks = Object.keys(labels).sort();
  return ks.length === 0 ? name : `${name}{${ks.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(",")}}`;
}

/** A sample's value; a series that was never touched counts as 0. */
export function sample(s: Samples, name: string, labels: Record<string, string> = {}): number {
  return s.get(seriesKey(name, labels)) ?? 0;
}

/**
 * A SOCKS5 CONNECT (no auth, or RFC 1929 username/password): `host` is sent as an IPv4
 * literal when it is one, else as a name. Returns the method choice, the auth status (if any),
 * the request reply (null when the proxy closed before sending one) and the open client.
 */
export async function socks5Connect(
  port: number,
  host: string,
  targetPort: number,
  auth?: { user: string; pass: string },
): Promise<{ method: number; authStatus: number | null; reply: number | null; client: RawClient }> {
  const enc = new TextEncoder();
  const c = await RawClient.connect(port);
  c.send(Uint8Array.of(5, 1, auth ? 2 : 0));
  const method = (await c.bytes(2))[1]!;
  let authStatus: number | null = null;
  if (auth) {
    c.send(Uint8Array.from([1, auth.user.length, ...enc.encode(auth.user), auth.pass.length, ...enc.encode(auth.pass)]));
    authStatus = (await c.bytes(2))[1]!;
    if (authStatus !== 0) return { method, authStatus, reply: null, client: c };
  }
  const addr = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? [1, ...host.split(".").map(Number)] : [3, host.length, ...enc.encode(host)];
  c.send(Uint8Array.from([5, 1, 0, ...addr, targetPort >> 8, targetPort & 255]));
  let reply: number | null = null;
  try {
    reply = (await c.bytes(10))[1]!;
  } catch {
    reply = null;
  }
  return { method, authStatus, reply, client: c };
}

/** A loopback port that was free a moment ago (for a CLI whose log level hides the bound port). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Run the CLI with exactly `env` (nothing inherited), e.g. to leave CODEX_HOME unset. */
export async function runCliExactEnv(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  const p = Bun.spawn(cliCommand(args), { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
