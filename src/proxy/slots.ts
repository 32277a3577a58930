/**
 * Counted capacity (client connections, tunnels) handed out as leases. A lease gives its slot
 * back exactly once, however many times it is released, so an owner can release it on every
 * path (close, error, a throw during set-up) without counting twice or leaking.
 */
export class Slots {
  #used = 0;

  constructor(private readonly max: () => number) {}

  get used(): number {
    return this.#used;
  }

  /** A lease on one slot, or null when every slot is taken. `onRelease` runs once, on release. */
  tryLease(onRelease?: () => void): Lease | null {
    if (this.#used >= this.max()) return null;
    this.#used++;
    return new Lease(() => {
      this.#used--;
      onRelease?.();
    });
  }
}

export class Lease implements Disposable {
  #give: (() => void) | null;

  constructor(give: () => void) {
    this.#give = give;
  }

  get released(): boolean {
    return this.#give === null;
  }

  release(): void {
    const give = this.#give;
    if (give === null) return;
    this.#give = null;
    give();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
