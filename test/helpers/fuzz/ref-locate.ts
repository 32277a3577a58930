/**
 * The config key locator as it was before it indexed the text once (src/config/locate.ts):
 * one scan of the text per key looked up. The fuzz test checks the indexed locator against it.
 */
export function refLocateKey(text: string, path: readonly string[]): number {
  const arrays = new Map<string, number>();
  let table: string[] = [];
  let best = 0;
  let bestDepth = 0;
  let open: '"""' | "'''" | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (open) {
      // Inside a multi-line string: nothing here is a key until the string closes.
      if (line.includes(open)) open = null;
      continue;
    }
    const header = /^\s*(\[\[?)([^\]]*)\]\]?\s*(#.*)?$/.exec(line);
    let found: string[] | null = null;
    if (header) {
      table = splitDotted(header[2]!) ?? [];
      if (header[1] === "[[" && table.length > 0) {
        // One more table of this array: its keys are under `name#index`.
        const key = table.join("\u0000");
        const n = arrays.get(key) ?? 0;
        arrays.set(key, n + 1);
        table = [...table.slice(0, -1), `${table.at(-1)}#${n}`];
      }
      found = table;
    } else {
      const eq = keyEnd(line);
      if (eq > 0) {
        const key = splitDotted(line.slice(0, eq));
        if (key) found = [...table, ...key];
        const rest = line.slice(eq + 1);
        for (const q of ['"""', "'''"] as const) {
          const at = rest.indexOf(q);
          if (at >= 0 && rest.indexOf(q, at + 3) < 0) open = q;
        }
      }
    }
    if (!found) continue;
    const d = depth(found, path);
    if (d === path.length && found.length === path.length && found.every((f, j) => f === path[j])) return i + 1;
    if (d > bestDepth) {
      best = i + 1;
      bestDepth = d;
    }
  }
  return best;
}

/**
 * How much of `want` the key or table `found` places (its length), or 0 when it is not on that
 * path. Its last segment may stand for an element of `want` (`a` for `a#2`: an array value's line)
 * or for the whole array (`a#0` for `a`: the first of its tables).
 */
function depth(found: readonly string[], want: readonly string[]): number {
  if (found.length === 0 || found.length > want.length) return 0;
  for (let i = 0; i < found.length; i++) {
    const f = found[i]!;
    const w = want[i]!;
    if (f === w) continue;
    const lastOfFound = i === found.length - 1;
    if (lastOfFound && (w.replace(/#\d+$/, "") === f || f.replace(/#\d+$/, "") === w)) continue;
    return 0;
  }
  return found.length;
}

/** Index of the `=` that ends a key at the start of `line`, or -1 (quotes respected). */
function keyEnd(line: string): number {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "=") return i;
    else if (c === "#") return -1;
  }
  return -1;
}

/** `a . "b.c" . d` → ["a", "b.c", "d"]; null when it is not a key. */
function splitDotted(s: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === " " || s[i] === "\t") i++;
    const c = s[i];
    if (c === '"' || c === "'") {
      const end = s.indexOf(c, i + 1);
      if (end < 0) return null;
      parts.push(s.slice(i + 1, end));
      i = end + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return null;
      parts.push(m[0]);
      i += m[0].length;
    }
    while (s[i] === " " || s[i] === "\t") i++;
    if (i < s.length) {
      if (s[i] !== ".") return null;
      i++;
    }
  }
  return parts.length ? parts : null;
}
