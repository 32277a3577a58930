/**
 * A reader of the admin API's event stream (`GET /events`), as a script would use it: it keeps
 * every event it has parsed, and `next(type, match)` waits for the first one not yet taken.
 */
export interface SseEvent {
  readonly type: string;
  readonly data: unknown;
}

export class EventReader implements AsyncDisposable {
  readonly events: SseEvent[] = [];
  #taken = 0;
  #waiters: Array<() => void> = [];
  readonly #done: Promise<void>;
  ended = false;

  private constructor(
    readonly response: Response,
    readonly abort: AbortController,
  ) {
    this.#done = this.#read(response);
  }

  static async open(url: string, headers: Record<string, string>): Promise<EventReader> {
    const abort = new AbortController();
    return new EventReader(await fetch(url, { headers, signal: abort.signal }), abort);
  }

  async #read(res: Response): Promise<void> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of res.body) {
        text += decoder.decode(chunk, { stream: true });
        for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
          const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
          this.events.push({ type, data: JSON.parse(data) });
          this.#wake();
        }
      }
    } catch {
      // aborted by dispose, or the proxy went away
    } finally {
      this.ended = true;
      this.#wake();
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** The next event of `type` (after those already taken) for which `match` holds. */
  async next<T = Record<string, unknown>>(type: string, match: (data: T) => boolean = () => true): Promise<T> {
    for (;;) {
      for (let i = this.#taken; i < this.events.length; i++) {
        const e = this.events[i]!;
        if (e.type === type && match(e.data as T)) {
          this.#taken = i + 1;
          return e.data as T;
        }
      }
      if (this.ended) throw new Error(`the event stream ended before a ${type} event; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.abort.abort();
    await this.#done;
  }
}
