/**
 * Tunnels: byte relays between a client and an upstream, for CONNECT, SOCKS5 and upgraded
 * HTTP (WebSocket). One module does what each of them needs:
 *
 * - a slot of `limits.max_tunnels`, as a lease that is given back exactly once, however the
 *   set-up or the tunnel ends;
 * - `openTunnel`: ask the gate, take a slot, dial the vetted addresses (cancelled when the
 *   client goes away), check again after the dial (the mode or the policy may have changed
 *   meanwhile), answer the client, relay;
 * - the register of open tunnels: idle time-outs in one sweep, closing them all when the mode
 *   turns limited, and re-judging them when the policy changes (`rejudge`).
 */
import type { Logger } from "../log.ts";
import { isProxyError, ProxyError, type ErrorCode } from "../outcomes.ts";
import { modeBlock, type AdmissionBlock } from "../policy/admission.ts";
import { stillAllowed, type DecideContext, type DialAddr, type Resolver } from "../policy/decide.ts";
import { NO_HOOKS, type HookTable } from "../policy/hooks.ts";
import { upstreamFor, type Route, type UpstreamProxy } from "../policy/route.ts";
import { withExtra, type CompiledPolicy } from "../policy/rules.ts";
import type { Target } from "../policy/target.ts";
import type { DecisionLine, Gate } from "../runtime/gate.ts";
import type { ProxyState } from "../runtime/state.ts";
import type { Conn } from "./conn.ts";
import { type ClientGone, dial, DialAbortedError, type UpstreamTls } from "./dial.ts";
import { Relay, type RelayOwner } from "./relay.ts";
import { Slots, type Lease } from "./slots.ts";
import { dialProxy, dialThrough, startTls } from "./upstream.ts";

export type TunnelKind = "connect" | "socks5" | "upgrade";

export interface TunnelSpec {
  readonly kind: TunnelKind;
  readonly client: Conn;
  readonly up: Conn;
  readonly target: Target;
  readonly line: DecisionLine;
  readonly lease: Lease;
  /** Client bytes already read that go upstream first. */
  readonly early: Uint8Array | null;
  /** What the client was answered (HTTP status, or SOCKS5 reply): the decision line's status. */
  readonly status: number;
  /** Called once when the tunnel has closed. */
  readonly onClosed?: () => void;
}

export class OpenTunnel implements RelayOwner {
  readonly relay: Relay;
  #closedBy: ErrorCode | null = null;

  constructor(
    readonly spec: TunnelSpec,
    private readonly tunnels: Tunnels,
  ) {
    this.relay = new Relay(spec.client, spec.up, this);
  }

  relayDone(): void {
    this.tunnels.ended(this);
  }

  /** Close it (abort: reset both sides), noting why for the decision line. */
  close(abort: boolean, why: ErrorCode | null = null): void {
    this.#closedBy ??= why;
    this.relay.close(abort);
  }

  get closedBy(): ErrorCode | null {
    return this.#closedBy;
  }
}

/** What `openTunnel` needs from the proxy (the proxy context provides it). */
export interface TunnelDeps {
  readonly state: ProxyState;
  readonly log: Logger;
  readonly gate: Gate;
  readonly tunnels: Tunnels;
}

export class Tunnels {
  readonly slots: Slots;
  readonly open = new Set<OpenTunnel>();
  /** Dials in progress (every kind: tunnels and forwarded requests). */
  pendingDials = 0;

  constructor(
    private readonly state: ProxyState,
    private readonly log: Logger,
  ) {
    this.slots = new Slots(
      () => state.config.np.limits.max_tunnels,
      () => state.metrics.tunnelSlots.add({}, -1),
    );
  }

  /** A tunnel slot, or null when `limits.max_tunnels` are taken. */
  lease(): Lease | null {
    const l = this.slots.tryLease();
    if (l) this.state.metrics.tunnelSlots.add({}, 1);
    return l;
  }

  /**
   * Connect to an allowed target: to its vetted addresses, or through the upstream proxy its
   * route names (`plain`: a plain HTTP request, which an HTTP upstream takes in absolute form).
   * Counted as pending while it lasts and timed into the connect histogram.
   */
  async dial(
    target: Target,
    addrs: readonly DialAddr[],
    o: { gone?: ClientGone | undefined; tls?: UpstreamTls | undefined; plain?: boolean; label?: string },
  ): Promise<Conn> {
    const m = this.state.metrics;
    const t0 = performance.now();
    this.pendingDials++;
    m.pendingDials.add({}, 1);
    try {
      const timeoutMs = this.state.config.np.limits.connect_timeout_ms;
      const route = this.state.config.route;
      const up = upstreamFor(route, target, o.plain !== true);
      if (!up) return await dial(addrs, target.port, { timeoutMs, label: o.label ?? "upstream", tls: o.tls, gone: o.gone });
      return await viaUpstream(up, route, target, addrs, { ...o, timeoutMs, resolve: (name) => this.state.dns.resolve(name) });
    } finally {
      this.pendingDials--;
      m.pendingDials.add({}, -1);
      m.connectLatency.observe((performance.now() - t0) / 1000);
    }
  }

