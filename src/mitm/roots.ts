/**
 * The public roots the proxy trusts for upstream TLS and puts in the CA bundle it hands to
 * clients: Mozilla's (built into the runtime) and the operating system's, read from where the OS
 * keeps them, never from the environment. SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and friends are
 * what `env` itself sets: reading them would feed each bundle into the next one.
 */
import { existsSync, readFileSync } from "node:fs";

/** Where Linux and BSD distributions keep their bundle of trusted roots (the first that exists is used). */
export const OS_BUNDLES: readonly string[] = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Gentoo
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // Fedora, RHEL, CentOS
  "/etc/pki/tls/certs/ca-bundle.crt", // older RHEL
  "/etc/ssl/ca-bundle.pem", // openSUSE
  "/etc/ssl/cert.pem", // Alpine, BSDs
  "/usr/local/share/certs/ca-root-nss.crt", // FreeBSD
];

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates in a PEM text, one normalized PEM each. */
export function pemCertificates(text: string): string[] {
  return (text.match(PEM) ?? []).map(normalize);
}

/** One spelling per certificate: the base64 body re-wrapped, so the same root read twice compares equal. */
function normalize(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----`;
}

/** node:tls, loaded when roots are first asked for: a proxy without MITM or an upstream never needs it. */
type Tls = typeof import("node:tls");

function osStore(tls: Tls): string[] {
  if (process.platform === "linux" || process.platform.endsWith("bsd")) {
    const file = OS_BUNDLES.find((f) => existsSync(f));
    return file ? pemCertificates(readFileSync(file, "utf8")) : [];
  }
  // macOS Keychain and the Windows store: the runtime reads them from the system itself.
  return tls.getCACertificates("system").map(normalize);
}

/** Mozilla's roots, then the system's that are not among them, each once, in a fixed order. */
export async function publicRoots(): Promise<string[]> {
  const tls = await import("node:tls");
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of [...tls.getCACertificates("bundled").map(normalize), ...osStore(tls)]) {
    if (seen.has(pem)) continue;
    seen.add(pem);
    out.push(pem);
  }
  return out;
}
