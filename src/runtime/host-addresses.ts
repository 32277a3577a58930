/** The addresses of this host's own network interfaces, in the policy's canonical text form. */
import type ipaddr from "ipaddr.js";
import { ipaddrJs } from "../policy/ipaddr.ts";
import { networkInterfaces } from "node:os";

export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      try {
        let a = ipaddrJs().parse(i.address.split("%")[0]!);
        if (a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
        out.add(a.toString());
      } catch {
        // Not an address we can judge; it cannot be a target spelling either.
      }
    }
  }
  return out;
}
