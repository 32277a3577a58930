/**
 * What a reload changed, in words: one line per list entry added or removed and one per other
 * key whose effective value moved. Secrets are named, never shown. Pure.
 */
import type { LoadedConfig } from "./load.ts";
import { allKeys, ROOT } from "./schema.ts";

export function diffConfig(prev: LoadedConfig, next: LoadedConfig): string[] {
  const out: string[] = [];
  for (const { key, spec } of allKeys()) {
    const name = key.slice(ROOT.length + 1);
    const a = valueAt(prev.np, name);
    const b = valueAt(next.np, name);
    if (spec.kind === "strings") {
      // The same entries in the same order (most reloads of a long list): nothing added or removed.
      if (sameEntries(a as string[], b as string[])) continue;
      const label = name.slice(name.lastIndexOf(".") + 1);
      const A = new Set((a as string[]).map((s) => s.toLowerCase()));
      const B = new Set((b as string[]).map((s) => s.toLowerCase()));
      for (const s of b as string[]) if (!A.has(s.toLowerCase())) out.push(`added to ${label}: ${s}`);
      for (const s of a as string[]) if (!B.has(s.toLowerCase())) out.push(`removed from ${label}: ${s}`);
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

function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function valueAt(np: object, dotted: string): unknown {
  let v: unknown = np;
  for (const part of dotted.split(".")) v = (v as Record<string, unknown>)[part];
  return v;
}
