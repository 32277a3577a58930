/**
 * The decision: may this client reach this target, and which exact addresses may we dial?
 *
 * Order (ours, on purpose different from the original's, which resolved names it then refused
 * and checked the name but dialed whatever DNS answered next):
 *  1. the target was canonicalized by the caller (a failure never reaches here);
 *  2. denylist (names, IP literals, CIDRs) -> `denied`; deny always wins;
 *  2b. a literal (IP or localhost name) at one of our own listeners -> `own_listener`, first,
 *     because nothing may allow it (so no hint leads there);
 *  3. a local literal (localhost, *.localhost, any non-public IP) without allow_local_binding ->
 *     `not_allowed_local`, unless the allowlist names exactly that literal or a CIDR holding it;
 *  4. empty allowlist or no allowlist match -> `not_allowed`; such names are never resolved;
 *  5. an allowed name is resolved (fail closed), and every address is judged: denylisted
 *     address -> `denied`, non-public address -> `not_allowed_local` unless inside an
 *     allowlisted CIDR/IP;
 *  6. an address:port we listen on ourselves -> `own_listener` (no loops, no admin API reach);
 *  7. allow, with the vetted addresses: the dialer uses these and never the name again.
 *
 * `judgeTarget` and `judgeAddresses` are pure; `evaluateTarget` adds the DNS lookup.
 */
import { canonicalIp, classifyIp, embeddedIpv4 } from "./ip.ts";
import type { BlockReason } from "../outcomes.ts";
import type { Rule } from "./pattern.ts";
import { hintFor, NO_FIXES, type Fix } from "./fixes.ts";
import type { CompiledPolicy } from "./rules.ts";
import { formatTarget, type Target } from "./target.ts";

export interface DialAddr {
  readonly kind: "ipv4" | "ipv6";
  readonly host: string;
}

/** An address:port one of our listeners is bound to. Unspecified hosts (0.0.0.0, ::) cover all local addresses. */
export interface SelfAddr {
  readonly host: string;
  readonly port: number;
}

/**
 * Our listeners' addresses in the canonical form targets have (an IPv4-mapped bind such as
 * [::ffff:0.0.0.0] is 0.0.0.0), so that comparing them with a target's addresses is exact.
 */
export function selfAddrs(bound: readonly { host: string; port: number }[]): SelfAddr[] {
  return bound.map((b) => ({ host: canonicalIp(b.host)?.host ?? b.host, port: b.port }));
}

export interface DecideContext {
  /** Our own bound listener addresses. */
  readonly self: readonly SelfAddr[];
  /**
   * Addresses of this host's own network interfaces (canonical text). Even a public one is a
   * local target: it reaches services bound to 0.0.0.0 on this machine (catalogue C30).
   */
  readonly localAddrs?: ReadonlySet<string>;
}

/** Why an address is local (non-public, or one of this host's own), or null when it is not. */
export function localWhy(kind: "ipv4" | "ipv6", host: string, ctx: DecideContext): string | null {
  const ip = classifyIp(kind, host);
  if (!ip.public) return ip.why;
  const own = ctx.localAddrs;
  if (own && own.size > 0) {
    if (own.has(host)) return "an address of this host's own network interfaces";
    // The same address spelled as IPv6 with it embedded (compatible, NAT64, 6to4, Teredo).
    if (kind === "ipv6" && embeddedIpv4(host).some((v4) => own.has(v4))) return "an address of this host's own network interfaces, embedded in IPv6";
  }
  return null;
}

export interface Block {
  readonly verdict: "block";
  readonly reason: BlockReason;
  readonly target: Target;
  readonly rule: Rule | null;
  /** Why, in words, for logs, /blocked and `explain`. */
  readonly explain: string;
  /** Changes that would each, alone, allow it (see fixes.ts); none for deny and own listeners. */
  readonly fixes: readonly Fix[];
  /** The fixes in words, or null. */
  readonly hint: string | null;
}

export interface Allow {
  readonly verdict: "allow";
  readonly target: Target;
  /** The allowlist entry that matched (null when allow_local_binding let it through). */
  readonly rule: Rule | null;
  readonly addresses: readonly DialAddr[];
}

/** Why an allow happened, in words. Kept out of the decision itself: the hot path never reads it. */
export function explainAllow(a: Allow): string {
  const via = a.rule ? `allowed_domains entry ${q(a.rule.raw)} matches ${formatTarget(a.target)}` : "allow_local_binding is true";
  if (a.target.kind !== "domain") return via;
  return a.addresses.length > 0 ? `${via}; dialing ${a.addresses.map((x) => x.host).join(", ")}` : `${via}; not resolved here (the upstream proxy resolves it)`;
}

export interface NeedsResolve {
  readonly verdict: "resolve";
  readonly target: Target;
  readonly rule: Rule;
}

export interface ResolveFailure {
  readonly verdict: "dns_error";
  readonly code: "dns_failed" | "dns_timeout" | "dns_overloaded";
  readonly target: Target;
  readonly explain: string;
}

export type Decision = Allow | Block | ResolveFailure;

