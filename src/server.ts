/**
 * The running proxy: starts every listener the config asks for, knows their bound addresses
 * (so policy can refuse to loop into them), and stops them gracefully.
 */
import type { Logger } from "./log.ts";
import type { ProxyState } from "./runtime/state.ts";

export interface Service {
  readonly name: string;
  /** Bound address, once listening. */
  readonly address: { host: string; port: number };
  /** Stop accepting; resolve when in-flight work is done or `graceMs` passed (then force). */
  stop(graceMs: number): Promise<void>;
}

export class ProxyServer {
  readonly services: Service[] = [];

  constructor(
    readonly state: ProxyState,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.state.self = this.services.map((s) => s.address);
  }

  async stop(graceMs = this.state.config.np.limits.shutdown_grace_ms): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop(graceMs)));
    this.services.length = 0;
  }
}
