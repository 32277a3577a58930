/**
 * Admission: the one order of checks that every request and tunnel goes through, whatever entry
 * path it arrived by. Pure: the target's decision (decide.ts) and the runtime facts in, a verdict
 * out. `explain` calls the same function for each entry path a target could arrive by.
 *
 * 1. The target (the same for every entry path): the denylist, the local-network protection,
 *    the allowlist, the resolved addresses, the proxy's own listeners (decide.ts). A block here
 *    is recorded with mode null: it holds in either mode.
 * 2. The entry path under the current mode:
 *    - `connect`: full mode tunnels; limited mode intercepts (MITM) when MITM is on, and is
 *      refused with `mitm_required` when it is off (a raw tunnel would hide the method);
 *    - `socks5`: full mode tunnels; limited mode refuses (`method_not_allowed`: SOCKS5 cannot
 *      show a method);
 *    - `http`, `https` (a request inside an intercepted tunnel) and `unix-socket`: the method
 *      policy (limited mode: GET, HEAD and OPTIONS only; no upgrade, method override or body).
 */
import type { Mode } from "../config/schema.ts";
import type { BlockInfo, BlockReason } from "../outcomes.ts";
import type { Allow, Decision } from "./decide.ts";
import { matchHooks, type CompiledHook, type HookTable } from "./hooks.ts";
import { LIMITED_METHODS, methodBlock, type MethodRequest } from "./method.ts";

export type Entry = "http" | "https" | "connect" | "socks5" | "unix-socket";

export const ENTRIES: readonly Entry[] = ["http", "https", "connect", "socks5", "unix-socket"];

export interface AdmissionFacts {
  readonly mode: Mode;
  /** HTTPS interception is configured and ready. */
  readonly mitm: boolean;
  /** `mitm_hooks` by host (NO_HOOKS when there are none). */
  readonly hooks: HookTable;
  /** `dangerously_allow_plaintext_credential_injection`. */
  readonly plaintextInjection: boolean;
}

/** A block with the mode it depends on: "limited" for mode blocks, null for target blocks. */
export interface AdmissionBlock extends BlockInfo {
  readonly mode: "limited" | null;
}

export type Admission =
  | { readonly verdict: "pass"; readonly target: Allow; readonly hook: CompiledHook | null }
  | { readonly verdict: "intercept"; readonly target: Allow }
  | { readonly verdict: "block"; readonly block: AdmissionBlock }
  | { readonly verdict: "fail"; readonly code: "dns_failed" | "dns_timeout" | "dns_overloaded"; readonly explain: string };

/**
 * Hints for blocks that are not about the target. They address the proxy's operator: an agent
 * reading them learns what the policy is, not a way around it.
 */
const MODE_HINTS: Partial<Record<BlockReason, string>> = {
  method_not_allowed: 'limited (read-only) mode allows only GET, HEAD and OPTIONS; the proxy\'s operator decides whether to set mode = "full"',
  mitm_required: "limited mode inspects HTTPS; the proxy's operator can enable [network_proxy.mitm] (and clients must trust its CA)",
};

export function modeBlock(reason: "method_not_allowed" | "mitm_required", explain: string): AdmissionBlock {
  return { reason, explain, hint: MODE_HINTS[reason] ?? null, mode: "limited" };
}

/** Step 2 alone: may this entry path carry this request under the current mode? */
export function admitEntry(
  entry: Entry,
  request: MethodRequest | null,
  facts: AdmissionFacts,
): { verdict: "pass" | "intercept" } | { verdict: "block"; block: AdmissionBlock } {
  switch (entry) {
    case "connect":
      if (facts.mode === "full") return { verdict: "pass" };
      if (facts.mitm) return { verdict: "intercept" };
      return { verdict: "block", block: modeBlock("mitm_required", "limited mode allows HTTPS only through MITM, which is off") };
    case "socks5":
      if (facts.mode === "full") return { verdict: "pass" };
      return { verdict: "block", block: modeBlock("method_not_allowed", "SOCKS5 cannot show a method, so it is blocked in limited mode") };
    case "http":
    case "https":
    case "unix-socket": {
      const why = request ? methodBlock(facts.mode, request) : null;
      return why ? { verdict: "block", block: modeBlock("method_not_allowed", why) } : { verdict: "pass" };
    }
  }
}

/** Both steps, in order. */
export function admit(entry: Entry, target: Decision, request: MethodRequest | null, facts: AdmissionFacts): Admission {
  switch (target.verdict) {
    case "block": {
      // The target's hint is offered only when it would be enough: a change to the lists does
      // not help a request this entry path may not carry in the current mode anyway.
      const hint = target.hint !== null && admitEntry(entry, request, facts).verdict !== "block" ? target.hint : null;
      return { verdict: "block", block: { reason: target.reason, explain: target.explain, hint, mode: null } };
    }
    case "dns_error":
      return { verdict: "fail", code: target.code, explain: target.explain };
    case "allow": {
      const hooks = facts.hooks.size > 0 ? facts.hooks.get(target.target.host) : undefined;
      if (hooks) return admitHooked(entry, target, request, facts, hooks);
      const e = admitEntry(entry, request, facts);
      return e.verdict === "block" ? e : e.verdict === "pass" ? { verdict: "pass", target, hook: null } : { verdict: "intercept", target };
    }
  }
}

const hookBlock = (reason: BlockReason, explain: string): Admission => ({ verdict: "block", block: { reason, explain, hint: null, mode: null } });

/**
 * Step 2 for a host with `mitm_hooks`: its traffic is intercepted in either mode (a raw tunnel
 * would hide the requests), and each request must match one of its hooks, which then decides the
 * method. What limited mode refuses besides the method (a body on a safe method, an upgrade the
 * hook does not name) stays refused.
 */
function admitHooked(entry: Entry, target: Allow, request: MethodRequest | null, facts: AdmissionFacts, hooks: readonly CompiledHook[]): Admission {
  const host = target.target.host;
  if (entry === "connect") return { verdict: "intercept", target };
  if (entry === "socks5" || entry === "unix-socket" || request === null) {
    return hookBlock("mitm_required", `${host} has mitm_hooks, so its requests must be inspected, and SOCKS5 cannot show them; use the HTTP proxy`);
  }
  const v = matchHooks(host, hooks, { method: request.method, target: request.path, headers: request.headers, overrides: request.overrides });
  if (v.kind === "refuse") return hookBlock(v.reason, v.explain);
  const hook = v.hook;
  // An upgrade opens a two-way channel no hook judges after the handshake: only a hook that
  // names the upgrade header in match.headers asks for that, in either mode.
  if (request.upgrade && !hook.upgrade) {
    return hookBlock("mitm_hook_no_match", `${hook.label} matches, but does not name the upgrade header, and an upgrade would open a channel no hook judges`);
  }
  if (facts.mode === "limited") {
    if (request.hasBody && LIMITED_METHODS.has(request.method)) {
      return { verdict: "block", block: modeBlock("method_not_allowed", `a ${request.method} request with a body is not allowed in limited mode`) };
    }
  }
  if (entry === "http" && hook.inject.length > 0 && !facts.plaintextInjection) {
    return hookBlock(
      "mitm_hook_plaintext",
      `${hook.label} injects ${hook.inject.map((h) => h.name).join(", ")}, and this request is plain HTTP: credentials go only over TLS`,
    );
  }
  return { verdict: "pass", target, hook };
}
