/**
 * Work written as a generator that yields between pieces (compilePolicySteps, buildConfigSteps),
 * run either at once or in slices that give the event loop back between them. The generator is
 * the same either way, so both runs compute the same result.
 */

/** Run every step now, synchronously (start-up, tests, tools). */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** `items.map(f)` as steps, pausing every 1000 items (a long list can have a problem per entry). */
export function* mapSteps<T, U>(items: readonly T[], f: (item: T) => U): Generator<void, U[], void> {
  const out: U[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i % 1000 === 999) yield;
    out.push(f(items[i]!));
  }
  return out;
}

/** How long one slice may run before the event loop gets a turn. */
export const SLICE_MS = 4;

/**
 * Run the steps in slices of about `sliceMs`, with a macrotask turn (setImmediate) between
 * slices: pending I/O and timers run there, so a long piece of work does not stall them. A throw
 * from a step rejects the promise.
 */
export async function runStepsSliced<T>(steps: Generator<void, T, void>, sliceMs = SLICE_MS): Promise<T> {
  for (;;) {
    const end = performance.now() + sliceMs;
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() >= end) break;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
