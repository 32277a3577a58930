/**
 * The gate every entry path asks before anything leaves the machine. It runs the target policy
 * and the admission (policy/admission.ts: one order of checks for every entry path), records
 * blocks, counts them, and writes exactly one decision line per request or tunnel, allowed or
 * not, with fixed field names (the access log):
 *
 *   protocol client method target decision reason rule route status error detail bytes_in bytes_out duration_ms
 *
 * Allowed traffic is logged at info when it ends (with its status, bytes and duration), blocks
 * at warn when they happen.
 */
import type { BlockReason, ErrorCode } from "../outcomes.ts";
import { OUTCOMES } from "../outcomes.ts";
import { admit, admitEntry, type AdmissionBlock, type AdmissionFacts, type Entry } from "../policy/admission.ts";
import type { Block, Decision, DialAddr } from "../policy/decide.ts";
import type { CompiledHook } from "../policy/hooks.ts";
import type { MethodRequest } from "../policy/method.ts";
import type { Rule } from "../policy/pattern.ts";
import type { CompiledPolicy } from "../policy/rules.ts";
import { upstreamFor } from "../policy/route.ts";
import { formatTarget, type Target } from "../policy/target.ts";
import type { Protocol } from "./blocked.ts";
import type { Departure } from "./approvals.ts";
import type { ProxyState } from "./state.ts";

/** Byte counters of the client connection a decision is about (read at its start and end). */
export interface ByteCounters {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface Attempt {
  readonly entry: Entry;
  readonly target: Target;
  /** The client's address, for records and logs. */
  readonly client: string;
  /** As recorded: the request method, "CONNECT", or null (SOCKS5). */
  readonly method: string | null;
  /** What the method policy judges (requests only). */
  readonly request: MethodRequest | null;
  readonly counters: ByteCounters;
  /** A one-off approval this attempt rides on (the requests inside a tunnel allowed once). */
  readonly grant?: CompiledPolicy | null;
  /** Set when the client goes away: a held attempt then stops waiting. */
  readonly gone?: Departure;
}

export interface UnixAttempt {
  readonly path: string;
  readonly client: string;
  readonly method: string;
  readonly request: MethodRequest;
  readonly counters: ByteCounters;
}

export type Verdict =
  | {
      readonly kind: "allow" | "intercept";
      readonly addresses: readonly DialAddr[];
      readonly rule: Rule | null;
      /** The `mitm_hooks` entry whose actions apply to this request, or null. */
      readonly hook: CompiledHook | null;
      readonly line: DecisionLine;
    }
  | { readonly kind: "block"; readonly block: AdmissionBlock; readonly line: DecisionLine }
  | { readonly kind: "fail"; readonly code: ErrorCode; readonly message: string; readonly line: DecisionLine };

const PROTOCOL: Readonly<Record<Entry, Protocol>> = {
  http: "http",
  https: "https",
  connect: "http-connect",
  socks5: "socks5",
  "unix-socket": "unix-socket",
};

/** One request's or tunnel's line in the access log, written once when it ends. */
export class DecisionLine {
  readonly #t0 = performance.now();
  readonly #in0: number;
  readonly #out0: number;
  #done = false;
  /** Where an allowed request or tunnel goes: "direct" or "upstream" (the upstream proxy). */
  route: "direct" | "upstream" | null = null;
  /**
   * The one-off approval (allow_once) that let this traffic through, or null. Later checks of
   * the same traffic (after the dial, after a policy change) judge it with this added.
   */
  grant: CompiledPolicy | null = null;

  constructor(
    private readonly gate: Gate,
    readonly protocol: Protocol,
    readonly client: string,
    readonly method: string | null,
    /** The target, or a unix socket path (formatted only when a line is written). */
    readonly to: Target | string,
    readonly counters: ByteCounters,
    public decision: "allow" | "intercept" | "block" | "fail",
    public rule: string | null,
  ) {
    this.#in0 = counters.bytesIn;
    this.#out0 = counters.bytesOut;
  }

  get done(): boolean {
    return this.#done;
  }

  /** host:port (IPv6 in brackets), or the unix socket path. */
  get target(): string {
    return typeof this.to === "string" ? this.to : formatTarget(this.to);
  }

