/**
 * A raw TCP client with an independent, minimal HTTP/1.1 response reader, for sending exactly
 * the bytes a test wants (malformed, pipelined, split) and reading exactly what comes back.
 */
import type { Socket } from "bun";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  head: string;
}

export class RawClient implements Disposable {
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  socket!: Socket<undefined>;

  private constructor() {
    this.closedPromise = new Promise((r) => (this.#resolveClosed = r));
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    const c = new RawClient();
    c.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, d) => {
          c.#buf = Buffer.concat([c.#buf, d]);
          c.#wake();
        },
        close: () => {
          c.closed = true;
          c.#resolveClosed();
          c.#wake();
        },
        error: () => {},
      },
    });
    return c;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #more(): Promise<boolean> {
    if (this.closed) return false;
    await new Promise<void>((r) => this.#waiters.push(r));
    return true;
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  get buffered(): Buffer {
    return this.#buf;
  }

  /** Read one response. `head` true for responses to HEAD (no body). */
  async response(opts: { head?: boolean } = {}): Promise<RawResponse> {
    let end: number;
    for (end = this.#buf.indexOf("\r\n\r\n"); end < 0; end = this.#buf.indexOf("\r\n\r\n")) {
      if (!(await this.#more())) throw new Error(`connection closed before a response head; got ${JSON.stringify(this.#buf.toString("latin1"))}`);
    }
    const head = this.#buf.subarray(0, end).toString("latin1");
    this.#buf = this.#buf.subarray(end + 4);
    const [statusLine, ...lines] = head.split("\r\n");
    const status = Number(statusLine!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let body: Buffer;
    const noBody = opts.head || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (noBody) body = Buffer.alloc(0);
    else if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = await this.#chunked();
    else if (headers["content-length"] !== undefined) body = await this.bytes(Number(headers["content-length"]));
    else body = await this.untilClose();
    return { status, headers, body, head };
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.#buf.length < n) if (!(await this.#more())) throw new Error(`closed after ${this.#buf.length} of ${n} bytes`);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async #line(): Promise<string> {
    let i: number;
    for (i = this.#buf.indexOf("\r\n"); i < 0; i = this.#buf.indexOf("\r\n")) if (!(await this.#more())) throw new Error("closed inside a chunk header");
    const l = this.#buf.subarray(0, i).toString("latin1");
    this.#buf = this.#buf.subarray(i + 2);
    return l;
  }

  async #chunked(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const size = parseInt((await this.#line()).split(";")[0]!, 16);
      if (size === 0) {
        while ((await this.#line()) !== "");
        return Buffer.concat(parts);
      }
      parts.push(await this.bytes(size));
      await this.bytes(2);
    }
  }

  async untilClose(): Promise<Buffer> {
    while (await this.#more());
    const out = this.#buf;
    this.#buf = Buffer.alloc(0);
    return out;
  }

  [Symbol.dispose](): void {
    this.socket.terminate();
  }
}

/** Send one request on a fresh connection and read one response. */
export async function rawRequest(port: number, request: string | Uint8Array, opts: { head?: boolean } = {}): Promise<RawResponse> {
  using c = await RawClient.connect(port);
  c.send(request);
  return await c.response(opts);
}

/** Run curl; resolves with its output and exit code. */
export async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "20", ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
