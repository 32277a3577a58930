/**
 * What every connection handler shares: the live state, the gate, the tunnels, the connection
 * slots, the sessions the sweeper ticks, and the hand-off to HTTPS interception.
 */
import type { LimitsConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { DecideContext } from "../policy/decide.ts";
import type { CompiledPolicy } from "../policy/rules.ts";
import type { Target } from "../policy/target.ts";
import { Gate, type DecisionLine } from "../runtime/gate.ts";
import type { ProxyState } from "../runtime/state.ts";
import { buffered, type Conn } from "./conn.ts";
import { Slots } from "./slots.ts";
import { Tunnels, type TunnelDeps } from "./tunnel.ts";

export interface Session {
  /** The client connection. */
  readonly client: Conn;
  /** Advance time-outs by `ms`. */
  tick(ms: number): void;
  /** Close now if idle (graceful) or unconditionally (force). Returns true when closed. */
  shutdown(force: boolean): boolean;
  /** The mode just became limited: drop in-flight work that limited mode would refuse. */
  onLimited?(): void;
  /** The policy changed: drop kept-alive upstreams and in-flight work it now blocks. */
  rejudge?(policy: CompiledPolicy, ctx: DecideContext): void;
}

/** Takes over an allowed CONNECT in limited mode (MITM). */
export interface MitmHandoff {
  intercept(client: Conn, peer: string, target: Target, line: DecisionLine, early: Buffer | null): Promise<void>;
}

/** The admin API's read-only answers, for a command under `run` (see http/admin-view.ts). */
export interface AdminView {
  readonly addr: { readonly host: string; readonly port: number };
  /** Answer `GET pathAndQuery` as the admin API would. */
  fetch(pathAndQuery: string): Promise<Response>;
}

export class ProxyContext implements TunnelDeps {
  readonly sessions = new Set<Session>();
  readonly gate: Gate;
  readonly tunnels: Tunnels;
  /** Client connections open on all proxy listeners (leased by the listeners). */
  readonly connectionSlots: Slots;
  mitm: MitmHandoff | null = null;
  adminView: AdminView | null = null;

  constructor(
    readonly state: ProxyState,
    readonly log: Logger,
  ) {
    this.gate = new Gate(state);
    this.tunnels = new Tunnels(state, log);
    buffered.limit = state.config.np.limits.max_buffered_bytes;
    this.connectionSlots = new Slots(
      () => state.config.np.limits.max_connections,
      (listener) => state.metrics.active.add({ listener }, -1),
    );
  }

  /** Client connections open on all proxy listeners. */
  get connections(): number {
    return this.connectionSlots.used;
  }

  limits(): LimitsConfig {
    return this.state.config.np.limits;
  }

  track(s: Session): void {
    this.sessions.add(s);
  }
  untrack(s: Session): void {
    this.sessions.delete(s);
    this.countBytes(s.client);
  }

  /** The mode turned limited: tunnels carry bytes nobody can judge, and writes in flight are cut. */
  onLimited(): void {
    for (const s of [...this.sessions]) s.onLimited?.();
    this.tunnels.closeAll("mode changed to limited");
  }

  /** A new config is in force: whatever its policy now blocks is closed, and each closure recorded. */
  onPolicyChanged(): void {
    buffered.limit = this.limits().max_buffered_bytes;
    const policy = this.state.policy;
    const ctx = this.state.decideContext();
    const closed = this.tunnels.rejudge(policy, ctx, this.state.config.hooks);
    for (const s of [...this.sessions]) s.rejudge?.(policy, ctx);
    if (closed > 0) this.log.warn("closed tunnels the new policy blocks", { count: closed });
  }

  /** Once per sweep: time-outs, byte counters, and the buffer budget's use. */
  sweep(ms: number): void {
    for (const s of this.sessions) {
      s.tick(ms);
      this.countBytes(s.client);
    }
    this.tunnels.tick(ms);
    this.state.metrics.buffered.set({}, buffered.bytes);
  }

  /** Add what a client connection moved since the last call to the byte counters. */
  countBytes(c: Conn): void {
    const m = this.state.metrics.bytes;
    if (c.bytesIn !== c.countedIn) {
      m.add({ direction: "in" }, c.bytesIn - c.countedIn);
      c.countedIn = c.bytesIn;
    }
    if (c.bytesOut !== c.countedOut) {
      m.add({ direction: "out" }, c.bytesOut - c.countedOut);
      c.countedOut = c.bytesOut;
    }
  }
}
