/**
 * One TCP (or TLS) socket with the write discipline Bun requires: `write()` takes what the kernel
 * accepts and returns the count, so the rest is queued here, the producer is told to pause, and
 * the queue is flushed on `drain`; `end()` waits for the flush. Without this, a fast producer and
 * a slow consumer either pile up memory or lose data (measured).
 *
 * Incoming events are forwarded to callbacks the owner sets; until it does, data is held, so a
 * server that speaks first (SSH banners, an early response) loses nothing.
 */
import type { Socket, SocketHandler } from "bun";
import type { DialAddr } from "../policy/decide.ts";
import type { UpstreamProxy } from "../policy/route.ts";

export type Sock = Socket<Conn>;

const noop = () => {};

/** Bytes a Conn may hold for a peer that is slower than its producer before asking it to pause. */
export const HIGH_WATER = 256 * 1024;

/**
 * The bytes queued in every Conn together, and the most they may hold (`limits.max_buffered_bytes`,
 * set by the proxy). Past the limit a write that has to queue anything asks its producer to pause
 * at once, whatever its own queue holds: thousands of clients that stop reading then hold one read
 * each beyond the limit, instead of HIGH_WATER each.
 */
export const buffered = { bytes: 0, limit: 64 * 1024 * 1024 };

/**
 * How long a gracefully closing socket may take (to flush what is queued, and for the peer to
 * close its side) before it is reset: a peer that never reads or never closes must not keep a
 * descriptor forever.
 */
export const LINGER_MS = 10_000;

export class Conn {
  sock: Sock | null = null;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** After the queue drains: "shutdown" sends FIN and keeps reading; "close" closes. */
  #after: "shutdown" | "close" | null = null;
  #writeEnded = false;
  #closeReported = false;
  #linger: ReturnType<typeof setTimeout> | null = null;
  #held: Buffer[] | null = [];
  closed = false;
  /** The peer sent FIN. */
  readEnded = false;
  /** Bytes this side received and sent (for metrics and logs). */
  bytesIn = 0;
  bytesOut = 0;
  /** How much of bytesIn/bytesOut was already added to the metrics. */
  countedIn = 0;
  countedOut = 0;
  /** Time since the last activity, advanced by the sweeper. */
  idleMs = 0;
  /** For upstream connections: the vetted address this one was dialed at. */
  remote: DialAddr | null = null;
  /**
   * For a connection to an HTTP upstream proxy that plain requests are forwarded to (in
   * absolute form): that proxy; else null.
   */
  forwardProxy: UpstreamProxy | null = null;

  onData: (chunk: Buffer) => void = (chunk) => this.#held?.push(chunk);
  /** The queue drained completely: the producer may resume. */
  onWritable: () => void = noop;
  onEnd: () => void = noop;
  onClose: (err?: Error) => void = noop;
  /** TLS only: the handshake finished (`ok` false or an error means the peer was not verified). */
  onHandshake: ((ok: boolean, err: Error | null) => void) | null = null;
  /** Bookkeeping of whoever accepted the socket; runs after onClose and is never replaced by owners. */
  afterClose: (() => void) | null = null;

  constructor(readonly label: string) {}

  /**
   * Hold data again until the next `listen`, starting with `rest`: a handshake read by one owner
   * (an upstream proxy's CONNECT answer) gives what followed it to the next.
   */
  hold(rest: Buffer | null): void {
    this.#held = rest && rest.length > 0 ? [rest] : [];
    this.onData = (chunk) => this.#held?.push(chunk);
  }

  /** Start delivering data to `onData` (including anything that arrived before). */
  listen(onData: (chunk: Buffer) => void): void {
    this.onData = onData;
    const held = this.#held;
    this.#held = null;
    if (held) for (const c of held) onData(c);
  }

