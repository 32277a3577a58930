/**
 * TOML parsing as steps (steps.ts), so that a config with a long list does not stall the event
 * loop while a reload parses it. smol-toml parses in one synchronous call, which for 100,000
 * patterns holds the loop for 7-16 ms; nearly all of that is the long arrays of strings.
 *
 * So a scan first finds the long arrays of plain strings that are values of bare keys under
 * plain table headers (`[network_proxy.policy]` then `allowed_domains = [ "a", 'b', ... ]`),
 * and replaces each by an empty array spanning the same lines. smol-toml parses that short
 * document, and the strings are read here, a slice at a time, and put in place. A string with an
 * escape is decoded by smol-toml itself. Anything the scan is not sure of (a multi-line string,
 * a quoted table name, an element that is not a string, a control character...) leaves that
 * array, or the whole document, to smol-toml as it is; and any error is reported from a parse of
 * the original text, so messages, lines and columns are smol-toml's. (toml.fuzz.test.ts holds
 * the result equal to smol-toml's for generated documents.)
 */
import { parse as parseToml } from "smol-toml";

/** Arrays shorter than this are left to smol-toml: not worth a slice. */
const MIN_ELEMENTS = 512;
/** Strings read per step. */
const PER_STEP = 1000;

interface Found {
  /** The table the key is in, by bare names. */
  readonly path: readonly string[];
  readonly key: string;
  /** text[open] is "[", text[close] is "]". */
  readonly open: number;
  readonly close: number;
  /** Each element as written, quotes included. */
  readonly raw: string[];
}

const isBare = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;
const isBlank = (c: number) => c === 0x20 || c === 0x09;
/** Characters TOML does not allow in a string as written (tab is allowed). */
const isControl = (c: number) => (c < 0x20 && c !== 0x09) || c === 0x7f;

/** A table header line's names (`[a.b]`, blanks around the dots allowed), or null when not only bare names. */
function headerPath(line: string): string[] | null {
  const s = line.trim();
  const hash = s.indexOf("#");
  const body = (hash < 0 ? s : s.slice(0, hash)).trimEnd();
  if (!body.startsWith("[") || body.startsWith("[[") || !body.endsWith("]")) return null;
  const names = body
    .slice(1, -1)
    .split(".")
    .map((n) => n.trim());
  for (const n of names) {
    if (n.length === 0) return null;
    for (let i = 0; i < n.length; i++) if (!isBare(n.charCodeAt(i))) return null;
  }
  return names;
}

/** Skip blanks, newlines and comments from `i`; -1 on a character TOML forbids in a comment. */
function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a) i++;
    else if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i += 2;
    else if (c === 0x23) {
      i++;
      for (;;) {
        const d = text.charCodeAt(i);
        if (Number.isNaN(d) || d === 0x0a || (d === 0x0d && text.charCodeAt(i + 1) === 0x0a)) break;
        if (isControl(d)) return -1;
        i++;
      }
    } else return i;
  }
}

/** The array of one-line strings that opens at text[open], or null if it is anything else. */
function* stringArray(text: string, open: number): Generator<void, { close: number; raw: string[] } | null, void> {
  const raw: string[] = [];
  let i = skipSpace(text, open + 1);
  for (;;) {
    if (i < 0) return null;
    if (raw.length % PER_STEP === PER_STEP - 1) yield;
    const q = text.charCodeAt(i);
    if (q === 0x5d) return { close: i, raw };
    if (q !== 0x22 && q !== 0x27) return null;
    // Multi-line strings ("""...""" or '''...''') are smol-toml's.
    if (text.charCodeAt(i + 1) === q && text.charCodeAt(i + 2) === q) return null;
    let j = i + 1;
    for (;;) {
      const c = text.charCodeAt(j);
      if (Number.isNaN(c) || isControl(c)) return null;
      if (c === q) break;
      if (c === 0x5c && q === 0x22) j++; // an escape: the next character is part of it
      j++;
    }
    raw.push(text.slice(i, j + 1));
    i = skipSpace(text, j + 1);
    if (i < 0) return null;
    const sep = text.charCodeAt(i);
    if (sep === 0x2c) i = skipSpace(text, i + 1);
    else if (sep === 0x5d) return { close: i, raw };
    else return null;
  }
}

