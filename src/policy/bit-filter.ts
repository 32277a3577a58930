/**
 * A set of 32-bit key hashes that answers "certainly not added" or "maybe added", in front of a
 * large index. A rule set of 100,000 patterns spreads its tables over megabytes, and a lookup of
 * a key that is not there (most lookups: every shorter suffix of a name, every address no rule
 * names) would read a line of that memory that is rarely in any cache. The filter holds two bits
 * per key in one 32-bit word, with 8 to 16 bits of room per key, so it is a few dozen kilobytes
 * where the table is megabytes, it stays cached, and at most about 1 in 16 absent keys still reaches
 * the table (each of its two bits is already set with probability at most 1/4).
 *
 * A "maybe" is always checked against the table behind it, so a filter can cost a lookup but
 * never change its answer. The hashes added are kept, so the filter can grow with its set.
 */

/** Below this many bits, the array would be smaller than the work of sizing it. */
const MIN_BITS = 1024;

/** Mix a hash so that every bit depends on every bit of the input (the finalizer of MurmurHash3). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class BitFilter {
  #words = new Int32Array(MIN_BITS >>> 5);
  #wordMask = (MIN_BITS >>> 5) - 1;
  /** Every hash added, in order: the filter is rebuilt from them when it grows. */
  readonly hashes: number[] = [];

  get size(): number {
    return this.hashes.length;
  }

  add(h: number): void {
    this.hashes.push(h);
    if (this.hashes.length * 8 > (this.#wordMask + 1) * 32) this.#resize(this.hashes.length);
    else this.#set(h);
  }

  /** False: `h` was never added. True: it may have been. */
  mayHave(h: number): boolean {
    const m = mix(h);
    const bits = (1 << (m & 31)) | (1 << ((m >>> 5) & 31));
    return (this.#words[(m >>> 10) & this.#wordMask]! & bits) === bits;
  }

  #set(h: number): void {
    const m = mix(h);
    this.#words[(m >>> 10) & this.#wordMask]! |= (1 << (m & 31)) | (1 << ((m >>> 5) & 31));
  }

  /** 16 bits per key for `n` keys (rounded up to a power of two), and every hash set again. */
  #resize(n: number): void {
    let bits = MIN_BITS;
    while (bits < n * 16) bits *= 2;
    this.#words = new Int32Array(bits >>> 5);
    this.#wordMask = (bits >>> 5) - 1;
    for (const h of this.hashes) this.#set(h);
  }
}