  /** Relay from now on; the lease, the register and the decision line are settled when it ends. */
  start(spec: TunnelSpec): OpenTunnel {
    this.state.metrics.tunnels.add({}, 1);
    const t = new OpenTunnel(spec, this);
    this.open.add(t);
    spec.client.resume();
    t.relay.start(spec.early);
    return t;
  }

  /** A tunnel closed: give its slot back and end its decision line. */
  ended(t: OpenTunnel): void {
    const spec = t.spec;
    this.open.delete(t);
    spec.lease.release();
    this.state.metrics.tunnels.add({}, -1);
    spec.line.finish(spec.status, t.closedBy);
    spec.onClosed?.();
  }

  /** Advance idle time; close tunnels idle for `limits.tunnel_idle_timeout_ms`. */
  tick(ms: number): void {
    const limit = this.state.config.np.limits.tunnel_idle_timeout_ms;
    for (const t of this.open) {
      const r = t.relay;
      r.a.idleMs += ms;
      r.b.idleMs += ms;
      if (r.idleMs >= limit) {
        this.log.info("closing idle tunnel", { client: t.spec.line.client, target: t.spec.line.target, idle_ms: r.idleMs });
        t.close(false);
      }
    }
  }

  /** Limited mode must hold for traffic already flowing: tunnels carry bytes nobody can judge. */
  closeAll(why: string): void {
    if (this.open.size === 0) return;
    this.log.info("closing open tunnels", { count: this.open.size, why });
    for (const t of [...this.open]) t.close(false, "closed_by_policy");
  }

  /**
   * The policy changed: close every tunnel it now blocks (by the target and the address that
   * was dialed), and record each closure. Returns how many were closed.
   */
  rejudge(policy: CompiledPolicy, ctx: DecideContext, hooks: HookTable = NO_HOOKS): number {
    let closed = 0;
    for (const t of [...this.open]) {
      const { kind, target } = t.spec;
      // A raw tunnel to a host that now has mitm_hooks carries requests no hook can judge.
      const hooked = kind !== "upgrade" && hooks.has(target.host);
      const b = hooked
        ? { reason: "mitm_required" as const, explain: `${target.host} now has mitm_hooks, so its requests must be inspected`, hint: null }
        : stillAllowed(withExtra(policy, t.spec.line.grant), target, t.spec.up.remote, ctx);
      if (!b) continue;
      closed++;
      recordRevoked(this.state, t.spec.line, t.spec.target, b);
      t.close(true, "closed_by_policy");
    }
    return closed;
  }
}

/**
 * The roots an https:// upstream proxy is verified against: the bundled public ones plus its
 * ca_file. Read at the first dial through an upstream, not at start-up: loading node:tls costs
 * start-up time and memory that a proxy without an upstream never needs.
 */
let upstreamRoots: readonly string[] | null = null;
async function bundledRoots(): Promise<readonly string[]> {
  upstreamRoots ??= [...(await import("node:tls")).rootCertificates];
  return upstreamRoots;
}

async function viaUpstream(
  up: UpstreamProxy,
  route: Route,
  target: Target,
  addrs: readonly DialAddr[],
  o: { gone?: ClientGone | undefined; tls?: UpstreamTls | undefined; plain?: boolean; timeoutMs: number; resolve: Resolver },
): Promise<Conn> {
  const deadline = performance.now() + o.timeoutMs;
  const through = { timeoutMs: o.timeoutMs, gone: o.gone, resolve: o.resolve, roots: await bundledRoots() };
  // The vetted address goes upstream when asked to (pin_addresses) and when the upstream takes
  // only addresses (socks5://); otherwise the name, which the upstream resolves again.
  const first = addrs[0];
  const byAddress = target.kind === "domain" && first !== undefined && (route.pin || up.scheme === "socks5");
  const dest = byAddress ? { kind: first.kind, host: first.host, port: target.port } : target;
  if (o.plain && (up.scheme === "http" || up.scheme === "https")) {
    const conn = await dialProxy(up, through);
    conn.forwardProxy = up;
    conn.remote = first ?? null;
    return conn;
  }
  const conn = await dialThrough(up, dest, through);
  conn.remote = first ?? null;
  return o.tls ? startTls(conn, o.tls, Math.max(1, deadline - performance.now())) : conn;
}

