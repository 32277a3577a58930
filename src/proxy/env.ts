/**
 * What every connection handler shares: the live state, the logger, the tunnel budget, the
 * sessions the sweeper ticks, and the MITM hand-off.
 */
import type { Logger } from "../log.ts";
import type { Decision } from "../policy/decide.ts";
import type { Target } from "../policy/target.ts";
import type { ProxyState } from "../runtime/state.ts";
import type { Conn } from "./conn.ts";
import type { HttpSession } from "./http/session.ts";
import type { Relay } from "./relay.ts";
import { Slots } from "./slots.ts";

export interface Session {
  /** The client connection. */
  readonly client: Conn;
  /** Advance time-outs by `ms`. */
  tick(ms: number): void;
  /** Close now if idle (graceful) or unconditionally (force). Returns true when closed. */
  shutdown(force: boolean): boolean;
  /** The mode just became limited: drop in-flight work that limited mode would refuse. */
  onLimited?(): void;
}

/** Takes over a CONNECT in limited mode (MITM). */
export interface MitmHook {
  intercept(session: HttpSession, target: Target, decision: Extract<Decision, { verdict: "allow" }>, early: Buffer | null): Promise<void>;
}

export class TunnelBudget {
  active = 0;
  constructor(private readonly max: () => number) {}
  tryAcquire(): boolean {
    if (this.active >= this.max()) return false;
    this.active++;
    return true;
  }
  release(): void {
    if (this.active > 0) this.active--;
  }
}

export class ProxyEnv {
  readonly sessions = new Set<Session>();
  readonly tunnels: TunnelBudget;
  mitm: MitmHook | null = null;
  /** Client connections open on all proxy listeners (leased by the listeners). */
  readonly connectionSlots: Slots;
  /** Open byte relays (CONNECT, SOCKS5, upgrades): closed when the mode becomes limited. */
  readonly relays = new Set<Relay>();

  constructor(
    readonly state: ProxyState,
    readonly log: Logger,
  ) {
    this.tunnels = new TunnelBudget(() => state.config.np.limits.max_tunnels);
    this.connectionSlots = new Slots(() => state.config.np.limits.max_connections);
  }

  /** Client connections open on all proxy listeners. */
  get connections(): number {
    return this.connectionSlots.used;
  }

  track(s: Session): void {
    this.sessions.add(s);
  }
  untrack(s: Session): void {
    this.sessions.delete(s);
    this.countBytes(s.client);
  }

  /**
   * Limited mode must hold for traffic already flowing: tunnels opened in full mode carry bytes
   * nobody can judge, so they are closed when the mode turns limited.
   */
  closeRelays(why: string): void {
    for (const s of [...this.sessions]) s.onLimited?.();
    if (this.relays.size === 0) return;
    this.log.info("closing open tunnels", { count: this.relays.size, why });
    for (const r of [...this.relays]) r.close(false);
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
