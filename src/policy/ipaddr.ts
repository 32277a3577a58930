/**
 * ipaddr.js, loaded the first time it is needed. As it loads, it builds a dozen regular
 * expressions, which pages in the engine's regular-expression code: about a megabyte of idle
 * memory and 0.7 ms of start-up in a compiled program that only imports it. Our own readers
 * (ip-text.ts, the fast paths of ip.ts) take the usual spellings of addresses, so a proxy whose
 * configuration and traffic spell them the usual way never loads it (an upstream proxy's
 * address, and no_proxy entries that may be addresses, are still read by it).
 */
import type IpaddrJs from "ipaddr.js";

let lib: typeof IpaddrJs | null = null;

export function ipaddrJs(): typeof IpaddrJs {
  lib ??= require("ipaddr.js") as typeof IpaddrJs;
  return lib;
}
