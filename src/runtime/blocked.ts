/**
 * The record of blocked requests behind `GET /blocked`: a bounded ring with monotonically
 * increasing ids, so several readers can poll with `?since=ID` without stealing events from each
 * other (the original emptied the buffer on every read). Overflow drops the oldest and counts it.
 */
import type { Mode } from "../config/schema.ts";
import type { BlockReason } from "../outcomes.ts";

export type Protocol = "http" | "http-connect" | "https" | "socks5" | "unix-socket";

export interface BlockedEvent {
  readonly id: number;
  readonly host: string;
  readonly port: number | null;
  readonly reason: BlockReason;
  readonly client: string | null;
  readonly method: string | null;
  readonly mode: Mode | null;
  readonly protocol: Protocol;
  /** Unix seconds, as the original. */
  readonly timestamp: number;
  /** Why, in words. */
  readonly explain: string;
  /** What the operator could change to allow it, if anything reasonable. */
  readonly hint: string | null;
}

export type NewBlockedEvent = Omit<BlockedEvent, "id" | "timestamp">;

export class BlockedLog {
  #ring: BlockedEvent[] = [];
  #nextId = 1;
  #dropped = 0;
  #total = 0;

  constructor(private capacity: number) {}

  resize(capacity: number): void {
    this.capacity = capacity;
    this.#trim();
  }

  record(e: NewBlockedEvent, now = Date.now()): BlockedEvent {
    const ev: BlockedEvent = Object.freeze({ id: this.#nextId++, timestamp: Math.floor(now / 1000), ...e });
    this.#ring.push(ev);
    this.#total++;
    this.#trim();
    return ev;
  }

  #trim(): void {
    const over = this.#ring.length - this.capacity;
    if (over > 0) {
      this.#ring.splice(0, over);
      this.#dropped += over;
    }
  }

  /** Events with id > since, oldest first. */
  since(since = 0): BlockedEvent[] {
    if (since <= 0) return [...this.#ring];
    return this.#ring.filter((e) => e.id > since);
  }

  /** Return everything and empty the buffer (the original's read semantics). */
  drain(): BlockedEvent[] {
    const out = this.#ring;
    this.#ring = [];
    return out;
  }

  get dropped(): number {
    return this.#dropped;
  }
  get total(): number {
    return this.#total;
  }
  get lastId(): number {
    return this.#nextId - 1;
  }
}