const LOOPBACK: readonly DialAddr[] = Object.freeze([
  { kind: "ipv4", host: "127.0.0.1" },
  { kind: "ipv6", host: "::1" },
]);

/** RFC 6761: `localhost` and `*.localhost` are loopback by definition and never sent to DNS. */
export function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

const q = (s: string) => JSON.stringify(s);

function block(reason: BlockReason, target: Target, rule: Rule | null, explain: string, fixes: readonly Fix[] = NO_FIXES): Block {
  return { verdict: "block", reason, target, rule, explain, fixes, hint: hintFor(fixes) };
}

/** A target no allowlist entry matches: its exact name or address, or for a name also its parent domain. */
function allowFixes(t: Target): Fix[] {
  const fixes: Fix[] = [{ kind: "allow", entries: [t.kind === "ipv6" ? `[${t.host}]` : t.host] }];
  const labels = t.kind === "domain" ? t.host.split(".") : [];
  if (labels.length > 2) fixes.push({ kind: "allow", entries: [`**.${labels.slice(-2).join(".")}`] });
  return fixes;
}

/**
 * A local target (a literal, or a name at local addresses): the exact address:port (every local
 * one), or allow_local_binding when an allowlist entry already matches. None when an address
 * would be blocked anyway (denylisted, or one of our own listeners).
 */
function localFixes(p: CompiledPolicy, t: Target, addrs: readonly DialAddr[], ctx: DecideContext, ruleMatches: boolean): Fix[] {
  if (addrs.some((a) => p.deny.matchIpOrEmbedded(a.kind, a.host, t.port) || isOwnListener(a, t.port, ctx))) return [];
  const entries =
    t.kind === "domain" && !isLocalhostName(t.host)
      ? addrs
          .filter((a) => localWhy(a.kind, a.host, ctx) !== null && !p.allow.matchIp(a.kind, a.host, t.port, true))
          .map((a) => formatTarget({ kind: a.kind, host: a.host, port: t.port }))
      : [formatTarget(t)];
  const fixes: Fix[] = [{ kind: "allow", entries }];
  if (ruleMatches) fixes.push({ kind: "allow_local_binding" });
  return fixes;
}

/** A literal target that is one of our own listeners: nothing may allow it, so it is said first. */
function ownListener(t: Target, addrs: readonly DialAddr[], ctx: DecideContext): Block | null {
  const own = addrs.find((a) => isOwnListener(a, t.port, ctx));
  return own ? block("own_listener", t, null, `${formatTarget({ kind: own.kind, host: own.host, port: t.port })} is one of this proxy's own listeners`) : null;
}

/** Steps 2-4 (and 6-7 for IP literals). Pure. */
export function judgeTarget(p: CompiledPolicy, t: Target, ctx: DecideContext): Allow | Block | NeedsResolve {
  const denied = p.deny.matchDenied(t);
  if (denied) return block("denied", t, denied, `denied_domains entry ${q(denied.raw)} matches ${formatTarget(t)}`);

  if (t.kind === "domain") {
    if (isLocalhostName(t.host)) {
      const own = ownListener(t, LOOPBACK, ctx);
      if (own) return own;
      if (!p.allowLocalBinding) {
        const explicit = p.allow.match(t, { explicitOnly: true });
        if (!explicit) {
          const fixes = localFixes(p, t, LOOPBACK, ctx, !p.allow.empty && p.allow.match(t) !== null);
          return block("not_allowed_local", t, null, `${t.host} is a loopback name and allow_local_binding is false`, fixes);
        }
        return judgeAddresses(p, t, explicit, LOOPBACK, ctx, true);
      }
      const rule = p.allow.empty ? null : p.allow.match(t);
      if (!rule) return notAllowed(p, t);
      return judgeAddresses(p, t, rule, LOOPBACK, ctx, true);
    }
    const rule = p.allow.empty ? null : p.allow.match(t);
    if (!rule) return notAllowed(p, t);
    return { verdict: "resolve", target: t, rule };
  }

  const addr: DialAddr = { kind: t.kind, host: t.host };
  const own = ownListener(t, [addr], ctx);
  if (own) return own;
  if (!p.allowLocalBinding) {
    const why = localWhy(t.kind, t.host, ctx);
    if (why !== null) {
      const explicit = p.allow.match(t, { explicitOnly: true });
      if (!explicit) {
        const star = p.allow.hasAny ? ' (the "*" entry never unlocks local addresses)' : "";
        const fixes = localFixes(p, t, [addr], ctx, !p.allow.empty && p.allow.match(t) !== null);
        return block("not_allowed_local", t, null, `${t.host} is ${why} and allow_local_binding is false${star}`, fixes);
      }
      return judgeAddresses(p, t, explicit, [addr], ctx, true);
    }
  }
  const rule = p.allow.empty ? null : p.allow.match(t);
  if (!rule) return notAllowed(p, t);
  return judgeAddresses(p, t, rule, [addr], ctx, false);
}

function notAllowed(p: CompiledPolicy, t: Target): Block {
  const why = p.allow.empty
    ? "allowed_domains is empty, so every target is blocked until an allowlist is configured"
    : `${formatTarget(t)} matches no allowed_domains entry`;
  return block("not_allowed", t, null, why, allowFixes(t));
}

