/**
 * Asking instead of refusing (`policy.on_unlisted = "ask"`): a request that no list mentions is
 * held while the operator decides, through the admin API or the dashboard. Attempts at the same
 * host:port share one pending entry; each waits at most `ask_timeout_ms`, and at most
 * `ask_max_pending` entries are held. An answer releases every waiting attempt; "for the
 * session" answers become runtime rules, which last until the proxy stops or are deleted, and
 * live beside the config's lists (never in them, unless the operator persists one).
 */
import { compilePolicy, type CompiledPolicy } from "../policy/rules.ts";
import type { Target } from "../policy/target.ts";
import { formatTarget } from "../policy/target.ts";

export type Decision = "allow_once" | "allow_session" | "deny_session";
export type Scope = "host" | "host:port" | "*.parent";
export const DECISIONS: readonly Decision[] = ["allow_once", "allow_session", "deny_session"];
export const SCOPES: readonly Scope[] = ["host", "host:port", "*.parent"];

/** What a held attempt learns. `allow` carries the one-off rule an allow_once grants. */
export type Answer =
  | { readonly kind: "allow"; readonly once: CompiledPolicy | null }
  | { readonly kind: "deny"; readonly why: string }
  | { readonly kind: "timeout" };

export interface PendingView {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly protocol: string;
  readonly method: string | null;
  readonly client: string;
  /** Unix milliseconds. */
  readonly first_seen: number;
  readonly waiting: number;
}

export interface RuntimeRule {
  readonly id: number;
  readonly list: "allow" | "deny";
  readonly pattern: string;
  /** Who answered (the admin client's address) and when (Unix milliseconds). */
  readonly by: string;
  readonly at: number;
}

interface Pending {
  view: PendingView;
  readonly target: Target;
  readonly waiters: Array<(a: Answer) => void>;
  readonly timer: ReturnType<typeof setTimeout>;
}

export type ApprovalEvent =
  | { readonly kind: "pending"; readonly pending: PendingView }
  | { readonly kind: "answered"; readonly id: number; readonly decision: Decision | "timeout" | "shutdown" }
  | { readonly kind: "rules" };

/** The list entry a scope makes of a target: `host`, `host:port`, or `*.parent` (its parent domain's subdomains). */
export function scopePattern(t: Target, scope: Scope): string {
  const host = t.kind === "ipv6" ? `[${t.host}]` : t.host;
  if (scope === "host:port") return `${host}:${t.port}`;
  if (scope === "*.parent" && t.kind === "domain" && t.host.split(".").length > 2) return `*.${t.host.slice(t.host.indexOf(".") + 1)}`;
  return host;
}

export class Approvals {
  readonly #pending = new Map<string, Pending>();
  #nextId = 1;
  rules: RuntimeRule[] = [];
  /** The runtime rules, compiled (null when there are none). */
  compiled: CompiledPolicy | null = null;
  readonly listeners: Array<(e: ApprovalEvent) => void> = [];

  constructor(private readonly limits: () => { readonly timeoutMs: number; readonly maxPending: number }) {}

  get pending(): PendingView[] {
    return [...this.#pending.values()].map((p) => p.view);
  }

  #emit(e: ApprovalEvent): void {
    for (const f of this.listeners) f(e);
  }

  /** Hold an attempt at `t`; "full" when too many targets are held already. */
  ask(t: Target, info: { protocol: string; method: string | null; client: string }): Promise<Answer> | "full" {
    const key = formatTarget(t);
    let p = this.#pending.get(key);
    if (!p) {
      const l = this.limits();
      if (this.#pending.size >= l.maxPending) return "full";
      const id = this.#nextId++;
      const timer = setTimeout(() => this.#settle(key, { kind: "timeout" }, "timeout"), l.timeoutMs);
      p = { view: { id, host: t.host, port: t.port, ...info, first_seen: Date.now(), waiting: 0 }, target: t, waiters: [], timer };
      this.#pending.set(key, p);
    }
    const entry = p;
    entry.view = { ...entry.view, waiting: entry.view.waiting + 1 };
    this.#emit({ kind: "pending", pending: entry.view });
    return new Promise((resolve) => entry.waiters.push(resolve));
  }

  #settle(key: string, a: Answer, decision: Decision | "timeout" | "shutdown"): void {
    const p = this.#pending.get(key);
    if (!p) return;
    this.#pending.delete(key);
    clearTimeout(p.timer);
    for (const w of p.waiters) w(a);
    this.#emit({ kind: "answered", id: p.view.id, decision });
  }

  /** Answer a pending entry by id; false when there is none. `by` says who, for the rule's record. */
  answer(id: number, decision: Decision, scope: Scope, by: string): { pattern: string } | null {
    const found = [...this.#pending.entries()].find(([, p]) => p.view.id === id);
    if (!found) return null;
    const [key, p] = found;
    const pattern = scopePattern(p.target, decision === "allow_once" ? "host:port" : scope);
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

  /** Refuse everything still held (the proxy is stopping, or no longer asks), saying why. */
  close(why = "the proxy is stopping; nobody answered"): void {
    for (const key of [...this.#pending.keys()]) this.#settle(key, { kind: "deny", why }, "shutdown");
  }
}
