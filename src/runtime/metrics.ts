/**
 * Counters, gauges and histograms for `GET /metrics` (Prometheus text format 0.0.4). Updating a
 * metric is a map lookup and an add; formatting happens only when someone scrapes.
 */

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * A metric family with a fixed list of label names. The series key is the label values joined
 * with NUL (no sorting or escaping per update); escaping happens only when rendering.
 */
class Family {
  readonly values = new Map<string, number>();
  /** Keys of two-label series already seen, by first then second value: no string is joined per update. */
  readonly #pairs = new Map<string, Map<string, string>>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    readonly labelNames: readonly string[] = [],
  ) {}
  #key(labels: Labels): string {
    const n = this.labelNames;
    if (n.length === 0) return "";
    if (n.length === 1) return labels[n[0]!] ?? "";
    if (n.length === 2) {
      const a = labels[n[0]!] ?? "";
      const b = labels[n[1]!] ?? "";
      let byB = this.#pairs.get(a);
      if (byB === undefined) {
        byB = new Map();
        this.#pairs.set(a, byB);
      }
      let k = byB.get(b);
      if (k === undefined) {
        k = a + "\u0000" + b;
        byB.set(b, k);
      }
      return k;
    }
    let k = labels[n[0]!] ?? "";
    for (let i = 1; i < n.length; i++) k += "\u0000" + (labels[n[i]!] ?? "");
    return k;
  }
  add(labels: Labels, n = 1): void {
    const k = this.#key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  set(labels: Labels, n: number): void {
    this.values.set(this.#key(labels), n);
  }
  get(labels: Labels = {}): number {
    return this.values.get(this.#key(labels)) ?? 0;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    if (this.values.size === 0 && this.labelNames.length === 0) s += `${this.name} 0\n`;
    for (const [k, v] of this.values) {
      const parts = this.labelNames.length ? k.split("\u0000") : [];
      const labels = this.labelNames.map((name, i) => `${name}="${escapeLabel(parts[i] ?? "")}"`).join(",");
      s += `${this.name}${labels ? `{${labels}}` : ""} ${v}\n`;
    }
    return s;
  }
}

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]!) this.counts[i]!++;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (let i = 0; i < this.buckets.length; i++) s += `${this.name}_bucket{le="${this.buckets[i]}"} ${this.counts[i]}\n`;
    s += `${this.name}_bucket{le="+Inf"} ${this.count}\n${this.name}_sum ${this.sum}\n${this.name}_count ${this.count}\n`;
    return s;
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly requests = new Family("cnp_requests_total", "Requests and tunnels by protocol and decision.", "counter", ["decision", "protocol"]);
  readonly blocks = new Family("cnp_blocks_total", "Blocked requests by reason.", "counter", ["reason"]);
  readonly routes = new Family("cnp_routed_total", "Allowed requests and tunnels by protocol and route (direct or through the upstream proxy).", "counter", [
    "protocol",
    "route",
  ]);
  readonly errors = new Family("cnp_errors_total", "Requests that failed (not blocked) by error code.", "counter", ["code"]);
  readonly bytes = new Family("cnp_bytes_total", "Bytes relayed, by direction (in: from clients, out: to clients).", "counter", ["direction"]);
  readonly active = new Family("cnp_active_connections", "Open client connections by listener.", "gauge", ["listener"]);
  readonly tunnels = new Family("cnp_active_tunnels", "Open tunnels (CONNECT, SOCKS5, upgrades).", "gauge");
  readonly tunnelSlots = new Family(
    "cnp_tunnel_slots",
    "Tunnel slots taken (open tunnels, and tunnels and upgrades being set up), out of limits.max_tunnels.",
    "gauge",
  );
  readonly pendingDials = new Family("cnp_pending_dials", "Upstream connections being dialed.", "gauge");
  readonly buffered = new Family("cnp_buffered_bytes", "Bytes queued for slow readers over all connections (see limits.max_buffered_bytes).", "gauge");
  readonly reloads = new Family("cnp_config_reloads_total", "Config reloads by result.", "counter", ["result"]);
  readonly connectLatency = new Histogram("cnp_upstream_connect_seconds", "Time to connect to an upstream.", LATENCY_BUCKETS);
  readonly dnsLatency = new Histogram("cnp_dns_seconds", "Time to resolve an allowed name.", LATENCY_BUCKETS);

  render(): string {
    return [
      this.requests,
      this.routes,
      this.blocks,
      this.errors,
      this.bytes,
      this.active,
      this.tunnels,
      this.tunnelSlots,
      this.pendingDials,
      this.buffered,
      this.reloads,
      this.connectLatency,
      this.dnsLatency,
    ]
      .map((m) => m.render())
      .join("");
  }
}
