/**
 * Limited ("read-only") mode's method policy: exactly GET, HEAD and OPTIONS, and none of the
 * known ways around a pure method check: an `Upgrade` (a WebSocket is a two-way channel),
 * method-override headers naming an unsafe method, and bodies on the safe methods.
 */
import type { Mode } from "../config/schema.ts";

export const LIMITED_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** Header names frameworks honour as "treat this request as method X". Lowercase. */
export const METHOD_OVERRIDE_HEADERS: readonly string[] = ["x-http-method-override", "x-http-method", "x-method-override"];

export interface MethodRequest {
  /** As sent (case-sensitive: `get` is not GET). */
  readonly method: string;
  /** A body is framed (Content-Length > 0 or chunked). */
  readonly hasBody: boolean;
  /** The request asks for a protocol upgrade. */
  readonly upgrade: boolean;
  /** Values of method-override headers. */
  readonly overrides: readonly string[];
  /** The request target in origin form, and the headers (lower-case names): for `mitm_hooks`. */
  readonly path: string;
  readonly headers: ReadonlyArray<{ readonly lower: string; readonly value: string }>;
}

/** Null when allowed; otherwise why it is blocked (reason `method_not_allowed`). */
export function methodBlock(mode: Mode, r: MethodRequest): string | null {
  if (mode === "full") return null;
  if (!LIMITED_METHODS.has(r.method)) return `method ${r.method} is not allowed in limited mode (only GET, HEAD, OPTIONS)`;
  if (r.upgrade) return "protocol upgrades (Upgrade header, e.g. WebSocket) are not allowed in limited mode";
  for (const o of r.overrides) {
    const m = o.trim().toUpperCase();
    if (!LIMITED_METHODS.has(m)) return `method override to ${JSON.stringify(o.trim())} is not allowed in limited mode`;
  }
  if (r.hasBody) return `a ${r.method} request with a body is not allowed in limited mode`;
  return null;
}
