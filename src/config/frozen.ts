/**
 * A frozen copy of a list, made in steps (steps.ts). Object.freeze of a long array is one
 * uninterruptible piece of work (about 40 ms for 100,000 entries in JSC, which rewrites the
 * whole array to make it read-only); defining the copy's entries read-only one by one, from an
 * empty array, costs about the same in all but can pause between them. The result is the same
 * as Object.freeze([...items]): an Array whose entries and length cannot be written, deleted or
 * added to (Object.isFrozen is true).
 */

/** Entries defined between two pauses (defineProperty on an array costs microseconds each). */
const STEP_ENTRIES = 200;

export function* frozenCopySteps<T>(items: readonly T[]): Generator<void, readonly T[], void> {
  if (items.length <= STEP_ENTRIES) return Object.freeze([...items]);
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i % STEP_ENTRIES === STEP_ENTRIES - 1) yield;
    Object.defineProperty(out, i, { value: items[i], writable: false, enumerable: true, configurable: false });
  }
  // Every index is now read-only; what freeze adds is a read-only length and no new properties.
  Object.defineProperty(out, "length", { writable: false });
  return Object.preventExtensions(out);
}
