/**
 * Counted capacity (client connections, tunnels) handed out as leases. A lease gives its slot
 * back exactly once, however many times it is released, so an owner can release it on every
 * path (close, error, a throw during set-up) without counting twice or leaking.
 */
export class Slots {
  #used = 0;

  /** `onRelease` runs once per lease, with the tag it was taken with (for per-listener gauges). */
  constructor(
    private readonly max: () => number,
    private readonly onRelease: (tag: string) => void = () => {},
  ) {}

  get used(): number {
    return this.#used;
  }

  /** A lease on one slot, or null when every slot is taken. */
  tryLease(tag = ""): Lease | null {
    if (this.#used >= this.max()) return null;
    this.#used++;
    return new Lease(this, tag);
  }

  /** Called by Lease.release, once per lease. */
  giveBack(tag: string): void {
    this.#used--;
    this.onRelease(tag);
  }
}

export class Lease implements Disposable {
  #slots: Slots | null;

  constructor(
    slots: Slots,
    readonly tag: string,
  ) {
    this.#slots = slots;
  }

  get released(): boolean {
    return this.#slots === null;
  }

  release(): void {
    const s = this.#slots;
    if (s === null) return;
    this.#slots = null;
    s.giveBack(this.tag);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