  /**
   * The request or tunnel ended: `status` is what the client got (HTTP status, or the SOCKS5
   * reply code; 0 when it got nothing), `error` what went wrong after the decision, with its
   * `detail` in words.
   */
  finish(status: number, error: ErrorCode | null = null, detail: string | null = null, reason: BlockReason | null = null): void {
    if (this.#done) return;
    this.#done = true;
    const state = this.gate.state;
    const level = this.decision === "block" ? "warn" : "info";
    // The access log of allowed traffic can be turned off; blocks and failures are always logged.
    const logged = state.log.enabled(level) && (error !== null || level === "warn" || state.config.np.log.access);
    const live = state.events.active;
    if (!logged && !live) return;
    const fields = {
      protocol: this.protocol,
      client: this.client,
      method: this.method,
      target: this.target,
      decision: this.decision,
      reason,
      rule: this.rule,
      route: this.route,
      status,
      error,
      detail,
      bytes_in: this.counters.bytesIn - this.#in0,
      bytes_out: this.counters.bytesOut - this.#out0,
      duration_ms: Math.round(performance.now() - this.#t0),
    };
    if (live) state.events.publish({ type: "decision", data: { time: Date.now(), ...fields } });
    if (!logged) return;
    if (level === "warn") state.log.warn("decision", fields);
    else state.log.info("decision", fields);
  }

  /** End with an error answered by the proxy: counted, and its status taken from the outcome table. */
  fail(e: { code: ErrorCode; message: string }): void {
    if (this.#done) return;
    this.gate.state.metrics.errors.add({ code: e.code });
    const o = OUTCOMES[e.code];
    this.finish(this.protocol === "socks5" ? o.socks : o.status, e.code, e.message);
  }

  /**
   * Refuse what was allowed a moment ago (the mode changed while a tunnel was being set up; a
   * TLS name differs from the CONNECT target; a reload revoked the target): recorded like any
   * block, and this line ends as one.
   */
  refuse(b: AdmissionBlock, host: string, port: number | null, as: { protocol?: Protocol; method?: string | null } = {}): void {
    this.gate.record(this, b, host, port, as);
  }
}

/** What admission needs to know about the running proxy. */
export function admissionFacts(state: ProxyState): AdmissionFacts {
  const c = state.config;
  return { mode: state.mode, mitm: c.np.mitm.enabled, hooks: c.hooks, plaintextInjection: c.np.dangerously_allow_plaintext_credential_injection };
}

export class Gate {
  constructor(readonly state: ProxyState) {}

  /**
   * Judge a network target arriving by `a.entry` (DNS included; synchronous when no lookup is
   * needed). Blocks are recorded and logged here.
   */
  admit(a: Attempt): Verdict | Promise<Verdict> {
    const decision = this.state.evaluate(a.target, a.grant ?? null);
    return decision instanceof Promise ? decision.then((d) => this.#judged(a, d)) : this.#judged(a, decision);
  }

  /**
   * With `policy.on_unlisted = "ask"`, a target no list mentions (and nothing else refuses: not
   * denied, not local, not ours, and the mode lets this entry path carry it) is held for the
   * operator's answer instead of refused.
   */
  #judged(a: Attempt, d: Decision): Verdict | Promise<Verdict> {
    const state = this.state;
    if (d.verdict !== "block" || d.reason !== "not_allowed" || state.config.np.policy.on_unlisted !== "ask") return this.#verdict(a, d);
    if (admitEntry(a.entry, a.request, admissionFacts(state)).verdict === "block") return this.#verdict(a, d);
    return this.#ask(a, d);
  }

  async #ask(a: Attempt, d: Block): Promise<Verdict> {
    const state = this.state;
    const held = state.approvals.ask(a.target, { protocol: PROTOCOL[a.entry], method: a.method, client: a.client }, a.gone ?? null);
    const p = state.config.np.policy;
    if (held === "full") {
      return this.#verdict(a, {
        ...d,
        reason: "ask_queue_full",
        explain: `${p.ask_max_pending} targets are already waiting for an answer (policy.ask_max_pending)`,
        fixes: [],
        hint: null,
      });
    }
    const answer = await held;
    if (answer.kind === "gone") {
      // Nobody to answer: the caller sees its client gone and ends the line as client_closed.
      const line = new DecisionLine(this, PROTOCOL[a.entry], a.client, a.method, a.target, a.counters, "fail", null);
      return { kind: "fail", code: "client_closed", message: "the client went away while its request was held", line };
    }
    if (answer.kind === "allow") {
      const again = state.evaluate(a.target, answer.once);
      return this.#verdict(a, again instanceof Promise ? await again : again, answer.once);
    }
    const explain = answer.kind === "deny" ? answer.why : `${d.explain}; no one answered within ${p.ask_timeout_ms} ms (policy.ask_timeout_ms)`;
    return this.#verdict(a, { ...d, explain, hint: null, fixes: [] });
  }

