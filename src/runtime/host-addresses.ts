/** The addresses of this host's own network interfaces, in the policy's canonical text form. */
import { networkInterfaces } from "node:os";
import { canonicalIp } from "../policy/ip.ts";

/**
 * Asked again every few seconds while traffic flows (state.ts), so the addresses are read by
 * canonicalIp, whose own readers take the spellings an interface has without ipaddr.js.
 */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      // Not an address (none is expected): it cannot be a target spelling either.
      const a = canonicalIp(i.address.split("%")[0]!);
      if (a) out.add(a.host);
    }
  }
  return out;
}
