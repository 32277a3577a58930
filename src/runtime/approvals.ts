/**
 * Asking instead of refusing (`policy.on_unlisted = "ask"`): a request that no list mentions is
 * held while the operator decides, through the admin API or the dashboard. Attempts at the same
 * host:port share one pending entry (each attempt is listed in it); each waits at most
 * `ask_timeout_ms`, at most `ask_max_pending` entries are held, and at most
 * MAX_WAITERS_PER_TARGET attempts wait in one entry. An attempt whose client goes away leaves
 * the entry, and an entry nobody waits on any more goes. An answer releases every waiting
 * attempt; "for the session" answers become runtime rules, which last until the proxy stops or
 * are deleted, and live beside the config's lists (never in them, unless the operator persists
 * one).
 */
import { parsePattern } from "../policy/pattern.ts";
import { broadAllowWarning, compilePolicy, type CompiledPolicy } from "../policy/rules.ts";
import type { Target } from "../policy/target.ts";
import { formatTarget } from "../policy/target.ts";

export type Decision = "allow_once" | "allow_session" | "deny_session";
export type Scope = "host" | "host:port" | "*.parent";
export const DECISIONS: readonly Decision[] = ["allow_once", "allow_session", "deny_session"];
export const SCOPES: readonly Scope[] = ["host", "host:port", "*.parent"];

/** Attempts one entry holds; more at the same target are refused at once (ask_queue_full). */
export const MAX_WAITERS_PER_TARGET = 32;

/** What a held attempt learns. `allow` carries the one-off rule an allow_once grants. */
export type Answer =
  | { readonly kind: "allow"; readonly once: CompiledPolicy | null }
  | { readonly kind: "deny"; readonly why: string }
  | { readonly kind: "timeout" }
  | { readonly kind: "gone" };

export interface AttemptInfo {
  readonly protocol: string;
  readonly method: string | null;
  readonly client: string;
}

export interface PendingView extends AttemptInfo {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** Unix milliseconds. */
  readonly first_seen: number;
  readonly waiting: number;
  /** Every attempt waiting (the fields above are the first one's). */
  readonly attempts: readonly AttemptInfo[];
  /** The list entry each scope would make; null where a scope is not offered (see scopePattern). */
  readonly scopes: Readonly<Record<Scope, string | null>>;
}

export interface RuntimeRule {
  readonly id: number;
  readonly list: "allow" | "deny";
  readonly pattern: string;
  /** Who answered ("api" or "dashboard") and when (Unix milliseconds). */
  readonly by: string;
  readonly at: number;
}

/** Tells a held attempt that its client went away (a ClientGone, by shape). */
export interface Departure {
  readonly gone: boolean;
  listen(f: (() => void) | null): void;
}

interface Waiter {
  readonly info: AttemptInfo;
  readonly resolve: (a: Answer) => void;
}

interface Pending {
  readonly id: number;
  readonly target: Target;
  readonly firstSeen: number;
  readonly waiters: Waiter[];
  readonly timer: ReturnType<typeof setTimeout>;
}

export type ApprovalEvent =
  | { readonly kind: "pending"; readonly pending: PendingView }
  | { readonly kind: "answered"; readonly id: number; readonly decision: Decision | "timeout" | "shutdown" | "abandoned" }
  | { readonly kind: "rules" };

/**
 * The list entry a scope makes of a target: `host`, `host:port`, or `*.parent` (its parent
 * domain's subdomains). `*.parent` is null (not offered) for an address, for a name with no
 * parent below a top-level domain, and where the wildcard would be dangerously broad (`*.co.uk`).
 */
export function scopePattern(t: Target, scope: Scope): string | null {
  const host = t.kind === "ipv6" ? `[${t.host}]` : t.host;
  if (scope === "host:port") return `${host}:${t.port}`;
  if (scope === "host") return host;
  if (t.kind !== "domain" || t.host.split(".").length <= 2) return null;
  const pattern = `*.${t.host.slice(t.host.indexOf(".") + 1)}`;
  return broadAllowWarning(parsePattern(pattern, "allowed_domains")) === null ? pattern : null;
}

function scopesOf(t: Target): Record<Scope, string | null> {
  return { host: scopePattern(t, "host"), "host:port": scopePattern(t, "host:port"), "*.parent": scopePattern(t, "*.parent") };
}

export class Approvals {
  readonly #pending = new Map<string, Pending>();
  #nextId = 1;
  #closed = false;
  rules: RuntimeRule[] = [];
  /** The runtime rules, compiled (null when there are none). */
  compiled: CompiledPolicy | null = null;
  readonly listeners: Array<(e: ApprovalEvent) => void> = [];

  constructor(private readonly limits: () => { readonly timeoutMs: number; readonly maxPending: number }) {}

  get pending(): PendingView[] {
    return [...this.#pending.values()].map(view);
  }

  #emit(e: ApprovalEvent): void {
    for (const f of this.listeners) f(e);
  }

