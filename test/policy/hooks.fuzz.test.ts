/**
 * Fuzz: the path and query matcher of `mitm_hooks` (src/policy/http-path.ts, hooks.ts), against
 * references written apart from it. The property that matters is soundness: a path the matcher
 * lets through under a prefix is, however an origin reads it, still under that prefix. The
 * reference origin decodes every escape, turns backslashes into slashes, drops `;params` and
 * resolves dot segments, the most permissive reading real servers make.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { globMatcher, normalizePath, parseQuery } from "../../src/policy/http-path.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

/** How a lenient origin reads a path: every valid escape decoded as a byte, null on a malformed one. */
function originReads(path: string): string | null {
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return null;
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  const out: string[] = [];
  for (const seg of decoded.replaceAll("\\", "/").split("/")) {
    const bare = seg.split(";", 1)[0]!;
    if (bare === "..") out.pop();
    else if (bare !== ".") out.push(bare);
  }
  return out.join("/");
}

/** Reference glob: a backtracking matcher, `*` not crossing `/` (paths) and `**` crossing it. */
function refGlob(glob: string, s: string, segments: boolean): boolean {
  if (glob === "") return s === "";
  if (glob.startsWith("**") && segments) {
    for (let i = 0; i <= s.length; i++) if (refGlob(glob.slice(2), s.slice(i), segments)) return true;
    return false;
  }
  if (glob[0] === "*") {
    for (let i = 0; i <= s.length; i++) {
      if (segments && s.slice(0, i).includes("/")) break;
      if (refGlob(glob.slice(1), s.slice(i), segments)) return true;
    }
    return false;
  }
  return s.length > 0 && s[0] === glob[0] && refGlob(glob.slice(1), s.slice(1), segments);
}

const pieces = [
  ...["/", "a", "b", ".", "..", "%2e", "%2E%2e", "%2f", "%2F", "%5c", "\\", ";", "..;", "%3B", "%3b", "%61", "%25", "%", "%zz", "~", "%7e"],
  ...["?", "&", "=", "#", " ", "%20", "é", "%00", "%0a", "%C0%AE", "%EF%BC%8E", "%EF%BC%8F", "%C3%A9"],
];
const pathText = fc.array(fc.constantFrom(...pieces), { maxLength: 14 }).map((p) => `/${p.join("")}`);
const prefixText = fc.array(fc.constantFrom("/", "a", "b", "~", "-"), { minLength: 1, maxLength: 6 }).map((p) => `/${p.join("")}`);

describe("mitm_hooks path matcher (fuzz)", () => {
  test(
    "soundness: a path accepted under a prefix is under it however an origin reads it",
    () => {
      fuzz(
        "hooks: normalizePath soundness against a lenient origin",
        fc.tuple(pathText, prefixText),
        ([target, prefix]) => {
          const n = normalizePath(target);
          if (!n.ok || !n.path.startsWith(prefix)) return true;
          const read = originReads(n.path);
          expect(read).not.toBeNull();
          expect(`${target} -> ${read}`).toStartWith(`${target} -> ${prefix}`);
          // And no segment moved: the origin reads as many segments as the matcher saw.
          expect(read!.split("/").length).toBe(n.path.split("/").length);
          return true;
        },
        { base: 4000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "idempotence: a normalised path normalises to itself",
    () => {
      fuzz(
        "hooks: normalizePath idempotence",
        pathText,
        (target) => {
          const n = normalizePath(target);
          if (!n.ok) return true;
          expect(normalizePath(n.path)).toEqual({ ok: true, path: n.path, query: null });
          return true;
        },
        { base: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "globs match exactly what a backtracking reference matches",
    () => {
      const globText = fc.array(fc.constantFrom("*", "**", "/", "a", "b", ".", "+"), { maxLength: 7 }).map((p) => p.join(""));
      const subject = fc.array(fc.constantFrom("/", "a", "b", ".", "+", "ab"), { maxLength: 8 }).map((p) => p.join(""));
      fuzz(
        "hooks: globMatcher against a reference matcher",
        fc.tuple(globText, subject, fc.boolean()),
        ([glob, s, segments]) => {
          expect(globMatcher(glob, segments)(s)).toBe(refGlob(glob, s, segments));
          return true;
        },
        { base: 4000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "query pairs are the URLSearchParams reading, or refused when an escape is malformed",
    () => {
      const q = fc.array(fc.constantFrom("a", "b", "=", "&", "+", "%20", "%3D", "%26", "%", "%zz", "x"), { maxLength: 10 }).map((p) => p.join(""));
      fuzz(
        "hooks: parseQuery against URLSearchParams",
        q,
        (query) => {
          const got = parseQuery(query);
          let strict = true;
          for (const part of query.split(/[&=]/)) {
            try {
              decodeURIComponent(part.replaceAll("+", " "));
            } catch {
              strict = false;
            }
          }
          if (!strict) {
            expect(got).toBeNull();
            return true;
          }
          expect(got).toEqual([...new URLSearchParams(query)]);
          return true;
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
