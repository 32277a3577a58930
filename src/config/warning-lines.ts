/**
 * Which of a config's warnings to log, and how: at start-up all of them; on a reload only those
 * the running config did not have already (they were logged when it was loaded). A long list can
 * bring thousands of warnings of one kind, so past MAX_LOGGED one line counts the rest and names
 * the command that lists every one.
 */
import { runSteps } from "./steps.ts";

/** Warnings logged one per line per load; the rest are counted. */
export const MAX_LOGGED = 100;

export function warningLines(warnings: readonly string[], alreadyLogged: readonly string[] | null = null, max = MAX_LOGGED): string[] {
  return runSteps(warningLinesSteps(warnings, alreadyLogged, max));
}

/** Warnings compared per step: each is hashed, and they can be long. */
const PER_STEP = 250;

/** warningLines as steps (a reload compares 10,000 warnings with 10,000 without a long pause). */
export function* warningLinesSteps(
  warnings: readonly string[],
  alreadyLogged: readonly string[] | null = null,
  max = MAX_LOGGED,
): Generator<void, string[], void> {
  let fresh = warnings;
  if (alreadyLogged !== null && alreadyLogged.length > 0) {
    const seen = new Set<string>();
    for (let i = 0; i < alreadyLogged.length; i++) {
      if (i % PER_STEP === PER_STEP - 1) yield;
      seen.add(alreadyLogged[i]!);
    }
    const kept: string[] = [];
    for (let i = 0; i < warnings.length; i++) {
      if (i % PER_STEP === PER_STEP - 1) yield;
      if (!seen.has(warnings[i]!)) kept.push(warnings[i]!);
    }
    fresh = kept;
  }
  if (fresh.length <= max) return [...fresh];
  const more = fresh.length - max;
  return [
    ...fresh.slice(0, max),
    `${more.toLocaleString("en-US")} more warning${more === 1 ? "" : "s"} not shown; \`codex-network-proxy check\` lists every one`,
  ];
}
