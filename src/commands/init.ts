/**
 * `init`: create the MITM directory and the CA (if absent), then say where it is and how to
 * trust it.
 */
import type { CliOptions } from "../cli.ts";
import { ensureDir } from "../fsutil.ts";
import { loadCaModule } from "../mitm/load.ts";
import { dirname } from "node:path";
import { loadOrReport, makeLogger, type Io } from "./common.ts";

export async function initCommand(o: CliOptions, io: Io): Promise<number> {
  const log = makeLogger(o);
  const c = loadOrReport(o, io, log);
  if (typeof c === "number") return c;
  const { ca_cert_path: cert, ca_key_path: key } = c.np.mitm;
  // The CA code (X.509 and ASN.1 libraries) is loaded here, not when the program starts.
  const { CaError, loadOrCreateCa } = await loadCaModule();
  try {
    ensureDir(dirname(key));
    ensureDir(dirname(cert));
    io.out(`ensured ${dirname(key)}\n`);
    const { status } = await loadOrCreateCa(cert, key);
    io.out(`${status === "created" ? "created" : "found existing"} MITM CA\n  certificate: ${cert}\n  private key: ${key} (mode 0600; keep it secret)\n`);
  } catch (e) {
    io.err(`codex-network-proxy init: ${e instanceof CaError ? e.message : (e as Error).message}\n`);
    return 1;
  }
  io.out(
    [
      "",
      'Clients must trust this CA for HTTPS inspection ([network_proxy.mitm] enabled = true, mode = "limited"):',
      `  curl:            curl --cacert ${cert} ...   (or CURL_CA_BUNDLE)`,
      `  Node.js:         NODE_EXTRA_CA_CERTS=${cert}`,
      `  Python, OpenSSL: SSL_CERT_FILE / REQUESTS_CA_BUNDLE = a bundle of the system roots plus ${cert}`,
      `  git:             GIT_SSL_CAINFO=<that bundle>`,
      "  `codex-network-proxy env` prints all of these, with a ready-made bundle.",
      "",
    ].join("\n"),
  );
  if (!c.np.mitm.enabled) io.out("Note: MITM is off in this config; set [network_proxy.mitm] enabled = true to use the CA.\n");
  return 0;
}