/** Find the long string arrays (see the file comment), or null to leave the whole text to smol-toml. */
function* findArrays(text: string, minElements: number): Generator<void, Found[] | null, void> {
  const found: Found[] = [];
  let path: string[] | null = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte order mark
  const n = text.length;
  while (i < n) {
    // At the start of a line, outside any value.
    let j = i;
    while (j < n && isBlank(text.charCodeAt(j))) j++;
    const c = text.charCodeAt(j);
    let eol = text.indexOf("\n", j);
    if (eol < 0) eol = n;
    if (c === 0x5b) {
      // A table header: only plain names are followed; any other header ends the search below it.
      const line = text.slice(j, eol);
      if (line.includes('"') || line.includes("'")) return null; // a quoted name may hold "]" or "#"
      // After an array of tables, a header such as [a.b] may name a table inside its last element:
      // from there on, smol-toml alone.
      if (text.charCodeAt(j + 1) === 0x5b) return found;
      path = headerPath(line);
      i = eol + 1;
      continue;
    }
    let k = j;
    while (k < n && isBare(text.charCodeAt(k))) k++;
    if (path !== null && k > j) {
      let m = k;
      while (m < n && isBlank(text.charCodeAt(m))) m++;
      if (text.charCodeAt(m) === 0x3d) {
        m++;
        while (m < n && isBlank(text.charCodeAt(m))) m++;
        if (text.charCodeAt(m) === 0x5b) {
          const arr = yield* stringArray(text, m);
          if (arr && arr.raw.length >= minElements) {
            found.push({ path, key: text.slice(j, k), open: m, close: arr.close, raw: arr.raw });
            i = arr.close + 1;
            // The rest of that line: a comment, or something smol-toml will judge.
            const next = text.indexOf("\n", i);
            if (next < 0) break;
            if (!restOfLineIsPlain(text, i, next)) return null;
            i = next + 1;
            continue;
          }
        }
      }
    }
    // Any other line: its value may span lines (an array, a multi-line string); step over it.
    const end = valueEnd(text, j);
    if (end < 0) return null;
    i = end;
  }
  return found;
}

/** text[from, to) holds nothing but blanks and a comment without quotes. */
function restOfLineIsPlain(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x27) return false;
  }
  return true;
}

/**
 * From a line start, the index after the line that ends the statement begun there (strings,
 * comments and brackets followed), or -1 when unsure (a multi-line string).
 */
function valueEnd(text: string, from: number): number {
  let depth = 0;
  let i = from;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x27) {
      if (text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c) return -1;
      let j = i + 1;
      for (;;) {
        const d = text.charCodeAt(j);
        if (Number.isNaN(d) || d === 0x0a) return -1; // unterminated: smol-toml says where
        if (d === c) break;
        if (d === 0x5c && c === 0x22) j++;
        j++;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x23) {
      const eol = text.indexOf("\n", i);
      i = eol < 0 ? n : eol;
      continue;
    }
    if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x0a && depth <= 0) return i + 1;
    i++;
  }
  return n;
}

/** A table as smol-toml makes them: a plain object, not an array. */
function ownTable(v: unknown): v is object {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The document `text` as smol-toml reads it, in steps; throws smol-toml's error for the original
 * text. `minElements`: the shortest array read here (tests read every one).
 */
export function* parseTomlSteps(text: string, minElements = MIN_ELEMENTS): Generator<void, Record<string, unknown>, void> {
  const found = yield* findArrays(text, minElements);
  if (found === null || found.length === 0) return parseToml(text) as Record<string, unknown>;
  // Each array becomes "[", its newlines, "]": every other line and column stays where it was.
  let short = "";
  let at = 0;
  for (const f of found) {
    let lines = 0;
    for (let i = text.indexOf("\n", f.open); i >= 0 && i < f.close; i = text.indexOf("\n", i + 1)) lines++;
    short += text.slice(at, f.open + 1) + "\n".repeat(lines) + "]";
    at = f.close + 1;
  }
  short += text.slice(at);
  yield;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(short) as Record<string, unknown>;
  } catch {
    return parseToml(text) as Record<string, unknown>; // throws the error as the whole text has it
  }
  const values: unknown[][] = [];
  for (const f of found) {
    const out: unknown[] = [];
    for (let i = 0; i < f.raw.length; i++) {
      if (i % PER_STEP === PER_STEP - 1) yield;
      const r = f.raw[i]!;
      if (!r.includes("\\")) out.push(r.slice(1, -1));
      else {
        try {
          out.push(parseToml(`v = ${r}`)["v"]);
        } catch {
          return parseToml(text) as Record<string, unknown>; // a bad escape: the error as the whole text has it
        }
      }
    }
    values.push(out);
  }
  for (let x = 0; x < found.length; x++) {
    const f = found[x]!;
    // Only tables the path names by their own keys (never an array's element, never a prototype's).
    let table: unknown = doc;
    for (const name of f.path) table = ownTable(table) && Object.hasOwn(table, name) ? (table as Record<string, unknown>)[name] : undefined;
    const slot = ownTable(table) && Object.hasOwn(table, f.key) ? (table as Record<string, unknown>)[f.key] : undefined;
    // The empty array left in its place must be there, as the parse of the short text made it.
    if (!Array.isArray(slot) || slot.length !== 0) return parseToml(text) as Record<string, unknown>;
    (table as Record<string, unknown>)[f.key] = values[x];
  }
  return doc;
}
