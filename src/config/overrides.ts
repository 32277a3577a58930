/**
 * `-c dotted.key=value` overrides, as Codex's CLI takes them: the value is parsed as a TOML value
 * and, when that fails, used as a bare string (`-c network_proxy.mode=limited` works).
 */
import { parse as parseToml } from "smol-toml";

export interface Override {
  readonly path: readonly string[];
  readonly value: unknown;
  readonly source: string;
}

/** Parse one `-c` argument. Throws an Error with a message for humans. */
export function parseOverride(arg: string): Override {
  const eq = findUnquoted(arg, "=");
  if (eq <= 0) throw new Error(`-c ${JSON.stringify(arg)}: expected KEY=VALUE, e.g. -c network_proxy.mode='"limited"'`);
  const path = splitKey(arg.slice(0, eq).trim(), arg);
  const text = arg.slice(eq + 1).trim();
  return { path, value: parseValue(text), source: arg };
}

function parseValue(text: string): unknown {
  try {
    return parseToml(`v = ${text}`)["v"];
  } catch {
    return text;
  }
}

function findUnquoted(s: string, ch: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === ch && !quoted) return i;
  }
  return -1;
}

/** Split `a.b."c.d"` into `["a","b","c.d"]`. */
function splitKey(key: string, arg: string): string[] {
  const parts: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`-c ${JSON.stringify(arg)}: ${why}`);
  };
  while (i < key.length) {
    if (key[i] === '"') {
      const end = key.indexOf('"', i + 1);
      if (end < 0) fail("unterminated quote in key");
      parts.push(key.slice(i + 1, end));
      i = end + 1;
    } else {
      let end = key.indexOf(".", i);
      if (end < 0) end = key.length;
      const part = key.slice(i, end).trim();
      if (!isBareKey(part)) fail(`invalid key segment ${JSON.stringify(part)}`);
      parts.push(part);
      i = end;
    }
    if (i < key.length) {
      if (key[i] !== ".") fail("expected '.' between key segments");
      i++;
      if (i === key.length) fail("key ends with '.'");
    }
  }
  if (parts.length === 0) fail("empty key");
  return parts;
}

/**
 * Apply overrides to a parsed document, creating tables on the way. Returns a new document; `doc`
 * is left as it was. Only the tables an override writes into are copied (once each): the rest,
 * long lists included, is shared with `doc`, and the caller reads it without writing.
 */
export function applyOverrides(doc: Record<string, unknown>, overrides: readonly Override[]): Record<string, unknown> {
  const root: Record<string, unknown> = { ...doc };
  const copied = new Set<object>([root]);
  for (const o of overrides) {
    let t: Record<string, unknown> = root;
    for (const seg of o.path.slice(0, -1)) {
      const next = t[seg];
      if (typeof next === "object" && next !== null && !Array.isArray(next)) {
        if (!copied.has(next)) {
          const copy = { ...(next as Record<string, unknown>) };
          copied.add(copy);
          t[seg] = copy;
          t = copy;
        } else t = next as Record<string, unknown>;
      } else {
        const fresh: Record<string, unknown> = {};
        copied.add(fresh);
        t[seg] = fresh;
        t = fresh;
      }
    }
    t[o.path[o.path.length - 1]!] = o.value;
  }
  return root;
}

/** A TOML bare key: one or more ASCII letters, digits, "_" and "-" (a scan: no regular expression at start-up). */
function isBareKey(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d)) return false;
  }
  return true;
}
