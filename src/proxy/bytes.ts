/**
 * Bytes that arrive in pieces and are read as one contiguous view: a head split over many small
 * reads. Appending is amortized O(1) (the store grows geometrically), where concatenating on
 * every read would copy O(n^2) bytes for a client that sends one byte at a time. A single read
 * that holds everything is used as it is, without a copy.
 */
export class ByteQueue {
  #store: Buffer | null = null;
  #owned = false;
  #start = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#start;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.length === 0) {
      this.#store = chunk;
      this.#owned = false;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    const need = this.length + chunk.length;
    if (!this.#owned || this.#end + chunk.length > this.#store!.length) {
      const next = Buffer.allocUnsafe(Math.max(need * 2, 4096));
      this.#store!.copy(next, 0, this.#start, this.#end);
      this.#store = next;
      this.#owned = true;
      this.#end = this.length;
      this.#start = 0;
    }
    chunk.copy(this.#store!, this.#end);
    this.#end += chunk.length;
  }

  /** The bytes held, as one Buffer (valid until the next append or consume). */
  view(): Buffer {
    const s = this.#store;
    if (s === null) return EMPTY;
    // A single read held whole (the usual case): itself, not a new view of it.
    return this.#start === 0 && this.#end === s.length ? s : s.subarray(this.#start, this.#end);
  }

  /** Drop the first `n` bytes. */
  consume(n: number): void {
    this.#start += n;
    if (this.#start >= this.#end) this.clear();
  }

  /** Everything held, and empty the queue (null when empty). */
  take(): Buffer | null {
    if (this.length === 0) return null;
    const out = this.view(); // the store is dropped below, so nothing can overwrite this view
    this.clear();
    return out;
  }

  clear(): void {
    this.#store = null;
    this.#owned = false;
    this.#start = this.#end = 0;
  }
}

const EMPTY = Buffer.alloc(0);