  /**
   * Hold an attempt at `t` until an answer, the time-out, or its client leaving (`gone`).
   * "full" when too many targets, or too many attempts at this one, are held already.
   */
  ask(t: Target, info: AttemptInfo, gone: Departure | null = null): Promise<Answer> | "full" {
    if (this.#closed) return Promise.resolve({ kind: "deny", why: "the proxy is stopping; nobody answered" });
    if (gone?.gone) return Promise.resolve({ kind: "gone" });
    const key = formatTarget(t);
    let p = this.#pending.get(key);
    if (!p) {
      const l = this.limits();
      if (this.#pending.size >= l.maxPending) return "full";
      const timer = setTimeout(() => this.#settle(key, { kind: "timeout" }, "timeout"), l.timeoutMs);
      p = { id: this.#nextId++, target: t, firstSeen: Date.now(), waiters: [], timer };
      this.#pending.set(key, p);
    } else if (p.waiters.length >= MAX_WAITERS_PER_TARGET) return "full";
    const entry = p;
    const answer = new Promise<Answer>((resolve) => {
      const w: Waiter = { info, resolve };
      entry.waiters.push(w);
      gone?.listen(() => this.#leave(key, entry, w));
    });
    this.#emit({ kind: "pending", pending: view(entry) });
    return gone ? answer.finally(() => gone.listen(null)) : answer;
  }

  /** A waiter's client went away: it leaves the entry, and an entry nobody waits on goes. */
  #leave(key: string, p: Pending, w: Waiter): void {
    const i = p.waiters.indexOf(w);
    if (i < 0) return;
    p.waiters.splice(i, 1);
    w.resolve({ kind: "gone" });
    if (p.waiters.length > 0) return this.#emit({ kind: "pending", pending: view(p) });
    if (this.#pending.get(key) === p) this.#pending.delete(key);
    clearTimeout(p.timer);
    this.#emit({ kind: "answered", id: p.id, decision: "abandoned" });
  }

  #settle(key: string, a: Answer, decision: Decision | "timeout" | "shutdown"): void {
    const p = this.#pending.get(key);
    if (!p) return;
    this.#pending.delete(key);
    clearTimeout(p.timer);
    for (const w of p.waiters.splice(0)) w.resolve(a);
    this.#emit({ kind: "answered", id: p.id, decision });
  }

  /**
   * Answer a pending entry by id. The pattern made, or null when there is no such entry, or a
   * refusal when the scope is not offered for it. `by` says who, for the rule's record.
   */
  answer(id: number, decision: Decision, scope: Scope, by: string): { pattern: string } | { refused: string } | null {
    const found = [...this.#pending.entries()].find(([, p]) => p.id === id);
    if (!found) return null;
    const [key, p] = found;
    const pattern = scopePattern(p.target, decision === "allow_once" ? "host:port" : scope);
    if (pattern === null) {
      return {
        refused: `scope *.parent is not offered for ${formatTarget(p.target)} (an address, a name without a parent, or a parent that is a public suffix); use host or host:port`,
      };
    }
    if (decision === "allow_once") {
      const once = compilePolicy({ allowed_domains: [pattern], denied_domains: [], allow_unix_sockets: [], allow_local_binding: false }).policy;
      this.#settle(key, { kind: "allow", once }, decision);
      return { pattern };
    }
    this.addRule(decision === "allow_session" ? "allow" : "deny", pattern, by);
    const a: Answer = decision === "allow_session" ? { kind: "allow", once: null } : { kind: "deny", why: `the operator denied ${pattern} for this session` };
    this.#settle(key, a, decision);
    return { pattern };
  }

  addRule(list: "allow" | "deny", pattern: string, by: string): RuntimeRule {
    const rule: RuntimeRule = { id: this.#nextId++, list, pattern, by, at: Date.now() };
    this.rules = [...this.rules, rule];
    this.#compile();
    return rule;
  }

  removeRule(id: number): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) return false;
    this.#compile();
    return true;
  }

  #compile(): void {
    const list = (l: "allow" | "deny") => this.rules.filter((r) => r.list === l).map((r) => r.pattern);
    this.compiled =
      this.rules.length === 0
        ? null
        : compilePolicy({ allowed_domains: list("allow"), denied_domains: list("deny"), allow_unix_sockets: [], allow_local_binding: false }).policy;
    this.#emit({ kind: "rules" });
  }

  /**
   * Refuse everything still held, saying why: the proxy no longer asks (a reload), or it is
   * stopping (`final`: attempts that arrive later are refused at once too).
   */
  close(why = "the proxy is stopping; nobody answered", final = true): void {
    if (final) this.#closed = true;
    for (const key of [...this.#pending.keys()]) this.#settle(key, { kind: "deny", why }, "shutdown");
  }
}

function view(p: Pending): PendingView {
  const first = p.waiters[0]?.info ?? { protocol: "", method: null, client: "" };
  return {
    id: p.id,
    host: p.target.host,
    port: p.target.port,
    ...first,
    first_seen: p.firstSeen,
    waiting: p.waiters.length,
    attempts: p.waiters.map((w) => w.info),
    scopes: scopesOf(p.target),
  };
}
