/**
 * What the operator could change to allow a blocked target. A block carries its fixes as data,
 * and each one, made alone, turns that very decision into an allow: decide.ts offers a fix only
 * after checking that nothing further down the order (a denylisted address, one of our own
 * listeners, a local address) would block the target anyway. The hint users read is made from
 * them here.
 */

export type Fix =
  /** Add these entries to `allowed_domains` (all of them: one change). */
  | { readonly kind: "allow"; readonly entries: readonly string[] }
  /** Set `allow_local_binding = true`. */
  | { readonly kind: "allow_local_binding" };

export const NO_FIXES: readonly Fix[] = Object.freeze([]);

const q = (s: string) => JSON.stringify(s);

/** The hint, in words: every alternative, each of which alone would allow it; null when there is none. */
export function hintFor(fixes: readonly Fix[]): string | null {
  if (fixes.length === 0) return null;
  const ways = fixes.map((f) =>
    f.kind === "allow_local_binding"
      ? "set network_proxy.policy.allow_local_binding = true"
      : `add ${f.entries.map(q).join(" and ")} to network_proxy.policy.allowed_domains`,
  );
  return `the proxy's operator can ${ways.join(", or ")}`;
}
