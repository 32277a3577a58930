/**
 * A loopback HTTPS origin on raw TLS sockets that counts what reaches it: TCP connections,
 * completed TLS handshakes (with the server name each one asked for) and HTTP requests. It
 * answers every request head with a small fixed 200 and keeps the connection alive. Request
 * bodies must use Content-Length (nothing in the catalogue tests sends an allowed body).
 */
import type { Socket, TCPSocketListener } from "bun";

interface TlsConnState {
  buf: Buffer;
}

export interface TlsOriginRequest {
  readonly head: string;
  readonly connection: number;
}

export class CountingTlsOrigin implements Disposable {
  readonly listener: TCPSocketListener<TlsConnState>;
  /** TCP connections accepted. */
  connections = 0;
  /** TLS handshakes completed. */
  handshakes = 0;
  /** The server name (SNI) of each completed handshake, "" when none was sent. */
  readonly serverNames: string[] = [];
  readonly requests: TlsOriginRequest[] = [];

  constructor(
    tls: { key: string; cert: string },
    readonly body = "TLS REACHED",
    hostname = "127.0.0.1",
    /** A whole raw response for a request head (and whether to close after it), or null for the fixed 200. */
    readonly answer: (head: string) => string | { response: string; close: true } | null = () => null,
  ) {
    this.listener = Bun.listen<TlsConnState>({
      hostname,
      port: 0,
      tls,
      socket: {
        open: (s) => {
          s.data = { buf: Buffer.alloc(0) };
          this.connections++;
        },
        handshake: (s, ok) => {
          if (!ok) return;
          this.handshakes++;
          this.serverNames.push((s as unknown as { getServername(): string | undefined }).getServername?.() ?? "");
        },
        data: (s, d) => this.#onData(s, d),
        error: () => {},
      },
    });
  }

  #onData(s: Socket<TlsConnState>, d: Buffer): void {
    s.data.buf = Buffer.concat([s.data.buf, d]);
    for (;;) {
      const buf = s.data.buf;
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      const len = cl ? Number(cl[1]) : 0;
      if (buf.length < end + 4 + len) return;
      s.data.buf = buf.subarray(end + 4 + len);
      this.requests.push({ head, connection: this.connections });
      const custom = this.answer(head);
      if (custom !== null) {
        s.write(Buffer.from(typeof custom === "string" ? custom : custom.response, "latin1"));
        if (typeof custom !== "string") return void s.end();
        continue;
      }
      const b = Buffer.from(this.body);
      s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${b.length}\r\n\r\n`, "latin1"), b]));
    }
  }

  get port(): number {
    return this.listener.port;
  }

  /** Everything counted so far, for before/after comparisons. */
  snapshot(): { connections: number; handshakes: number; requests: number } {
    return { connections: this.connections, handshakes: this.handshakes, requests: this.requests.length };
  }

  [Symbol.dispose](): void {
    this.listener.stop(true);
  }
}
