/**
 * Where a config problem comes from, prefixed to its text: the last `-c` override that set its
 * key (or a table above it), else `config.toml:LINE`. The config text is read for lines at most
 * once, however many problems are placed (a long list can have a warning per entry).
 */
import { KeyLocator } from "./locate.ts";
import type { Override } from "./overrides.ts";
import type { Problem } from "./problem.ts";

export function formatProblem(p: Problem, at = ""): string {
  const text = p.key ? `${p.key}: ${p.message}` : p.message;
  return at ? `${at}: ${text}` : text;
}

export class ProblemPlacer {
  #locator: KeyLocator | null = null;

  /** `text` is the config file's (null when there is none); `path` is where it was read from. */
  constructor(
    readonly text: string | null,
    readonly path: string,
    readonly overrides: readonly Override[],
  ) {}

  /**
   * Read the text for lines now, in steps (steps.ts), instead of in one piece when the first
   * problem is placed: before placing the problems of a long list during a reload.
   */
  *prepare(): Generator<void, void, void> {
    if (this.text !== null && this.#locator === null) this.#locator = yield* KeyLocator.steps(this.text);
  }

  /** The problem's text, prefixed with where it was set. */
  readonly place = (p: Problem): string => formatProblem(p, this.#where(p.key));

  #where(key: string): string {
    const plain = key.replace(/\[\d+\]/g, "").split(".");
    const under = (a: readonly string[], b: readonly string[]) => a.length <= b.length && a.every((s, i) => s === b[i]);
    for (let i = this.overrides.length - 1; i >= 0; i--) {
      const o = this.overrides[i]!;
      if (under(o.path, plain) || under(plain, o.path)) return `-c ${JSON.stringify(o.source)}`;
    }
    // `a[2].b` is in the third table of the array `a` (or the third element of its value).
    const path = key.replace(/\[(\d+)\]/g, "#$1").split(".");
    if (this.text === null || !key) return "";
    this.#locator ??= new KeyLocator(this.text);
    const line = this.#locator.line(path);
    return line ? `${this.path}:${line}` : this.path;
  }
}