  get backlogged(): boolean {
    return this.#queuedBytes > 0;
  }
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Write or queue. Returns false when the caller should stop producing until `onWritable`:
   * once more than HIGH_WATER bytes wait here. Below that the producer keeps going, so a busy
   * relay does not stop and restart reading (two syscalls) on every partial write.
   */
  write(buf: Uint8Array): boolean {
    if (this.closed || this.#after !== null || this.#writeEnded || buf.length === 0) return !this.closed && buf.length === 0;
    this.bytesOut += buf.length;
    if (this.#queuedBytes > 0) return this.#enqueue(buf);
    const n = this.sock!.write(buf);
    if (n === buf.length) return true;
    if (n < 0) return false;
    return this.#enqueue(n === 0 ? buf : buf.subarray(n));
  }

  #enqueue(b: Uint8Array): boolean {
    this.#queue.push(b);
    this.#queuedBytes += b.length;
    buffered.bytes += b.length;
    return this.#queuedBytes <= HIGH_WATER && buffered.bytes <= buffered.limit;
  }

  #dequeued(n: number): void {
    this.#queuedBytes -= n;
    buffered.bytes -= n;
  }

  /** Called from the socket's `drain` event. */
  flush(): void {
    const s = this.sock;
    if (!s || this.closed) return;
    while (this.#queue.length > 0) {
      const b = this.#queue[0]!;
      const n = s.write(b);
      if (n < 0) return;
      if (n < b.length) {
        this.#queue[0] = b.subarray(n);
        this.#dequeued(n);
        return;
      }
      this.#queue.shift();
      this.#dequeued(b.length);
    }
    const after = this.#after;
    if (after !== null) {
      this.#after = null;
      this.#finish(after);
      return;
    }
    this.onWritable();
  }

  #finish(how: "shutdown" | "close"): void {
    this.#writeEnded = true;
    const s = this.sock;
    if (!s) return;
    if (how === "shutdown") s.shutdown();
    else {
      this.closed = true;
      s.end();
    }
  }

  /** Half-close once everything queued is written: send FIN and keep reading. */
  shutdownWrite(): void {
    this.#schedule("shutdown");
  }

  /** Close gracefully once everything queued is written. */
  close(): void {
    this.#schedule("close");
  }

  #schedule(how: "shutdown" | "close"): void {
    if (how === "close") this.#armLinger();
    if (this.closed || this.#writeEnded) {
      if (how === "close" && !this.closed) this.#finish("close");
      return;
    }
    if (this.#queuedBytes > 0) {
      if (this.#after !== "close") this.#after = how;
      return;
    }
    this.#finish(how);
  }

  get writeEnded(): boolean {
    return this.#writeEnded || this.#after !== null;
  }

  /** Report the close to the owner exactly once (Bun may send error and close). */
  reportClose(err?: Error): void {
    if (this.#closeReported) return;
    this.#closeReported = true;
    this.closed = true;
    // Whatever was still queued will never be written.
    this.#queue = [];
    this.#dequeued(this.#queuedBytes);
    if (this.#linger) clearTimeout(this.#linger);
    this.onClose(err);
    this.afterClose?.();
  }

  #paused = false;

  /** Stop reading (idempotent: the socket is only touched when the state changes). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.sock?.pause();
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.sock?.resume();
  }

  /** Close now, dropping anything queued (RST when `abort`). */
  destroy(abort = false): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.#dequeued(this.#queuedBytes);
    this.#after = null;
    const s = this.sock;
    if (!s) return;
    if (abort) s.terminate();
    else {
      this.#armLinger();
      s.end();
    }
  }

  #armLinger(): void {
    if (this.#linger || this.#closeReported) return;
    this.#linger = setTimeout(() => this.sock?.terminate(), LINGER_MS);
    this.#linger.unref();
  }
}

/** The handler object shared by every Conn-backed socket (Bun wants one per listener). */
export const connHandlers: SocketHandler<Conn> = {
  open(s) {
    s.data.sock = s;
  },
  data(s, chunk) {
    const c = s.data;
    c.bytesIn += chunk.length;
    c.idleMs = 0;
    c.onData(chunk);
  },
  drain(s) {
    s.data.idleMs = 0;
    s.data.flush();
  },
  end(s) {
    const c = s.data;
    c.readEnded = true;
    c.onEnd();
  },
  close(s, err) {
    s.data.reportClose(err ?? undefined);
  },
  error(s, err) {
    // A handler threw, or a TLS session failed: fail closed for this connection.
    s.data.destroy(true);
    s.data.reportClose(err);
  },
};

/** Handlers for TLS sockets (MITM'd clients, verified upstreams): Conn's, plus the handshake. */
export const tlsConnHandlers: SocketHandler<Conn> = {
  ...connHandlers,
  handshake(s, ok, err) {
    s.data.onHandshake?.(ok, err);
  },
};
