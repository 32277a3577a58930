/** A running listener (HTTP proxy, SOCKS5 proxy, admin API) as the server manages it. */
export interface Service {
  readonly name: string;
  /** Bound address, once listening. */
  readonly address: { host: string; port: number };
  /** Stop accepting; resolve when in-flight work is done or `graceMs` passed (then force). */
  stop(graceMs: number): Promise<void>;
}
