/**
 * Loopback origins for tests: an HTTP server (Bun.serve) with echo, sized and streamed bodies,
 * special statuses and a WebSocket echo; and a raw TCP server that counts connections and runs a
 * script per connection.
 */
import type { Server, Socket } from "bun";
import { pattern, patternBlocks } from "../../scripts/lib/pattern.ts";

export { pattern, patternBlocks, patternCrc32, patternSha } from "../../scripts/lib/pattern.ts";

export function sha256(data: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

export interface EchoReply {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

export class HttpOrigin implements Disposable {
  readonly server: Server<{ path: string }>;
  requests = 0;
  /** Distinct client ports seen: one per upstream connection. */
  readonly clientPorts = new Set<number>();

  constructor() {
    this.server = Bun.serve<{ path: string }>({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 30,
      fetch: async (req, server) => {
        this.requests++;
        const ip = server.requestIP(req);
        if (ip) this.clientPorts.add(ip.port);
        const url = new URL(req.url);
        const p = url.pathname;
        if (p === "/ws") {
          if (server.upgrade(req, { data: { path: p } })) return undefined;
          return new Response("upgrade expected", { status: 400 });
        }
        if (p.startsWith("/bytes/")) return new Response(pattern(0, Number(p.slice(7))));
        if (p.startsWith("/chunked/")) return new Response(patternStream(Number(p.slice(9))));
        if (p.startsWith("/status/")) return new Response(null, { status: Number(p.slice(8)) });
        if (p === "/never") return new Promise<Response>(() => {});
        const body = new Uint8Array(await req.arrayBuffer());
        const reply: EchoReply = {
          method: req.method,
          path: p + url.search,
          headers: Object.fromEntries(req.headers),
          bodyLength: body.length,
          bodySha256: sha256(body),
        };
        return Response.json(reply);
      },
      websocket: {
        message(ws, msg) {
          ws.send(typeof msg === "string" ? `echo:${msg}` : msg);
        },
      },
    });
  }
  get port(): number {
    return this.server.port!;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  [Symbol.dispose](): void {
    this.server.stop(true);
  }
}

function patternStream(total: number): ReadableStream<Uint8Array> {
  const it = patternBlocks(total);
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const n = it.next();
      if (n.done) c.close();
      else c.enqueue(n.value.slice());
    },
  });
}

export interface RawConn {
  readonly socket: Socket<RawState>;
  readonly index: number;
}
interface RawState {
  buf: Buffer;
  onData?: (all: Buffer) => void;
  /** Called on drain: continue writing. */
  pump?: () => void;
}

/** A TCP server that counts connections and hands each to `script`. */
export class RawOrigin implements Disposable {
  readonly listener: import("bun").TCPSocketListener<RawState>;
  connections = 0;
  closes = 0;
  bytesReceived = 0;

  constructor(script: (c: RawConn) => void, handlers: { drain?: (s: Socket<RawState>) => void } = {}) {
    this.listener = Bun.listen<RawState>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => {
          s.data = { buf: Buffer.alloc(0) };
          script({ socket: s, index: this.connections++ });
        },
        data: (s, d) => {
          this.bytesReceived += d.length;
          s.data.buf = Buffer.concat([s.data.buf, d]);
          s.data.onData?.(s.data.buf);
        },
        drain: (s) => {
          s.data.pump?.();
          handlers.drain?.(s);
        },
        close: () => {
          this.closes++;
        },
      },
    });
  }
  get port(): number {
    return this.listener.port;
  }
  [Symbol.dispose](): void {
    this.listener.stop(true);
  }
}

export interface ScriptedRequest {
  method: string;
  target: string;
  head: string;
  body: Buffer;
  connection: number;
}

/**
 * A keep-alive HTTP/1.1 origin written on raw sockets, whose responses are exact bytes chosen by
 * the test (chunk splits, HEAD lengths, garbage). Request bodies must use Content-Length.
 */
export class ScriptedOrigin implements Disposable {
  readonly requests: ScriptedRequest[] = [];
  readonly raw: RawOrigin;

  constructor(respond: (req: ScriptedRequest, socket: Socket<RawState>) => string | Uint8Array | null) {
    this.raw = new RawOrigin((c) => {
      c.socket.data.onData = (all) => {
        for (;;) {
          const end = all.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = all.subarray(0, end).toString("latin1");
          const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
          let body: Buffer;
          let consumed: number;
          if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
            const d = dechunk(all, end + 4);
            if (!d) return;
            [body, consumed] = d;
          } else {
            const len = cl ? Number(cl[1]) : 0;
            if (all.length < end + 4 + len) return;
            body = all.subarray(end + 4, end + 4 + len);
            consumed = end + 4 + len;
          }
          const [method, target] = head.split(" ") as [string, string];
          const req = { method, target, head, body, connection: c.index };
          all = all.subarray(consumed);
          c.socket.data.buf = all;
          this.requests.push(req);
          const out = respond(req, c.socket);
          if (out !== null) c.socket.write(typeof out === "string" ? Buffer.from(out, "latin1") : out);
        }
      };
    });
  }
  get port(): number {
    return this.raw.port;
  }
  get connections(): number {
    return this.raw.connections;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  [Symbol.dispose](): void {
    this.raw[Symbol.dispose]();
  }
}

/** Decode a chunked body starting at `at`; null if incomplete. Returns the body and the end offset. */
function dechunk(buf: Buffer, at: number): [Buffer, number] | null {
  const parts: Buffer[] = [];
  let i = at;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(i, eol).toString("latin1").split(";")[0]!, 16);
    i = eol + 2;
    if (size === 0) {
      const end = buf.indexOf("\r\n\r\n", i - 2);
      return end < 0 ? null : [Buffer.concat(parts), end + 4];
    }
    if (buf.length < i + size + 2) return null;
    parts.push(buf.subarray(i, i + size));
    i += size + 2;
  }
}

/** How far a streaming origin got: bytes written, and whether it is waiting for a drain. */
export interface StreamState {
  written: number;
  blocked: boolean;
}

/**
 * An origin that streams `total` pattern bytes to each connection with backpressure (write what
 * the socket takes, continue on drain), after `head` if given. With `onRequest` it waits for
 * the first bytes from the client (an HTTP request) before answering.
 */
export function streamingOrigin(total: number, opts: { head?: string; onRequest?: boolean } = {}): RawOrigin & { state: StreamState } {
  const state: StreamState = { written: 0, blocked: false };
  const origin = new RawOrigin((c) => {
    const s = c.socket;
    const it = patternBlocks(total);
    let pending: Uint8Array | null = null;
    s.data.pump = () => {
      state.blocked = false;
      for (;;) {
        const chunk = pending ?? it.next().value;
        if (!chunk) return void s.end();
        const n = s.write(chunk);
        state.written += Math.max(0, n);
        if (n < chunk.length) {
          pending = chunk.subarray(Math.max(0, n));
          state.blocked = true;
          return;
        }
        pending = null;
      }
    };
    const start = () => {
      if (opts.head) s.write(opts.head);
      s.data.pump!();
    };
    if (opts.onRequest) {
      s.data.onData = () => {
        s.data.onData = () => {};
        start();
      };
    } else start();
  });
  return Object.assign(origin, { state });
}
