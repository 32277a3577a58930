/**
 * The proxy's live state: the current immutable config (swapped atomically on reload), the
 * runtime mode, the blocked-event log and the addresses we listen on.
 *
 * Mode rule: `POST /mode` sets a runtime mode that survives reloads as long as the file's `mode`
 * stays what it was when the runtime mode was set; when the file's `mode` changes, the file wins.
 */
import { diffConfigSteps } from "../config/diff.ts";
import { keepListeners, type Listeners, type LoadedConfig, type LoadResult } from "../config/load.ts";
import type { Mode } from "../config/schema.ts";
import { eachSteps, runStepsSliced } from "../config/steps.ts";
import type { Logger } from "../log.ts";
import { evaluateTarget, type Decision, type DecideContext, type Resolver, type SelfAddr } from "../policy/decide.ts";
import { upstreamFor } from "../policy/route.ts";
import type { Target } from "../policy/target.ts";
import { warningLinesSteps } from "../config/warning-lines.ts";
import { hostAddresses } from "./host-addresses.ts";
import { BlockedLog, type BlockedEvent, type NewBlockedEvent } from "./blocked.ts";
import { Metrics } from "./metrics.ts";
import { BoundedResolver } from "./resolver.ts";
import { Approvals } from "./approvals.ts";
import { EventHub } from "./events.ts";
import { withExtra, type CompiledPolicy } from "../policy/rules.ts";

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly changes: readonly string[];
}

export class ProxyState {
  #config: LoadedConfig;
  #runtimeMode: Mode | null = null;
  #fileModeAtOverride: Mode | null = null;
  readonly blocked: BlockedLog;
  readonly metrics = new Metrics();
  /** Bound listener addresses (filled in once the listeners are up). */
  self: SelfAddr[] = [];
  /** The listeners' bound addresses, once they are up (what /config shows). */
  bound: Listeners | null = null;
  /** Lookups coalesced per name and capped in number (limits.max_dns_lookups). */
  readonly dns: BoundedResolver;
  /** Held requests and runtime rules (policy.on_unlisted = "ask"). */
  readonly approvals: Approvals;
  /** Live events for GET /events and the dashboard. */
  readonly events = new EventHub();
  #localAddrs: ReadonlySet<string> = new Set();
  #localAddrsAt = -Infinity;
  /**
   * Run before a new config is swapped in (the MITM layer loads the CA here); a throw keeps the
   * old config and reports the message as a problem. Returns what it changed that the config
   * keys do not show (a new CA behind the same path), for the reload's list of changes.
   */
  prepare: Array<(next: LoadedConfig, prev: LoadedConfig) => Promise<string[] | undefined>> = [];
  /** Called for every block (`run` collects its summary here: draining /blocked cannot hide anything from it). */
  onBlocked: Array<(e: BlockedEvent) => void> = [];
  /** Called whenever the effective mode changes (runtime or reload). */
  onModeChange: Array<(mode: Mode) => void> = [];
  /** Called after every config swap: what was allowed under the old policy is judged again. */
  onPolicyChange: Array<() => void> = [];
  #reloading: Promise<ReloadOutcome> = Promise.resolve({ ok: true, problems: [], changes: [] });

