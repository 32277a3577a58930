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

/** `items.map(f)` as steps, pausing every `per` items (a long list can have a problem per entry). */
export function* mapSteps<T, U>(items: readonly T[], f: (item: T) => U, per = 250): Generator<void, U[], void> {
  const out: U[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i % per === per - 1) yield;
    out.push(f(items[i]!));
  }
  return out;
}

/** `for (const item of items) f(item)` as steps, pausing every `per` items. */
export function* eachSteps<T>(items: readonly T[], f: (item: T) => void, per = 250): Generator<void, void, void> {
  for (let i = 0; i < items.length; i++) {
    if (i % per === per - 1) yield;
    f(items[i]!);
  }
}

/** How long one slice may run before the event loop gets a turn. */
export const SLICE_MS = 0.5;

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
