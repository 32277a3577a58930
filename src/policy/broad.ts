/**
 * The warning for an allowlist entry that is dangerously broad (`*`, `*.com`, `*.co.uk`,
 * `example.*`, a block wider than /8): the entry is accepted, and the loader logs why it is risky.
 */
import type { LabelGlob, ParsedPattern } from "./pattern.ts";

/**
 * Top-level domains nobody can register names under (RFC 6761, RFC 6762, RFC 7686, RFC 9476,
 * ICANN's .internal): a wildcard over them is not an allowlist for the public internet.
 */
const PRIVATE_TLDS = new Set(["localhost", "test", "invalid", "example", "local", "internal", "onion", "alt"]);

/**
 * Second-level labels that, under a two-letter country code, make a public registry suffix
 * (co.uk, com.au, ac.jp, ...). A heuristic: the project ships no public suffix list, and a
 * false alarm only costs a warning.
 */
const REGISTRY_SLDS = new Set(["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "gouv", "ltd", "plc", "nic", "mil", "nom", "gen"]);

/**
 * Why an allowlist entry is dangerously broad, or null. `*` allows every public host; a
 * wildcard whose fixed (wildcard-free) trailing part is a single label, a top-level domain
 * (`*.com`, `**.com`, `*.*.com`, `a*.com`), or a public registry suffix (`*.co.uk`) matches
 * names that anyone can register; a wildcard in the last label (`example.*`) matches names
 * under every top-level domain.
 */
export function broadAllowWarning(p: ParsedPattern): string | null {
  const port = p.rule.port === null ? "" : ` on port ${p.rule.port}`;
  if (p.kind === "any") {
    return `allows every public host${port} (only local and private addresses stay blocked); list the domains the agent needs instead, e.g. **.example.com`;
  }
  if (p.kind === "cidr" && p.bits < (p.family === "ipv4" ? 8 : 32)) {
    return `allows every public address in a block wider than /${p.family === "ipv4" ? 8 : 32} (it does not unlock local and private addresses: only a block inside one private or special range does); list the addresses the agent needs instead`;
  }
  if (p.kind !== "name") return null;
  if (p.lead === "none" && !hasGlob(p.labels)) return null;
  if (p.suffix === "") {
    return `its last label is a wildcard, so it matches names under every top-level domain${port} (including ones anyone can register); write the top-level domain out, e.g. ${exampleFix(p)}`;
  }
  // How many labels the fixed suffix has (1, 2, or 3 for three or more), without splitting it.
  const dot = p.suffix.indexOf(".");
  const fixedCount = dot < 0 ? 1 : p.suffix.indexOf(".", dot + 1) < 0 ? 2 : 3;
  const pureLead = !hasGlob(p.labels); // `*.com` / `**.com`: no glob label
  if (fixedCount === 1 && !PRIVATE_TLDS.has(p.suffix)) {
    return pureLead
      ? `matches every name under the top-level domain .${p.suffix}${port}, names anyone can register; allow the domains you mean instead, e.g. **.example.${p.suffix}`
      : `has a wildcard directly under the top-level domain .${p.suffix}, so it matches names anyone can register${port}; allow the domains you mean instead, e.g. **.example.${p.suffix}`;
  }
  if (fixedCount === 2 && p.suffix.length - dot - 1 === 2 && REGISTRY_SLDS.has(p.suffix.slice(0, dot))) {
    return `matches ${pureLead ? "every name" : "names"} under .${p.suffix}${port}, a public registry suffix where anyone can register names; allow the domains you mean instead, e.g. **.example.${p.suffix}`;
  }
  return null;
}

function hasGlob(labels: ReadonlyArray<string | LabelGlob>): boolean {
  for (let i = 0; i < labels.length; i++) if (typeof labels[i] !== "string") return true;
  return false;
}

function exampleFix(p: ParsedPattern & { kind: "name" }): string {
  const shown = withoutTrailingDot(withoutPort(p.rule.raw.trim()));
  const cut = shown.lastIndexOf(".");
  return cut < 0 ? "**.example.com" : `${shown.slice(0, cut)}.com`;
}

/** `s.replace(/:\d+$/, "")`: a colon and one or more ASCII digits at the end taken off. */
function withoutPort(s: string): string {
  let i = s.length;
  while (i > 0 && s.charCodeAt(i - 1) >= 0x30 && s.charCodeAt(i - 1) <= 0x39) i--;
  return i < s.length && i > 0 && s.charCodeAt(i - 1) === 0x3a ? s.slice(0, i - 1) : s;
}

/** `s.replace(/\.$/, "")`. */
function withoutTrailingDot(s: string): string {
  return s.endsWith(".") ? s.slice(0, -1) : s;
}