  constructor(
    config: LoadedConfig,
    readonly log: Logger,
    readonly resolve: Resolver,
    /** Reads and compiles the config for a reload; may take several event-loop turns (loadConfigSliced). */
    private readonly loader: () => LoadResult | Promise<LoadResult>,
  ) {
    this.#config = config;
    this.blocked = new BlockedLog(config.np.max_blocked_events);
    this.dns = new BoundedResolver(resolve, () => this.#config.np.limits.max_dns_lookups);
    this.approvals = new Approvals(() => ({ timeoutMs: this.#config.np.policy.ask_timeout_ms, maxPending: this.#config.np.policy.ask_max_pending }));
    // A runtime rule changes the policy as a reload does: what it now blocks is closed.
    this.approvals.listeners.push((e) => {
      if (e.kind === "rules") for (const f of this.onPolicyChange) f();
      this.events.publish(
        e.kind === "pending"
          ? { type: "pending", data: e.pending }
          : e.kind === "answered"
            ? { type: "answered", data: e }
            : { type: "rules", data: this.approvals.rules },
      );
    });
    this.onModeChange.push((mode) => this.events.publish({ type: "mode", data: { mode } }));
  }

  /** The policy in force: the config's lists, and the runtime rules approvals added. */
  get policy(): CompiledPolicy {
    const base = this.#config.policy;
    const extra = this.approvals.compiled;
    if (this.#effective === null || this.#effective.base !== base || this.#effective.extra !== extra) {
      this.#effective = { base, extra, policy: withExtra(base, extra) };
    }
    return this.#effective.policy;
  }
  #effective: { base: CompiledPolicy; extra: CompiledPolicy | null; policy: CompiledPolicy } | null = null;

  get config(): LoadedConfig {
    return this.#config;
  }

  get mode(): Mode {
    return this.#runtimeMode ?? this.#config.np.mode;
  }

  /** Re-read the mode (after an await, when it may have changed). */
  isLimited(): boolean {
    return this.mode === "limited";
  }

  setMode(mode: Mode): void {
    const before = this.mode;
    this.#runtimeMode = mode;
    this.#fileModeAtOverride = this.#config.np.mode;
    this.log.info("updated network mode", { mode });
    this.#modeMaybeChanged(before);
  }

  #modeMaybeChanged(before: Mode): void {
    const now = this.mode;
    if (now !== before) for (const f of this.onModeChange) f(now);
  }

  /**
   * This host's interface addresses, re-read at most every 10 s (a DHCP renewal or a new VPN
   * interface is picked up without a restart; reading them costs microseconds).
   */
  localAddrs(now = performance.now()): ReadonlySet<string> {
    if (now - this.#localAddrsAt > 10_000) {
      this.#localAddrs = hostAddresses();
      this.#localAddrsAt = now;
    }
    return this.#localAddrs;
  }

  /** What the pure decision needs to know about this host: our listeners and interface addresses. */
  decideContext(): DecideContext {
    return { self: this.self, localAddrs: this.localAddrs() };
  }

  /** Decide for a canonical target under the current config (synchronously when no lookup is needed). */
  evaluate(target: Target, once: CompiledPolicy | null = null): Decision | Promise<Decision> {
    const c = this.#config;
    return evaluateTarget(withExtra(this.policy, once), target, {
      self: this.self,
      localAddrs: this.localAddrs(),
      resolve: this.#timedResolve,
      dnsTimeoutMs: c.np.limits.dns_timeout_ms,
      byName: c.route.resolve === "upstream" ? this.#byName : undefined,
    });
  }

  /** Resolved by the upstream: names that every route sends to it (plain HTTP and tunnels alike). */
  #byName = (t: Target): boolean => {
    const r = this.#config.route;
    return upstreamFor(r, t, true) !== null && upstreamFor(r, t, false) !== null;
  };

  #timedResolve: Resolver = async (name) => {
    const t0 = performance.now();
    try {
      return await this.dns.resolve(name);
    } finally {
      this.metrics.dnsLatency.observe((performance.now() - t0) / 1000);
    }
  };

  record(e: NewBlockedEvent): BlockedEvent {
    const ev = this.blocked.record(e);
    this.events.publish({ type: "block", data: ev });
    for (const f of this.onBlocked) f(ev);
    this.metrics.blocks.add({ reason: e.reason });
    this.metrics.requests.add({ protocol: e.protocol, decision: "block" });
    return ev;
  }

  /**
   * Load the config again and swap it in; on failure keep the current one and report every
   * problem. Reloads are serialized.
   */
  reload(): Promise<ReloadOutcome> {
    this.#reloading = this.#reloading.then(() => this.#reload());
    return this.#reloading;
  }

  async #reload(): Promise<ReloadOutcome> {
    // The config in force is not touched until the new one is complete: until then every request
    // is judged by the old policy, and a load that fails or throws leaves it in force.
    let result: LoadResult;
    try {
      result = await this.loader();
    } catch (e) {
      return this.#failed([`config reload failed: ${(e as Error).message}`], this.#config.source.path);
    }
    if (!result.ok) return this.#failed(result.problems, result.source.path);
    if (this.#config.source.exists && !result.config.source.exists) {
      // A deleted config is far more likely a mistake or an editor mid-save than a wish to fall
      // back to defaults; keep enforcing what was loaded until a file is back.
      const path = result.config.source.path;
      return this.#failed([`the config file ${path} was deleted; keeping the previous config until it is back`], path);
    }
    return this.swap(result.config);
  }

  #failed(problems: readonly string[], path: string): ReloadOutcome {
    this.metrics.reloads.add({ result: "failure" });
    // First lines only: a TOML syntax error quotes the lines around it, which may hold the
    // admin token or the SOCKS5 password. (The /reload answer keeps them: its caller has the token.)
    const logged = problems.map((p) => p.split("\n", 1)[0]!);
    this.log.warn("config reload failed; keeping the previous config", { path, problems: logged });
    return { ok: false, problems, changes: [] };
  }

  async swap(loaded: LoadedConfig): Promise<ReloadOutcome> {
    const prev = this.#config;
    const { config: next, notes } = keepListeners(prev, loaded, this.bound ?? prev.listeners);
    const modeBefore = this.mode;
    const fromHooks: string[] = [];
    for (const hook of this.prepare) {
      try {
        fromHooks.push(...((await hook(next, prev)) ?? []));
      } catch (e) {
        return this.#failed([(e as Error).message], next.source.path);
      }
    }
    // Nothing fails from here on. What changed and the new config's warnings are worked out and
    // logged before the swap, a batch at a time with the event loop's turns between (a list can
    // change by 100,000 entries, a long list can bring 10,000 warnings); the old config stays in
    // force meanwhile, and the swap below is one step.
    const applied = [...(await runStepsSliced(diffConfigSteps(prev, next))), ...fromHooks];
    // A log line can wait on a slow reader of stderr: ten at a time. Warnings the running config
    // had already were logged (or counted) when it was loaded; `check` lists every one.
    const warnings = await runStepsSliced(warningLinesSteps(next.warnings, prev.warnings));
    await runStepsSliced(eachSteps(warnings, (w) => this.log.warn(w), 10));
    await runStepsSliced(eachSteps(applied, (c) => this.log.info(`config change: ${c}`), 10));
    for (const n of notes) this.log.warn(`config change: ${n}`);
    if (this.#runtimeMode !== null && next.np.mode !== this.#fileModeAtOverride) {
      this.log.info("config file changed mode; dropping the runtime mode set through the admin API", { mode: next.np.mode });
      this.#runtimeMode = null;
      this.#fileModeAtOverride = null;
    }
    this.#config = next;
    this.metrics.reloads.add({ result: "success" });
    this.blocked.resize(next.np.max_blocked_events);
    const changes = [...applied, ...notes];
    this.log.info("reloaded config", { path: next.source.path });
    this.#modeMaybeChanged(modeBefore);
    // No longer asking: what is still held gets the refusal it would get now.
    if (next.np.policy.on_unlisted !== "ask") this.approvals.close('policy.on_unlisted is no longer "ask"', false);
    for (const f of this.onPolicyChange) f();
    return { ok: true, problems: [], changes };
  }
}
