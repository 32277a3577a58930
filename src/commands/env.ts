/**
 * `env`: print the environment that points clients at the proxy described by the config.
 */
import { dirname } from "node:path";
import type { CliOptions } from "../cli.ts";
import { clientEnv, ensureCaBundle, formatEnv, hookSecretVars } from "./client-env.ts";
import type { LoadedConfig } from "../config/load.ts";
import { loadCaModule } from "../mitm/load.ts";
import { loadOrReport, makeLogger, type Io } from "./common.ts";

/** The CA bundle path when HTTPS is inspected, else null. Creates the CA and bundle if needed. */
export async function caBundleFor(c: LoadedConfig): Promise<string | null> {
  if (!c.np.mitm.enabled) return null;
  // The CA code (X.509 and ASN.1 libraries) is loaded only when MITM is on.
  const { loadOrCreateCa } = await loadCaModule();
  const { ca } = await loadOrCreateCa(c.np.mitm.ca_cert_path, c.np.mitm.ca_key_path);
  return ensureCaBundle(ca.certPem, dirname(c.np.mitm.ca_cert_path));
}

export async function envCommand(o: CliOptions, io: Io): Promise<number> {
  const log = makeLogger({ ...o, logLevel: o.logLevelSet ? o.logLevel : "warn" });
  const c = loadOrReport(o, io, log);
  if (typeof c === "number") return c;
  let bundle: string | null;
  try {
    bundle = await caBundleFor(c);
  } catch (e) {
    io.err(`codex-network-proxy env: ${(e as Error).message}\n`);
    return 1;
  }
  io.out(formatEnv(clientEnv(c.listeners, bundle, c.proxyAuth, hookSecretVars(c.np.mitm_hooks)), o.shell));
  return 0;
}
