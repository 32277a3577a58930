/**
 * A request path as an origin will read it, for per-host rules (hooks.ts). Pure.
 *
 * The path is compared after the normalisation origins apply: percent-encoded unreserved
 * characters are decoded (`%61` is `a`, `%2E` is `.`), other escapes are kept in one spelling
 * (upper-case hex). What origins disagree about is refused rather than guessed: a target that is
 * not origin-form, an encoded or back slash, a dot segment (`.`, `..`, also `..;x` which some
 * servers read as `..`), a malformed escape, a control or non-ASCII byte, a fragment.
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
    if (c !== "%") {
      path += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { ok: false, why: "the path has a malformed %-escape" };
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    if (ch === "/" || ch === "\\") return { ok: false, why: "the path has an encoded slash (%2F or %5C), which servers read differently" };
    if (ch === "%") return { ok: false, why: "the path has an encoded % (%25), which some servers decode twice" };
    path += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  for (const seg of path.split("/")) {
    const bare = seg.split(";", 1)[0]!;
    if (bare === "." || bare === "..") return { ok: false, why: "the path has a dot segment (. or ..)" };
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

/**
 * A `pattern:` glob as a whole-string matcher. In paths `*` stays within one segment and `**`
 * crosses segments; in query and header values (`segments = false`) `*` matches anything.
 */
export function globToRegExp(glob: string, segments: boolean): RegExp {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (segments && glob[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += segments ? "[^/]*" : ".*";
    } else re += c.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`${re}$`, "s");
}
