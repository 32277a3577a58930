/**
 * The live event stream behind `GET /events` (and the dashboard): decisions, blocks, pending
 * approvals, mode and rule changes, fanned out to subscribers. Each subscriber has a bounded
 * queue: a reader that falls behind loses the oldest events (and is told how many), so a slow
 * or stalled reader never grows the proxy's memory. Publishing costs nothing without
 * subscribers.
 */

/** Events a subscriber may hold before the oldest are dropped. */
export const SUBSCRIBER_QUEUE = 500;

export interface LiveEvent {
  readonly type: "decision" | "block" | "pending" | "answered" | "mode" | "rules";
  readonly data: unknown;
}

export class Subscriber {
  readonly #queue: string[] = [];
  #dropped = 0;
  #wake: (() => void) | null = null;
  closed = false;

  push(text: string): void {
    if (this.#queue.length >= SUBSCRIBER_QUEUE) {
      this.#queue.shift();
      this.#dropped++;
    }
    this.#queue.push(text);
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Everything queued (with a note of what was dropped), waiting for something when empty. */
  async take(): Promise<string> {
    while (this.#queue.length === 0 && !this.closed) await new Promise<void>((r) => (this.#wake = r));
    const dropped = this.#dropped;
    this.#dropped = 0;
    const text = this.#queue.join("");
    this.#queue.length = 0;
    return (dropped > 0 ? `event: dropped\ndata: ${dropped}\n\n` : "") + text;
  }

  close(): void {
    this.closed = true;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  get queued(): number {
    return this.#queue.length;
  }
}

export class EventHub {
  readonly subscribers = new Set<Subscriber>();

  get active(): boolean {
    return this.subscribers.size > 0;
  }

  publish(e: LiveEvent): void {
    if (this.subscribers.size === 0) return;
    const text = `event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
    for (const s of this.subscribers) s.push(text);
  }

  subscribe(): Subscriber {
    const s = new Subscriber();
    this.subscribers.add(s);
    return s;
  }

  unsubscribe(s: Subscriber): void {
    this.subscribers.delete(s);
    s.close();
  }

  /** End every stream (the proxy is stopping). */
  closeAll(): void {
    for (const s of [...this.subscribers]) this.unsubscribe(s);
  }
}