/**
 * Steps 5-7: judge every address a target will be dialed at. `localUnlocked` says the target
 * itself was explicitly allowlisted as a local literal, so its (loopback/private) addresses are
 * what the operator asked for.
 */
export function judgeAddresses(
  p: CompiledPolicy,
  t: Target,
  rule: Rule | null,
  addrs: readonly DialAddr[],
  ctx: DecideContext,
  localUnlocked = false,
): Allow | Block {
  if (addrs.length === 0) return block("not_allowed", t, rule, `${t.host} resolved to no addresses`);
  for (const a of addrs) {
    const d = p.deny.matchIpOrEmbedded(a.kind, a.host, t.port);
    if (d) return block("denied", t, d, `${t.host} resolved to ${a.host}, which denied_domains entry ${q(d.raw)} matches`);
    if (!p.allowLocalBinding && !localUnlocked) {
      const why = localWhy(a.kind, a.host, ctx);
      if (why !== null && !p.allow.matchIp(a.kind, a.host, t.port, true)) {
        const fixes = localFixes(p, t, addrs, ctx, true);
        return block("not_allowed_local", t, null, `${t.host} resolved to ${a.host}, which is ${why}, and allow_local_binding is false`, fixes);
      }
    }
    if (isOwnListener(a, t.port, ctx)) {
      return block("own_listener", t, null, `${formatTarget({ kind: a.kind, host: a.host, port: t.port })} is one of this proxy's own listeners`);
    }
  }
  return { verdict: "allow", target: t, rule, addresses: addrs };
}

const UNSPECIFIED = new Set(["0.0.0.0", "::"]);

export function isOwnListener(a: DialAddr, port: number, ctx: DecideContext): boolean {
  for (const s of ctx.self) {
    if (s.port !== port) continue;
    if (s.host === a.host) return true;
    // Dialing 0.0.0.0 or :: reaches the local host.
    if (UNSPECIFIED.has(a.host)) return true;
    if (UNSPECIFIED.has(s.host)) {
      if (!classifyIp(a.kind, a.host).public && (a.host.startsWith("127.") || a.host === "::1")) return true;
      if (ctx.localAddrs?.has(a.host)) return true;
    }
  }
  return false;
}

/**
 * Is a connection already open to `t`, at the address `dialed`, still allowed by `p`? The same
 * judgement as for a new one, with the address that was dialed instead of a new lookup (with
 * none, a name is judged by name alone). Returns the block, or null when it may stay open.
 */
export function stillAllowed(p: CompiledPolicy, t: Target, dialed: DialAddr | null, ctx: DecideContext): Block | null {
  const first = judgeTarget(p, t, ctx);
  if (first.verdict === "block") return first;
  if (first.verdict === "allow" || dialed === null) return null; // nothing dialed yet: allowed by name
  const d = judgeAddresses(p, t, first.rule, [dialed], ctx);
  return d.verdict === "block" ? d : null;
}

export type Resolver = (name: string) => Promise<readonly DialAddr[]>;

export interface EvaluateDeps extends DecideContext {
  readonly resolve: Resolver;
  readonly dnsTimeoutMs: number;
  /**
   * Names that go to an upstream proxy which resolves them (`upstream.resolve = "upstream"`):
   * allowed by name alone, with no address (the upstream connects by name).
   */
  readonly byName?: ((t: Target) => boolean) | undefined;
}

export class DnsTimeoutError extends Error {
  readonly code = "dns_timeout";
}

/**
 * The whole decision, with the DNS lookup for allowed names. Never resolves a name that is not
 * allowed. Synchronous when no lookup is needed (IP literals, blocks, localhost names).
 */
export function evaluateTarget(p: CompiledPolicy, t: Target, deps: EvaluateDeps): Decision | Promise<Decision> {
  const first = judgeTarget(p, t, deps);
  if (first.verdict !== "resolve") return first;
  if (deps.byName?.(t)) return { verdict: "allow", target: t, rule: first.rule, addresses: [] };
  return resolveAndJudge(p, t, first.rule, deps);
}

async function resolveAndJudge(p: CompiledPolicy, t: Target, rule: Rule, deps: EvaluateDeps): Promise<Decision> {
  let addrs: readonly DialAddr[];
  try {
    addrs = await withTimeout(deps.resolve(t.host), deps.dnsTimeoutMs);
  } catch (e) {
    if (e instanceof DnsTimeoutError) {
      return { verdict: "dns_error", code: "dns_timeout", target: t, explain: `resolving ${t.host} took longer than ${deps.dnsTimeoutMs} ms; failing closed` };
    }
    if ((e as { code?: unknown }).code === "dns_overloaded") {
      return { verdict: "dns_error", code: "dns_overloaded", target: t, explain: `not resolving ${t.host}: ${(e as Error).message}; failing closed` };
    }
    return { verdict: "dns_error", code: "dns_failed", target: t, explain: `resolving ${t.host} failed (${(e as Error).message}); failing closed` };
  }
  return judgeAddresses(p, t, rule, addrs, deps);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DnsTimeoutError(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
