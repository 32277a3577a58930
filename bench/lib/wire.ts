/**
 * Client side of every benchmark connection: reach a loopback target directly, through an HTTP
 * CONNECT proxy, or through a SOCKS5 proxy, then read heads and bodies off the stream.
 *
 * node:net/node:tls (rather than Bun.connect) because the MITM client has to start TLS on a
 * socket that already carried the CONNECT exchange; using one socket stack for every client
 * keeps the columns comparable.
 */
import net from "node:net";
import tls from "node:tls";
import { HOST } from "./net.ts";

/** How a client reaches its target: serializable, it is passed to client processes as JSON. */
/** How a client reaches the origin; `host` names it in the CONNECT (default HOST). */
export type Via = { kind: "direct" } | { kind: "http"; port: number; host?: string } | { kind: "socks5"; port: number };

type Duplex = net.Socket | tls.TLSSocket;

/** A socket with a read buffer: await a head or N bytes, or stream everything to a sink. */
export class Wire {
  #buf: Buffer = Buffer.alloc(0);
  #wake: (() => void) | null = null;
  #sink: ((b: Buffer) => void) | null = null;
  #error: Error | null = null;
  #ended = false;

  constructor(readonly sock: Duplex) {
    sock.on("data", this.#onData);
    sock.on("error", this.#onError);
    sock.on("end", this.#onEnd);
    sock.on("close", this.#onEnd);
  }

  static connect(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: HOST, port, noDelay: true });
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new Wire(s));
      });
      s.once("error", reject);
    });
  }

  readonly #onData = (d: Buffer): void => {
    if (this.#sink) this.#sink(d);
    else this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    this.#notify();
  };
  readonly #onError = (e: Error): void => {
    this.#error ??= e;
    this.#notify();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #until<T>(ready: () => T | null, what: string): Promise<T> {
    for (;;) {
      const r = ready();
      if (r !== null) return r;
      if (this.#error) throw this.#error;
      if (this.#ended) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  write(data: string | Uint8Array): void {
    this.sock.write(data);
  }

  /** Exactly `n` bytes. */
  readExact(n: number): Promise<Buffer> {
    return this.#until(() => {
      if (this.#buf.length < n) return null;
      const out = this.#buf.subarray(0, n);
      this.#buf = this.#buf.subarray(n);
      return out;
    }, `${n} bytes`);
  }

  /** Wait for the peer's FIN (nothing else may arrive first). */
  async readEnd(): Promise<void> {
    for (;;) {
      if (this.#buf.length > 0) throw new Error(`${this.#buf.length} unexpected bytes before the end of the stream`);
      if (this.#error) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** An HTTP response head (through the blank line): status, lowercase headers. */
  readHead(): Promise<{ status: number; headers: Map<string, string> }> {
    return this.#until(() => {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end < 0) return null;
      const lines = this.#buf.subarray(0, end).toString("latin1").split("\r\n");
      this.#buf = this.#buf.subarray(end + 4);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? NaN);
      if (!Number.isInteger(status)) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const c = l.indexOf(":");
        if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
      }
      return { status, headers };
    }, "a response head");
  }

  /** A whole response with a Content-Length body (what every origin here sends). */
  async readResponse(): Promise<{ status: number; headers: Map<string, string>; body: Buffer }> {
    const head = await this.readHead();
    const len = head.headers.get("content-length");
    if (len === undefined)
      throw new Error(`response ${head.status} without Content-Length (transfer-encoding: ${head.headers.get("transfer-encoding") ?? "none"})`);
    return { ...head, body: await this.readExact(Number(len)) };
  }

  /** Hand the next `total` bytes to `sink` as they arrive (no buffering); resolve when all came. */
  async stream(total: number, sink: (b: Buffer) => void): Promise<void> {
    let got = 0;
    const feed = (b: Buffer): void => {
      const take = Math.min(b.length, total - got);
      sink(take === b.length ? b : b.subarray(0, take));
      got += take;
    };
    if (this.#buf.length > 0) {
      feed(this.#buf);
      this.#buf = Buffer.alloc(0);
    }
    this.#sink = feed;
    try {
      await this.#until(() => (got >= total ? true : null), `${total} body bytes (got ${got})`);
    } finally {
      this.#sink = null;
    }
  }

  /** Give the socket up (to layer TLS on it); nothing may be buffered. */
  release(): net.Socket {
    if (this.#buf.length > 0) throw new Error(`${this.#buf.length} unexpected bytes before TLS`);
    this.sock.off("data", this.#onData);
    this.sock.off("error", this.#onError);
    this.sock.off("end", this.#onEnd);
    this.sock.off("close", this.#onEnd);
    return this.sock as net.Socket;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A byte stream to 127.0.0.1:`port`, opened as `via` says. */
export async function openTunnel(via: Via, port: number): Promise<Wire> {
  if (via.kind === "direct") return Wire.connect(port);
  const w = await Wire.connect(via.port);
  try {
    if (via.kind === "http") {
      const host = via.host ?? HOST;
      w.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
      const { status, headers } = await w.readHead();
      if (status !== 200)
        throw new Error(`CONNECT answered ${status}${headers.has("x-proxy-error") ? ` (x-proxy-error: ${headers.get("x-proxy-error")})` : ""}`);
      return w;
    }
    // SOCKS5 (RFC 1928): no-auth greeting, then CONNECT to an IPv4 address.
    w.write(Uint8Array.of(5, 1, 0));
    const hello = await w.readExact(2);
    if (hello[0] !== 5 || hello[1] !== 0) throw new Error(`SOCKS5 greeting refused: ${[...hello].join(",")}`);
    w.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255));
    const reply = await w.readExact(4);
    if (reply[1] !== 0) throw new Error(`SOCKS5 CONNECT failed with reply code ${reply[1]}`);
    const addrLen = reply[3] === 1 ? 4 : reply[3] === 4 ? 16 : (await w.readExact(1))[0]!;
    await w.readExact(addrLen + 2);
    return w;
  } catch (e) {
    w.close();
    throw e;
  }
}

/** TLS over an open tunnel, verifying the server against `ca` for the name 127.0.0.1. */
export function startTls(w: Wire, ca: string): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket: w.release(), ca, servername: undefined, host: HOST });
    s.once("secureConnect", () => {
      s.off("error", reject);
      resolve(new Wire(s));
    });
    s.once("error", reject);
  });
}
