/**
 * A bare Bun relay: the least a proxy written on Bun.listen/Bun.connect can do, as a reference
 * column in the benchmark ("what Bun itself reaches"). No policy, no parsing beyond what each
 * protocol needs to find the target, no limits, no logs:
 *
 *   bun bench/relay.ts forward PORT ORIGIN_PORT   every connection piped to 127.0.0.1:ORIGIN_PORT
 *   bun bench/relay.ts connect PORT               CONNECT 127.0.0.1:N, answer 200, pipe
 *   bun bench/relay.ts socks PORT                 SOCKS5 without auth, IPv4 CONNECT, pipe
 *   bun bench/relay.ts mitm PORT CERT KEY CA      CONNECT 127.0.0.1:N, answer 200, TLS with the
 *                                                 client (CERT/KEY), TLS to the origin (trusting
 *                                                 CA), pipe the plaintext: the least any
 *                                                 intercepting proxy on Bun does per byte
 *
 * It prints {"port": N} on one line once it listens (PORT 0: a free port). Writes are queued on
 * a short write and the other side paused until drained, the same back-pressure discipline the
 * proxy uses, so bulk figures are comparable.
 */
import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { HOST } from "./lib/net.ts";

interface Side {
  peer: Socket<Side> | null;
  queue: Uint8Array[];
  /** Bytes read before the peer was connected. */
  early: Uint8Array[];
  head: Buffer | null;
  /** SOCKS5: the method greeting was answered. */
  greeted: boolean;
  ended: boolean;
}

const side = (): Side => ({ peer: null, queue: [], early: [], head: null, greeted: false, ended: false });

function send(to: Socket<Side>, from: Socket<Side>, data: Uint8Array): void {
  if (to.data.queue.length > 0) {
    to.data.queue.push(data);
    return;
  }
  const n = to.write(data);
  if (n < data.length) {
    to.data.queue.push(data.subarray(Math.max(n, 0)));
    from.pause();
  }
}

const relaySide = {
  data(s: Socket<Side>, d: Buffer) {
    if (s.data.peer) send(s.data.peer, s, d);
    else s.data.early.push(Buffer.from(d));
  },
  drain(s: Socket<Side>) {
    const q = s.data.queue;
    while (q.length > 0) {
      const b = q[0]!;
      const n = s.write(b);
      if (n < b.length) {
        q[0] = b.subarray(Math.max(n, 0));
        return;
      }
      q.shift();
    }
    s.data.peer?.resume();
    if (s.data.ended) s.end();
  },
  end(s: Socket<Side>): void {
    const p = s.data.peer;
    if (!p) s.end();
    else if (p.data.queue.length > 0) p.data.ended = true;
    else p.end();
  },
  close(s: Socket<Side>) {
    s.data.peer?.end();
  },
  error() {},
};

/** For mitm: the certificate shown to clients and the CA the origin's certificate is checked against. */
interface MitmTls {
  cert: string;
  key: string;
  ca: string;
}

/** Dial 127.0.0.1:port for `client` (over TLS when `tls` is given); `greeting` goes to the client once connected. */
function dial(client: Socket<Side>, port: number, greeting: Uint8Array | null, tls?: { ca: string }): void {
  Bun.connect<Side>({
    hostname: HOST,
    port,
    ...(tls ? { tls: { ca: tls.ca, serverName: HOST } } : {}),
    data: side(),
    socket: {
      ...relaySide,
      open(up) {
        up.setNoDelay(true);
        up.data.peer = client;
        client.data.peer = up;
        if (greeting) client.write(greeting);
        for (const b of client.data.early) send(up, client, b);
        client.data.early = [];
      },
      connectError() {
        client.end();
      },
    },
  }).catch(() => client.end());
}

const OK = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n");
const SOCKS_OK = Uint8Array.of(5, 0, 0, 1, 0, 0, 0, 0, 0, 0);

type OnData = (s: Socket<Side>, d: Buffer) => void;

/** After the 200: the client's socket becomes TLS (our certificate), then the origin is dialed over TLS. */
function intercept(raw: Socket<Side>, port: number, tls: MitmTls): void {
  raw.write(OK);
  raw.upgradeTLS<Side>({
    data: side(),
    tls: { cert: tls.cert, key: tls.key },
    socket: {
      ...relaySide,
      handshake(s, ok) {
        if (!ok) return void s.end();
        s.setNoDelay(true);
        dial(s, port, null, tls);
      },
    },
  });
}

function handshake(mode: string, originPort: number, tls?: MitmTls): OnData {
  return (s: Socket<Side>, d: Buffer): void => {
    if (s.data.peer || s.data.head === null) return relaySide.data(s, d);
    const head = Buffer.concat([s.data.head, d]);
    // Until the whole handshake is here, keep what came.
    const more = (): void => {
      s.data.head = head;
    };
    if (mode === "connect") {
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return more();
      const m = /^CONNECT [^:]+:(\d+) /.exec(head.toString("latin1", 0, end));
      if (!m) return void s.end();
      s.data.head = null;
      const rest = head.subarray(end + 4);
      if (tls) return rest.length > 0 ? void s.end() : intercept(s, Number(m[1]), tls);
      if (rest.length > 0) s.data.early.push(Buffer.from(rest));
      return dial(s, Number(m[1]), OK);
    }
    // SOCKS5: greeting (05 n methods...), then request 05 01 00 01 a.b.c.d port.
    if (!s.data.greeted) {
      if (head.length < 2 || head.length < 2 + head[1]!) return more();
      if (head[0] !== 5) return void s.end();
      s.data.greeted = true;
      s.write(Uint8Array.of(5, 0));
      s.data.head = Buffer.from(head.subarray(2 + head[1]!));
      if (s.data.head.length === 0) return;
      return handshake(mode, originPort, tls)(s, Buffer.alloc(0));
    }
    if (head.length < 10) return more();
    if (head[0] !== 5 || head[1] !== 1 || head[3] !== 1) return void s.end();
    s.data.head = null;
    if (head.length > 10) s.data.early.push(Buffer.from(head.subarray(10)));
    return dial(s, head.readUInt16BE(8), SOCKS_OK);
  };
}

if (import.meta.main) {
  const [mode, portArg, ...rest] = process.argv.slice(2);
  if (mode !== "forward" && mode !== "connect" && mode !== "socks" && mode !== "mitm")
    throw new Error("usage: relay.ts forward|connect|socks PORT [ORIGIN_PORT] | relay.ts mitm PORT CERT KEY CA");
  const originPort = Number(rest[0]);
  const pem = (i: number): string => readFileSync(rest[i]!, "utf8");
  const tls = mode === "mitm" ? { cert: pem(0), key: pem(1), ca: pem(2) } : undefined;
  const listener = Bun.listen<Side>({
    hostname: HOST,
    port: Number(portArg),
    data: undefined as unknown as Side,
    socket: {
      ...relaySide,
      open(s) {
        s.data = side();
        s.setNoDelay(true);
        if (mode === "forward") dial(s, originPort, null);
        else s.data.head = Buffer.alloc(0);
      },
      data: mode === "forward" ? relaySide.data : handshake(mode === "mitm" ? "connect" : mode, originPort, tls),
    },
  }); // The port it listens on (PORT may be 0), once it accepts.
  console.log(JSON.stringify({ port: listener.port }));
}
