/**
 * A byte relay between two connections (CONNECT tunnels, SOCKS5, upgraded HTTP): each direction
 * writes what it reads, pauses its source while the destination is backlogged, resumes on drain,
 * and passes a half-close (FIN) along only after everything before it was written. When both
 * directions have ended, or either side fails, the tunnel closes.
 */
import type { Conn } from "./conn.ts";

/** Told once when the relay has closed (an object, not a closure: one less allocation per tunnel). */
export interface RelayOwner {
  relayDone(relay: Relay): void;
}

export class Relay {
  #ended = 0;
  #done = false;

  constructor(
    readonly a: Conn,
    readonly b: Conn,
    private readonly owner: RelayOwner,
  ) {}

  /** Start relaying. `toB` is data already read from `a` that must go to `b` first. */
  start(toB?: Uint8Array | null): void {
    if (toB && toB.length > 0 && !this.b.write(toB)) this.a.pause();
    this.#pipe(this.a, this.b);
    this.#pipe(this.b, this.a);
    // A side that half-closed before the relay existed (CONNECT followed at once by FIN).
    if (this.a.readEnded) this.a.onEnd();
    if (this.b.readEnded) this.b.onEnd();
  }

  #pipe(from: Conn, to: Conn): void {
    to.onWritable = () => from.resume();
    from.onEnd = () => {
      to.shutdownWrite();
      if (++this.#ended === 2) this.close(false);
    };
    from.onClose = (err) => {
      // The other side gets what is already queued, then a close (an error aborts it).
      if (err) to.destroy(true);
      else to.close();
      this.#finish();
    };
    from.listen((chunk) => {
      if (!to.write(chunk)) from.pause();
    });
  }

  /** Both sides idle for this many sweeps. */
  get idleMs(): number {
    return Math.min(this.a.idleMs, this.b.idleMs);
  }

  close(abort: boolean): void {
    if (abort) {
      this.a.destroy(true);
      this.b.destroy(true);
    } else {
      this.a.close();
      this.b.close();
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.owner.relayDone(this);
  }
}