/** A /blocked record for a connection the new policy revoked (its decision line stays an allow that ended). */
export function recordRevoked(
  state: ProxyState,
  line: DecisionLine,
  target: Target,
  b: { reason: AdmissionBlock["reason"]; explain: string; hint: string | null },
): void {
  state.record({
    host: target.host,
    port: target.port,
    reason: b.reason,
    client: line.client,
    method: line.method,
    mode: null,
    protocol: line.protocol,
    explain: `closed by reload: ${b.explain}`,
    hint: b.hint,
  });
}

/** How a front end answers its client at each outcome of `openTunnel`. */
export interface TunnelAnswers {
  /** The tunnel is up (HTTP 200, SOCKS5 success); returns the status for the decision line. */
  established(): number;
  blocked(b: AdmissionBlock): void;
  failed(e: ProxyError): void;
  /** Limited mode with MITM on (CONNECT only): hand the connection to the interceptor. */
  intercept?(addresses: readonly DialAddr[], line: DecisionLine): void;
}

export interface TunnelRequest {
  readonly entry: "connect" | "socks5";
  readonly client: Conn;
  readonly peer: string;
  readonly target: Target;
  /** Set when the client goes away. */
  readonly gone: ClientGone;
  /** Client bytes that arrived behind the request (taken once the tunnel is up). */
  readonly early: () => Uint8Array | null;
  readonly answers: TunnelAnswers;
}

/** Ask the gate, take a slot, dial, check again, answer, relay. Resolves when the tunnel is up or refused. */
export async function openTunnel(deps: TunnelDeps, req: TunnelRequest): Promise<void> {
  const { gate, tunnels, state } = deps;
  const pending = gate.admit({
    entry: req.entry,
    target: req.target,
    client: req.peer,
    method: req.entry === "connect" ? "CONNECT" : null,
    request: null,
    counters: req.client,
    gone: req.gone,
  });
  const v = pending instanceof Promise ? await pending : pending;
  if (req.gone.gone) return v.line.finish(0, "client_closed");
  switch (v.kind) {
    case "block":
      return req.answers.blocked(v.block);
    case "fail": {
      const e = new ProxyError(v.code, v.message);
      v.line.fail(e);
      return req.answers.failed(e);
    }
    case "intercept":
      return req.answers.intercept?.(v.addresses, v.line);
    case "allow":
      break;
  }
  const line = v.line;
  const lease = tunnels.lease();
  if (!lease) {
    const e = new ProxyError("too_many_tunnels");
    line.fail(e);
    return req.answers.failed(e);
  }
  let up: Conn;
  try {
    up = await tunnels.dial(req.target, v.addresses, { gone: req.gone });
  } catch (e) {
    lease.release();
    if (e instanceof DialAbortedError) return line.finish(0, "client_closed");
    const err = isProxyError(e) ? e : new ProxyError("internal", (e as Error).message);
    line.fail(err);
    return req.answers.failed(err);
  }
  if (req.gone.gone) {
    lease.release();
    up.destroy();
    return line.finish(0, "client_closed");
  }
  // The dial took time: the mode or the policy may have changed meanwhile.
  let late: AdmissionBlock | null = null;
  if (state.isLimited()) {
    late = modeBlock(req.entry === "connect" ? "mitm_required" : "method_not_allowed", "the proxy switched to limited mode while the tunnel was being set up");
  } else if (state.config.hooks.has(req.target.host)) {
    // A reload gave the host mitm_hooks meanwhile: a raw tunnel would carry requests no hook judges.
    late = { reason: "mitm_required", explain: `${req.target.host} got mitm_hooks while the tunnel was being set up`, hint: null, mode: null };
  } else {
    const b = stillAllowed(withExtra(state.policy, line.grant), req.target, up.remote, state.decideContext());
    if (b) late = { reason: b.reason, explain: b.explain, hint: b.hint, mode: null };
  }
  if (late) {
    lease.release();
    up.destroy();
    line.refuse(late, req.target.host, req.target.port);
    return req.answers.blocked(late);
  }
  const status = req.answers.established();
  tunnels.start({ kind: req.entry, client: req.client, up, target: req.target, line, lease, early: req.early(), status });
}
