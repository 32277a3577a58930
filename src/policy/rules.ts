/**
 * The compiled policy: both lists compiled (each a RuleSet, rule-set.ts), every bad entry
 * reported, and the lookups the decision makes of them, also across several policies (the
 * config's and the runtime's rules).
 *
 * The pattern language is in pattern.ts.
 */
import type { PolicyConfig, Problem } from "../config/schema.ts";
import { broadAllowWarning } from "./broad.ts";
import { parseTrimmed, PatternError, type ListName, type ParsedPattern, type Rule } from "./pattern.ts";
import { RuleSet } from "./rule-set.ts";
import type { Target } from "./target.ts";
import { runSteps } from "../config/steps.ts";

/** What the decision asks of a list: a compiled RuleSet, or several of them (runtime rules). */
export interface RuleLookup {
  readonly empty: boolean;
  /** The list has a `*` entry. */
  readonly hasAny: boolean;
  match(t: Target, opts?: { explicitOnly?: boolean }): Rule | null;
  matchIp(kind: "ipv4" | "ipv6", host: string, port: number, explicitOnly?: boolean): Rule | null;
  matchDenied(t: Target): Rule | null;
  matchIpOrEmbedded(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null;
}

/** Lists consulted in order, the first rule found winning: the config's, then the runtime's. */
export class RuleUnion implements RuleLookup {
  constructor(readonly sets: readonly RuleLookup[]) {}
  get empty(): boolean {
    return this.sets.every((s) => s.empty);
  }
  get hasAny(): boolean {
    return this.sets.some((s) => s.hasAny);
  }
  match(t: Target, opts?: { explicitOnly?: boolean }): Rule | null {
    for (const s of this.sets) {
      const r = s.match(t, opts);
      if (r) return r;
    }
    return null;
  }
  matchIp(kind: "ipv4" | "ipv6", host: string, port: number, explicitOnly?: boolean): Rule | null {
    for (const s of this.sets) {
      const r = s.matchIp(kind, host, port, explicitOnly);
      if (r) return r;
    }
    return null;
  }
  matchDenied(t: Target): Rule | null {
    for (const s of this.sets) {
      const r = s.matchDenied(t);
      if (r) return r;
    }
    return null;
  }
  matchIpOrEmbedded(kind: "ipv4" | "ipv6", host: string, port: number): Rule | null {
    for (const s of this.sets) {
      const r = s.matchIpOrEmbedded(kind, host, port);
      if (r) return r;
    }
    return null;
  }
}

/** `p` with more entries in its lists (runtime rules, a one-off approval); p itself when there are none. */
export function withExtra(p: CompiledPolicy, extra: CompiledPolicy | null): CompiledPolicy {
  if (!extra || (extra.allow.empty && extra.deny.empty)) return p;
  return { ...p, allow: new RuleUnion([p.allow, extra.allow]), deny: new RuleUnion([p.deny, extra.deny]) };
}

export interface CompiledPolicy {
  readonly allow: RuleLookup;
  readonly deny: RuleLookup;
  readonly allowLocalBinding: boolean;
  /** The lists as configured, for GET /patterns. */
  readonly allowedRaw: readonly string[];
  readonly deniedRaw: readonly string[];
  readonly unixSockets: readonly string[];
}

/** What compiling reads from the policy table (not the ask settings, which the gate reads). */
export type PolicyLists = Pick<PolicyConfig, "allowed_domains" | "denied_domains" | "allow_unix_sockets" | "allow_local_binding">;

/** A policy compiled from lists: its lists are RuleSets (a CompiledPolicy may also union several). */
export type CompiledRules = CompiledPolicy & { readonly allow: RuleSet; readonly deny: RuleSet };

export interface CompileResult {
  readonly policy: CompiledRules;
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

/**
 * Compile both lists; every bad entry is reported, not just the first. `problems` are errors
 * (the configuration must be refused); `warnings` are entries that are accepted but dangerously
 * broad (severity "warning", keyed by entry like the errors): the loader should log them.
 */
export function compilePolicy(cfg: PolicyLists): CompileResult {
  return runSteps(compilePolicySteps(cfg));
}

export { broadAllowWarning } from "./broad.ts";

/** What compiling one list builds up, batch after batch. */
interface ListOut {
  readonly set: RuleSet;
  /**
   * Entries reported so far (a problem or a warning), trimmed and lowercased: a repeated entry is
   * reported once. (A repeated valid entry is compiled again; the index keeps the first rule.)
   */
  readonly reported: Set<string>;
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

/** Compile entries[from, to) of the list into `out`. */
function compileEntries(out: ListOut, entries: readonly string[], from: number, to: number): void {
  const list = out.set.list;
  for (let i = from; i < to; i++) {
    const raw = entries[i]!;
    const trimmed = raw.trim();
    let parsed: ParsedPattern;
    try {
      parsed = parseTrimmed(raw, list, trimmed);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      if (firstReport(out, trimmed))
        out.problems.push({ severity: "error", key: `network_proxy.policy.${list}[${i}]`, message: `${JSON.stringify(raw)}: ${e.message}` });
      continue;
    }
    out.set.add(parsed);
    const broad = list === "allowed_domains" ? broadAllowWarning(parsed) : null;
    if (broad !== null && firstReport(out, trimmed))
      out.warnings.push({ severity: "warning", key: `network_proxy.policy.${list}[${i}]`, message: `${JSON.stringify(raw)}: ${broad}` });
  }
}

/** Whether the entry `trimmed` is reported for the first time (its spellings by case count as one). */
function firstReport(out: ListOut, trimmed: string): boolean {
  const key = trimmed.toLowerCase();
  if (out.reported.has(key)) return false;
  out.reported.add(key);
  return true;
}

/** Entries compiled between two pauses of compilePolicySteps. */
const STEP_ENTRIES = 250;

/**
 * compilePolicy as steps: it pauses (yields) after every STEP_ENTRIES entries, so that a caller
 * can let other work run between them (a reload of a long list while requests are forwarded);
 * the result is the same however the steps are run.
 */
export function* compilePolicySteps(cfg: PolicyLists): Generator<void, CompileResult, void> {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  function* build(list: ListName, entries: readonly string[]): Generator<void, RuleSet, void> {
    const out: ListOut = { set: new RuleSet(list), reported: new Set(), problems, warnings };
    out.set.names.reserve(entries.length);
    // The entries are compiled by a plain function, a batch per step: the engine optimizes
    // that loop better than one inside the generator.
    for (let from = 0; from < entries.length; from += STEP_ENTRIES) {
      if (from > 0) yield;
      compileEntries(out, entries, from, Math.min(entries.length, from + STEP_ENTRIES));
    }
    return out.set;
  }
  const allow = yield* build("allowed_domains", cfg.allowed_domains);
  const deny = yield* build("denied_domains", cfg.denied_domains);
  const policy: CompiledRules = Object.freeze({
    allow,
    deny,
    allowLocalBinding: cfg.allow_local_binding,
    allowedRaw: cfg.allowed_domains,
    deniedRaw: cfg.denied_domains,
    unixSockets: cfg.allow_unix_sockets,
  });
  return { policy, problems, warnings };
}
