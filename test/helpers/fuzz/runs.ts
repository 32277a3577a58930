/**
 * Run lengths for the fuzz tests, and a tally of how many inputs each property tried.
 *
 * - Default (CI, `bun test`): every property runs its small `base` count, so the whole
 *   directory stays well under 10 seconds.
 * - `FUZZ_RUNS=N`: a long run. Each property runs `max(base, N * weight)` inputs; `weight` is
 *   below 1 for properties whose inputs are expensive (large buffers, byte-by-byte feeding).
 * - `FUZZ_SEED=S` (and `FUZZ_PATH=P`, both printed by fast-check on a failure) replay a failure.
 * - `FUZZ_REPORT=file` appends one JSON line per property: {"property","runs","ms"}, so a
 *   script can add up the totals. In a long run a one-line summary is also printed per property.
 */
import { appendFileSync } from "node:fs";
import fc from "fast-check";

const RAW_RUNS = process.env.FUZZ_RUNS;
const FACTOR = RAW_RUNS !== undefined && RAW_RUNS !== "" ? Number(RAW_RUNS) : 0;
if (!Number.isFinite(FACTOR) || FACTOR < 0) throw new Error(`FUZZ_RUNS must be a non-negative number, got ${JSON.stringify(RAW_RUNS)}`);

/** True when FUZZ_RUNS asks for a long run. */
export const LONG_RUN = FACTOR > 0;

/** Per-test time-out to pass to `test()`: generous in a long run, bounded in CI. */
export const FUZZ_TIMEOUT_MS = LONG_RUN ? 6 * 60 * 60 * 1000 : 30_000;

/** Largest time one input may take before the property fails as a hang (bounded input, bounded time). */
export const MAX_MS_PER_INPUT = 1000;

/** How many inputs a property should try: `base` by default, `FUZZ_RUNS * weight` (at least `base`) in a long run. */
export function numRuns(base: number, weight = 1): number {
  if (!LONG_RUN) return base;
  return Math.max(base, Math.round(FACTOR * weight));
}

const tried = new Map<string, number>();

/** Record that `property` tried `runs` inputs (added up when a property is checked more than once). */
export function recordRuns(property: string, runs: number, ms = 0): void {
  tried.set(property, (tried.get(property) ?? 0) + runs);
  const report = process.env.FUZZ_REPORT;
  if (report) appendFileSync(report, JSON.stringify({ property, runs, ms: Math.round(ms) }) + "\n");
  if (LONG_RUN) console.log(`fuzz: ${property}: ${runs} inputs in ${(ms / 1000).toFixed(1)} s`);
}

/** Inputs tried so far in this process, by property. */
export function runTotals(): ReadonlyMap<string, number> {
  return tried;
}

export interface FuzzOptions {
  /** Runs in CI. */
  readonly base: number;
  /** Multiplier on FUZZ_RUNS for a long run (default 1). */
  readonly weight?: number;
}

/**
 * `fc.assert` that also records how many inputs were tried and fails an input that takes longer
 * than MAX_MS_PER_INPUT (a hang on bounded input). The predicate throws (or returns false) to fail.
 */
export function fuzz<T>(property: string, arb: fc.Arbitrary<T>, predicate: (value: T) => boolean | undefined, opts: FuzzOptions): void {
  const seedText = process.env.FUZZ_SEED;
  const pathText = process.env.FUZZ_PATH;
  const params: fc.Parameters<[T]> = {
    numRuns: numRuns(opts.base, opts.weight ?? 1),
    ...(seedText ? { seed: Number(seedText) } : {}),
    ...(pathText ? { path: pathText } : {}),
  };
  const t0 = performance.now();
  const details = fc.check(
    fc.property(arb, (v) => {
      const start = performance.now();
      const ok = predicate(v);
      const ms = performance.now() - start;
      if (ms > MAX_MS_PER_INPUT) throw new Error(`one input took ${ms.toFixed(0)} ms (limit ${MAX_MS_PER_INPUT} ms): bounded input must take bounded time`);
      return ok;
    }),
    params,
  );
  recordRuns(property, details.numRuns, performance.now() - t0);
  if (details.failed) throw new Error(`${property}\n${fc.defaultReportMessage(details)}`);
}
