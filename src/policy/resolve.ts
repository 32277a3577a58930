/**
 * The real resolver: the system's getaddrinfo (what curl and git use, so /etc/hosts and NSS
 * apply), through Bun's thread pool. Results are canonicalized (IPv4-mapped IPv6 becomes IPv4)
 * and de-duplicated; the decision code judges every one of them.
 */
import { canonicalIp } from "./ip.ts";
import type { DialAddr, Resolver } from "./decide.ts";

export const systemResolver: Resolver = async (name) => {
  const found = await Bun.dns.lookup(name, { backend: "system" });
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
