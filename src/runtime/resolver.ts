/**
 * Name resolution for the proxy: the OS-level lookup, and a bound around it so that slow names
 * cannot take resolution away from everyone else.
 *
 * Backend: on Linux and other non-macOS systems, c-ares (in-process and non-blocking; it reads
 * /etc/hosts and /etc/resolv.conf). getaddrinfo would run on Bun's small thread pool (one thread
 * per core), where two names whose servers never answer stall every other lookup for the whole
 * resolver time-out. On macOS, the system's asynchronous resolver, which is non-blocking too and
 * follows the system's per-domain resolver configuration.
 *
 * Bound: concurrent lookups of one name share one query, and at most `maxInFlight` distinct
 * names are being resolved at once, counting queries we already gave up on (they hold resources
 * until the resolver times them out). Over the cap a lookup fails at once with `dns_overloaded`.
 */
import type { DialAddr, Resolver } from "../policy/decide.ts";
import { canonicalIp } from "../policy/ip.ts";

export type DnsBackend = "c-ares" | "system";

export const DEFAULT_BACKEND: DnsBackend = process.platform === "darwin" ? "system" : "c-ares";

/** Resolve through the OS-level backend; canonical, de-duplicated addresses, IPv4 first. */
export function osResolver(backend: DnsBackend = DEFAULT_BACKEND): Resolver {
  return async (name) => {
    const found = await Bun.dns.lookup(name, { backend });
    const out: DialAddr[] = [];
    const seen = new Set<string>();
    for (const r of found) {
      const ip = canonicalIp(r.address);
      if (!ip || seen.has(ip.host)) continue;
      seen.add(ip.host);
      out.push(ip);
    }
    // Prefer IPv4 first: loopback test origins and most hosts listen there.
    out.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "ipv4" ? -1 : 1));
    return out;
  };
}

export const systemResolver: Resolver = osResolver();

export class DnsOverloadedError extends Error {
  readonly code = "dns_overloaded";
}

/** Coalesces lookups per name and caps the distinct names in flight (see the module comment). */
export class BoundedResolver {
  readonly #inFlight = new Map<string, Promise<readonly DialAddr[]>>();

  constructor(
    private readonly inner: Resolver,
    private readonly maxInFlight: () => number,
  ) {}

  /** Distinct names being resolved now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  readonly resolve: Resolver = (name) => {
    const pending = this.#inFlight.get(name);
    if (pending) return pending;
    if (this.#inFlight.size >= this.maxInFlight()) {
      return Promise.reject(new DnsOverloadedError(`${this.#inFlight.size} names are being resolved already (limits.max_dns_lookups)`));
    }
    const p = this.inner(name).finally(() => this.#inFlight.delete(name));
    this.#inFlight.set(name, p);
    return p;
  };
}
