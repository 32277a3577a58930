/**
 * Where in a TOML file a dotted key is set, so that a problem can say `config.toml:12`.
 *
 * The parser we use returns values without positions, so this re-reads the text line by line,
 * following table headers, dotted keys and multi-line strings. It only has to find lines in
 * text the parser already accepted; when it cannot place a key it returns 0 and the problem is
 * reported without a line.
 */
import { runSteps } from "./steps.ts";

/**
 * 1-based line where `path` (or the nearest table or key holding it) is set; 0 when unknown. A
 * segment `name#2` is the third `[[...name]]` table of an array of tables; on the last segment it
 * may also be an element of an array value, whose line is its key's.
 */
export function locateKey(text: string, path: readonly string[]): number {
  return new KeyLocator(text).line(path);
}

/** A key or table header the text sets, and its 1-based line. */
interface KeyLine {
  readonly found: readonly string[];
  readonly line: number;
}

/**
 * locateKey for many keys of one text: the text is read once, and each key is then placed
 * among the lines that set a key or open a table (the elements of a long array set none), so
 * placing every problem of a config with 100,000 list entries costs one pass over it, not one
 * per problem.
 */
export class KeyLocator {
  #keys: readonly KeyLine[];

  /** Reads `text` now, in one piece. */
  constructor(text: string) {
    this.#keys = runSteps(readKeys(text));
  }

  /** The same locator, read in steps (steps.ts): a reload places warnings in a long config. */
  static *steps(text: string): Generator<void, KeyLocator, void> {
    const keys = yield* readKeys(text);
    const locator = new KeyLocator("");
    locator.#keys = keys;
    return locator;
  }

  /** locateKey(text, path) for the text this was made from. */
  line(path: readonly string[]): number {
    let best = 0;
    let bestDepth = 0;
    for (const { found, line } of this.#keys) {
      const d = depth(found, path);
      if (d === path.length && found.length === path.length && found.every((f, j) => f === path[j])) return line;
      if (d > bestDepth) {
        best = line;
        bestDepth = d;
      }
    }
    return best;
  }
}

/** Lines read between two pauses of readKeys. */
const STEP_LINES = 2000;

/** The lines of `text` that set a key or open a table, pausing every STEP_LINES lines. */
function* readKeys(text: string): Generator<void, KeyLine[], void> {
  const keys: KeyLine[] = [];
  const arrays = new Map<string, number>();
  let table: string[] = [];
  let open: '"""' | "'''" | null = null;
  // The lines of text.split("\n"), one at a time (the last may be empty).
  for (let i = 0, start = 0; start <= text.length; i++) {
    if (i % STEP_LINES === STEP_LINES - 1) yield;
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl;
    const line = text.slice(start, end);
    start = end + 1;
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
    if (found) keys.push({ found, line: i + 1 });
  }
  return keys;
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