  #verdict(a: Attempt, decision: Decision, grant: CompiledPolicy | null = null): Verdict {
    const state = this.state;
    const d = admit(a.entry, decision, a.request, admissionFacts(state));
    const line = new DecisionLine(this, PROTOCOL[a.entry], a.client, a.method, a.target, a.counters, "allow", null);
    line.grant = grant ?? a.grant ?? null;
    switch (d.verdict) {
      case "pass":
      case "intercept": {
        line.decision = d.verdict === "pass" ? "allow" : "intercept";
        const hook = d.verdict === "pass" ? d.hook : null;
        // A hooked request's line names the hook and what it injects (never the values).
        line.rule = hook ? `${hook.label}${hook.inject.length ? ` injects ${hook.inject.map((h) => h.name).join(", ")}` : ""}` : (d.target.rule?.raw ?? null);
        state.metrics.requests.add({ protocol: line.protocol, decision: d.verdict === "pass" ? "allow" : "mitm" });
        if (d.verdict === "pass") {
          // Plain HTTP takes the plain route; tunnels and TLS to the origin the other.
          line.route = upstreamFor(state.config.route, a.target, a.entry !== "http") ? "upstream" : "direct";
          state.metrics.routes.add({ protocol: line.protocol, route: line.route });
        }
        return { kind: line.decision, addresses: d.target.addresses, rule: d.target.rule, hook, line };
      }
      case "block":
        this.record(line, d.block, a.target.host, a.target.port);
        return { kind: "block", block: d.block, line };
      case "fail":
        // The caller answers the client, counts the error and ends the line (see DecisionLine.fail).
        line.decision = "fail";
        return { kind: "fail", code: d.code, message: d.explain, line };
    }
  }

  /**
   * A request the proxy answers itself, without dialing anything (the read-only admin view
   * under `run`): an allow with `rule` naming why, and a line to finish with its status.
   */
  answeredHere(a: Omit<Attempt, "request">, rule: string): DecisionLine {
    const line = new DecisionLine(this, PROTOCOL[a.entry], a.client, a.method, a.target, a.counters, "allow", rule);
    this.state.metrics.requests.add({ protocol: line.protocol, decision: "allow" });
    return line;
  }

  /** A unix socket target: allowlisted path, then the method policy. The platform check is the caller's. */
  admitUnix(a: UnixAttempt, allowed: boolean): Verdict {
    const state = this.state;
    const line = new DecisionLine(this, "unix-socket", a.client, a.method, a.path, a.counters, "allow", null);
    let block: AdmissionBlock | null = null;
    const e = admitEntry("unix-socket", a.request, { ...admissionFacts(state), mitm: false });
    if (!allowed) {
      // The path is the first check; its hint only when the method would pass too.
      const hint = e.verdict === "block" ? null : `the proxy's operator can add ${JSON.stringify(a.path)} to network_proxy.policy.allow_unix_sockets`;
      block = { reason: "not_allowed", explain: `${a.path} is not in allow_unix_sockets`, hint, mode: null };
    } else if (e.verdict === "block") block = e.block;
    if (block) {
      this.record(line, block, a.path, null);
      return { kind: "block", block, line };
    }
    line.rule = a.path;
    state.metrics.requests.add({ protocol: "unix-socket", decision: "allow" });
    return { kind: "allow", addresses: [], rule: null, hook: null, line };
  }

  /**
   * Record a block against `line` (in /blocked, the metrics and the log) and end the line with
   * the block's answer. `as` records it under another protocol or method than the line's (a TLS
   * name refused inside an intercepted CONNECT is an `https` block with no method).
   */
  record(line: DecisionLine, b: AdmissionBlock, host: string, port: number | null, as: { protocol?: Protocol; method?: string | null } = {}): void {
    line.decision = "block";
    const method = as.method === undefined ? line.method : as.method;
    this.state.record({
      host,
      port,
      reason: b.reason,
      client: line.client,
      method,
      mode: b.mode,
      protocol: as.protocol ?? line.protocol,
      explain: b.explain,
      hint: b.hint,
    });
    const o = OUTCOMES[b.reason];
    line.finish(line.protocol === "socks5" ? o.socks : o.status, null, b.explain, b.reason);
  }
}
