/**
 * Where in a TOML file a dotted key is set, so that a problem can say `config.toml:12`.
 *
 * The parser we use returns values without positions, so this re-reads the text line by line,
 * following table headers, dotted keys and multi-line strings. It only has to find lines in
 * text the parser already accepted; when it cannot place a key it returns 0 and the problem is
 * reported without a line.
 */

/** 1-based line where `path` (or the nearest table or key holding it) is set; 0 when unknown. */
export function locateKey(text: string, path: readonly string[]): number {
  const want = path.join("\u0000");
  let table: string[] = [];
  let fallback = 0;
  let open: '"""' | "'''" | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (open) {
      // Inside a multi-line string: nothing here is a key until the string closes.
      if (line.includes(open)) open = null;
      continue;
    }
    const header = /^\s*\[\[?([^\]]*)\]\]?\s*(#.*)?$/.exec(line);
    let found: string[] | null = null;
    if (header) {
      table = splitDotted(header[1]!) ?? [];
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
    const got = found.join("\u0000");
    if (got === want) return i + 1;
    // A table or inline table that holds the key: the best line when the key itself is not on one.
    if (fallback === 0 && found.length > 0 && want.startsWith(got + "\u0000")) fallback = i + 1;
  }
  return fallback;
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
