/**
 * A hash table from strings to values for the policy indexes, probed with a range of a longer
 * string and a hash the caller has already computed, so that a lookup makes no substring and
 * hashes each character of a target once however many of its suffixes (or a label's prefixes)
 * it probes: the hash is FNV-1a, and a caller extends it one character at a time
 * (`hashStep`), reading forwards (prefixes) or backwards (suffixes) as the table says.
 *
 * Layout: open addressing with linear probing over one Int32Array of (hash, entry) pairs, at
 * most half full. A probe for a string that is not there (what most probes of a large rule set
 * are) usually reads one pair, in a compact array, instead of following pointers into a large
 * heap; only when the stored hash equals the probe's is the key itself compared, in full, so a
 * hash collision can cost a comparison but never give a wrong answer. In front of the slots, a
 * BitFilter answers most probes for absent strings from two to four bytes per key, which stay
 * cached: a large table is megabytes, and a probe that reads one of its lines pays for a miss.
 */
import { BitFilter } from "./bit-filter.ts";

export const HASH_SEED = 0x811c9dc5 | 0;

/** The hash of a string with the character code `c` added (at its end, or its start when read backwards). */
export function hashStep(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** The hash of s[start, end) read left to right. */
export function hashForward(s: string, start: number, end: number): number {
  let h = HASH_SEED;
  for (let i = start; i < end; i++) h = hashStep(h, s.charCodeAt(i));
  return h;
}

/** The hash of s[start, end) read right to left. */
export function hashBackward(s: string, start: number, end: number): number {
  let h = HASH_SEED;
  for (let i = end - 1; i >= start; i--) h = hashStep(h, s.charCodeAt(i));
  return h;
}

/** Spread the hash's high bits into the low ones the slot index is taken from. */
function slotOf(h: number, mask: number): number {
  return (h ^ (h >>> 15) ^ (h >>> 7)) & mask;
}

/** Up to this many keys a table is three short arrays scanned in order, with no slots at all. */
const SMALL = 8;

export class StrTable<V> {
  /** Slot i: [2i] the key's hash, [2i + 1] its entry number + 1 (0: empty). Null while small. */
  #slots: Int32Array | null = null;
  #mask = 0;
  readonly #keys: string[] = [];
  readonly #values: V[] = [];
  /** The keys' hashes, entry by entry (its `hashes`), and the filter of them. */
  readonly #filter = new BitFilter();

  /** `backward`: keys are hashed right to left (suffix probes), else left to right. */
  constructor(readonly backward: boolean) {}

  get size(): number {
    return this.#keys.length;
  }

  hashOf(key: string): number {
    // start and end passed, not defaulted: a default parameter makes JSC run this loop ~5x slower.
    return this.backward ? hashBackward(key, 0, key.length) : hashForward(key, 0, key.length);
  }

  get(key: string): V | undefined {
    return this.find(this.hashOf(key), key, 0, key.length);
  }

  /** The value of the key s[start, end), whose hash (in this table's direction) is `h`. */
  find(h: number, s: string, start: number, end: number): V | undefined {
    const e = this.#entry(h, s, start, end);
    return e < 0 ? undefined : this.#values[e];
  }

  /** Add `key` with `value`, or replace the value it has. */
  set(key: string, value: V): void {
    const h = this.hashOf(key);
    const e = this.#entry(h, key, 0, key.length);
    if (e >= 0) {
      this.#values[e] = value;
      return;
    }
    this.#addNew(h, key, value);
  }

  /**
   * The value of `key`, after adding `make()` as its value when it has none: one hash and one
   * probe for both.
   */
  getOrAdd(key: string, make: () => V): V {
    const h = this.hashOf(key);
    const e = this.#entry(h, key, 0, key.length);
    if (e >= 0) return this.#values[e]!;
    const value = make();
    this.#addNew(h, key, value);
    return value;
  }

  /** Add `key`, whose hash is `h` and which is not in the table, with `value`. */
  #addNew(h: number, key: string, value: V): void {
    this.#keys.push(key);
    this.#filter.add(h);
    this.#values.push(value);
    const n = this.#keys.length;
    if (this.#slots === null) {
      if (n > SMALL) this.#grow();
      return;
    }
    // Slotted (grown, or room reserved): every key has a slot, however few there are.
    if (n * 2 > this.#mask + 1) this.#grow();
    else this.#place(h, n);
  }

  /** The entry number of s[start, end), or -1. */
  #entry(h: number, s: string, start: number, end: number): number {
    const slots = this.#slots;
    if (slots === null) {
      const hashes = this.#filter.hashes;
      for (let e = 0; e < hashes.length; e++) {
        if (hashes[e] !== h) continue;
        const k = this.#keys[e]!;
        if (k.length === end - start && s.startsWith(k, start)) return e;
      }
      return -1;
    }
    if (!this.#filter.mayHave(h)) return -1;
    const mask = this.#mask;
    for (let i = slotOf(h, mask); ; i = (i + 1) & mask) {
      const e = slots[2 * i + 1]!;
      if (e === 0) return -1;
      if (slots[2 * i] === h) {
        const k = this.#keys[e - 1]!;
        if (k.length === end - start && s.startsWith(k, start)) return e - 1;
      }
    }
  }

  /**
   * Make room for `n` keys in all before they are added (a list about to be compiled), so the
   * table is not rebuilt again and again on the way.
   */
  reserve(n: number): void {
    if (n <= SMALL || (this.#slots !== null && n * 2 <= this.#mask + 1)) return;
    this.#grow(n * 2);
  }

  /** Make room for twice as many keys as there are (or `atLeast` slots), and place every entry again. */
  #grow(atLeast = 0): void {
    let size = 16;
    while (size < this.#keys.length * 4 || size < atLeast) size *= 2;
    this.#slots = new Int32Array(2 * size);
    this.#mask = size - 1;
    const hashes = this.#filter.hashes;
    for (let e = 1; e <= hashes.length; e++) this.#place(hashes[e - 1]!, e);
  }

  #place(h: number, entry: number): void {
    const slots = this.#slots!;
    const mask = this.#mask;
    let i = slotOf(h, mask);
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = h;
    slots[2 * i + 1] = entry;
  }
}
