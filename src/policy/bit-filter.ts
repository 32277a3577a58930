/**
 * A set of 32-bit key hashes that answers "certainly not added" or "maybe added", in front of a
 * large index. A rule set of 100,000 patterns spreads its tables over megabytes, and a lookup of
 * a key that is not there (most lookups: every shorter suffix of a name, every address no rule
 * names) would read a line of that memory that is rarely in any cache. The filter holds two bits
 * per key in one 32-bit word, with 16 to 32 bits of room per key (128 KiB for 40,000 keys, where
 * the table behind it is 2 MiB), so it stays cached, and at most about 1 in 50 absent keys still
 * reaches the table (each of its two bits is already set with probability at most 1/8).
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
  readonly #hashes: number[] = [];

  /** Every hash added, in order: the filter is rebuilt from them when it grows. */
  get hashes(): readonly number[] {
    return this.#hashes;
  }

  get size(): number {
    return this.#hashes.length;
  }

  /** The bits the filter holds (its memory, in bytes, is an eighth of that). */
  get bits(): number {
    return (this.#wordMask + 1) * 32;
  }

  add(h: number): void {
    this.#hashes.push(h);
    // Fewer than 16 bits per hash: twice the bits, back to 32 per hash.
    if (this.#hashes.length * 16 > this.bits) this.#resize(this.bits * 2);
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

  /** `bits` bits (a power of two), and every hash set again. */
  #resize(bits: number): void {
    this.#words = new Int32Array(bits >>> 5);
    this.#wordMask = (bits >>> 5) - 1;
    for (const h of this.#hashes) this.#set(h);
  }
}
