/**
 * What a reload changed, in words: one line per list entry added or removed and one per other
 * key whose effective value moved. Secrets are named, never shown. Pure.
 */
import type { LoadedConfig } from "./load.ts";
import { allKeys, ROOT } from "./schema.ts";
import { runSteps } from "./steps.ts";

export function diffConfig(prev: LoadedConfig, next: LoadedConfig): string[] {
  return runSteps(diffConfigSteps(prev, next));
}

/** Entries read between two pauses of diffConfigSteps. */
const STEP_ENTRIES = 1000;

/** diffConfig as steps (steps.ts): it pauses every STEP_ENTRIES entries of a changed list. */
export function* diffConfigSteps(prev: LoadedConfig, next: LoadedConfig): Generator<void, string[], void> {
  const out: string[] = [];
  for (const { key, spec } of allKeys()) {
    const name = key.slice(ROOT.length + 1);
    const a = valueAt(prev.np, name);
    const b = valueAt(next.np, name);
    if (spec.kind === "strings") {
      // The same entries in the same order (most reloads of a long list): nothing added or removed.
      if (yield* sameEntries(a as string[], b as string[])) continue;
      const label = name.slice(name.lastIndexOf(".") + 1);
      const A = yield* lowerSet(a as string[]);
      const B = yield* lowerSet(b as string[]);
      const bs = b as string[];
      for (let i = 0; i < bs.length; i++) {
        if (i % STEP_ENTRIES === STEP_ENTRIES - 1) yield;
        if (!A.has(bs[i]!.toLowerCase())) out.push(`added to ${label}: ${bs[i]}`);
      }
      const as = a as string[];
      for (let i = 0; i < as.length; i++) {
        if (i % STEP_ENTRIES === STEP_ENTRIES - 1) yield;
        if (!B.has(as[i]!.toLowerCase())) out.push(`removed from ${label}: ${as[i]}`);
      }
    } else if (spec.kind === "hooks") {
      if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`mitm_hooks: ${(a as unknown[]).length} -> ${(b as unknown[]).length} entries, changed`);
    } else if (a !== b) {
      if (spec.kind === "string" && spec.secret) out.push(`${name} changed`);
      else out.push(`${name}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    }
  }
  // A secret rotated behind the same source: named, never shown.
  for (const [host, hooks] of next.hooks) {
    const before = prev.hooks.get(host) ?? [];
    hooks.forEach((h, i) => {
      for (const inj of h.inject) {
        const old = before[i]?.inject.find((x) => x.lower === inj.lower && x.source === inj.source);
        if (old && old.value.reveal() !== inj.value.reveal()) out.push(`${h.label}: the ${inj.name} secret (${inj.source}) changed`);
      }
    });
  }
  return out;
}

function* lowerSet(items: readonly string[]): Generator<void, Set<string>, void> {
  const set = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    if (i % STEP_ENTRIES === STEP_ENTRIES - 1) yield;
    set.add(items[i]!.toLowerCase());
  }
  return set;
}

function* sameEntries(a: readonly string[], b: readonly string[]): Generator<void, boolean, void> {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (i % STEP_ENTRIES === STEP_ENTRIES - 1) yield;
    if (a[i] !== b[i]) return false;
  }
  return true;
}

function valueAt(np: object, dotted: string): unknown {
  let v: unknown = np;
  for (const part of dotted.split(".")) v = (v as Record<string, unknown>)[part];
  return v;
}
