/**
 * A request path as an origin will read it, for per-host rules (hooks.ts). Pure.
 *
 * The path is compared after the normalisation origins apply: percent-encoded unreserved
 * characters are decoded (`%61` is `a`, `%2E` is `.`), other escapes are kept in one spelling
 * (upper-case hex). What origins disagree about is refused rather than guessed: a target that is
 * not origin-form, an encoded or back slash, a dot segment, a `;` (path parameters, which some
 * servers strip, so `..;` reads as `..`), a malformed escape, an encoded control character,
 * escapes that are not UTF-8 or that Unicode folds into other characters, a raw control or
 * non-ASCII byte, a fragment.
 */

export type PathResult = { readonly ok: true; readonly path: string; readonly query: string | null } | { readonly ok: false; readonly why: string };

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;

export function normalizePath(target: string): PathResult {
  if (!target.startsWith("/")) return { ok: false, why: "the request target is not a path (origin form)" };
  if (target.includes("#")) return { ok: false, why: "the request target has a fragment" };
  const q = target.indexOf("?");
  const raw = q < 0 ? target : target.slice(0, q);
  let path = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    const code = c.charCodeAt(0);
    if (code <= 0x20 || code >= 0x7f) return { ok: false, why: "the path has a control, space or non-ASCII character" };
    if (c === "\\") return { ok: false, why: "the path has a backslash, which some servers read as /" };
    if (c === ";") return { ok: false, why: "the path has a ; (a path parameter), which some servers strip before matching" };
    if (c !== "%") {
      path += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { ok: false, why: "the path has a malformed %-escape" };
    const code2 = Number.parseInt(hex, 16);
    const ch = String.fromCharCode(code2);
    if (ch === "/" || ch === "\\") return { ok: false, why: "the path has an encoded slash (%2F or %5C), which servers read differently" };
    if (ch === "%") return { ok: false, why: "the path has an encoded % (%25), which some servers decode twice" };
    if (ch === ";") return { ok: false, why: "the path has an encoded ; (%3B), which some servers read as a path parameter" };
    if (code2 < 0x20 || code2 === 0x7f)
      return { ok: false, why: "the path has an encoded control character (such as %00), which servers cut or read differently" };
    path += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  for (const seg of path.split("/")) {
    if (seg === "." || seg === "..") return { ok: false, why: "the path has a dot segment (. or ..)" };
  }
  // Escaped bytes beyond ASCII must be UTF-8, and in a form no server folds into another
  // (overlong sequences, fullwidth dots and slashes): those are how old traversal bugs read.
  if (path.includes("%")) {
    let text: string;
    try {
      text = decodeURIComponent(path);
    } catch {
      return { ok: false, why: "the path has escapes that are not UTF-8 (such as an overlong %C0%AE)" };
    }
    if (text.normalize("NFKC") !== text) return { ok: false, why: "the path has characters servers may fold into others (such as a fullwidth . or /)" };
  }
  return { ok: true, path, query: q < 0 ? null : target.slice(q + 1) };
}

/**
 * `a=1&b=x+y&a=2` as [key, value] pairs, decoded (`+` is a space, as in form encoding); null when
 * an escape is malformed, so that a query no two servers would read alike matches nothing.
 */
export function parseQuery(query: string | null): Array<[string, string]> | null {
  if (query === null || query === "") return [];
  const out: Array<[string, string]> = [];
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? "" : part.slice(eq + 1);
    try {
      out.push([decodeURIComponent(k.replaceAll("+", " ")), decodeURIComponent(v.replaceAll("+", " "))]);
    } catch {
      return null;
    }
  }
  return out;
}

type GlobToken = { readonly kind: "char"; readonly c: string } | { readonly kind: "star" } | { readonly kind: "any" };

/**
 * A `pattern:` glob as a whole-string matcher. In paths `*` stays within one segment and `**`
 * crosses segments; in query and header values (`segments = false`) `*` matches anything.
 * Matched by walking the set of pattern positions along the subject (an NFA), so the time is
 * linear in the subject for a given glob: a hostile path cannot make it backtrack.
 */
export function globMatcher(glob: string, segments: boolean): (s: string) => boolean {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] !== "*") tokens.push({ kind: "char", c: glob[i]! });
    else if (segments && glob[i + 1] === "*") {
      tokens.push({ kind: "any" });
      i++;
    } else tokens.push({ kind: segments ? "star" : "any" });
  }
  const m = tokens.length;
  // A star at position j may match nothing: position j+1 is reachable wherever j is.
  const close = (set: Uint8Array) => {
    for (let j = 0; j < m; j++) if (set[j] && tokens[j]!.kind !== "char") set[j + 1] = 1;
  };
  return (s) => {
    let cur = new Uint8Array(m + 1);
    let next = new Uint8Array(m + 1);
    cur[0] = 1;
    close(cur);
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      next.fill(0);
      let alive = false;
      for (let j = 0; j < m; j++) {
        if (!cur[j]) continue;
        const t = tokens[j]!;
        if (t.kind === "char") {
          if (t.c !== c) continue;
          next[j + 1] = 1;
        } else if (t.kind === "any" || c !== "/") next[j] = 1;
        else continue;
        alive = true;
      }
      if (!alive) return false;
      close(next);
      [cur, next] = [next, cur];
    }
    return cur[m] === 1;
  };
}
