/** One thing wrong (or suspicious) in the config, at a dotted key. */
export interface Problem {
  readonly severity: "error" | "warning";
  /** Dotted key, e.g. `network_proxy.policy.allowed_domains[2]`, or "" for the whole file. */
  readonly key: string;
  readonly message: string;
}
