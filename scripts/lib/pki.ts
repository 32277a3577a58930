/**
 * A per-run PKI for loopback HTTPS origins (nothing checked in, nothing that can expire), made
 * directly with @peculiar/x509 so the proxy's own certificate code is not testing itself.
 */
import * as x509 from "@peculiar/x509";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

x509.cryptoProvider.set(crypto);
const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface TestPki {
  caPem: string;
  caFile: string;
  dir: string;
  /** Issue a server certificate for these names/IPs. */
  issue(names: string[], opts?: { notAfter?: Date; notBefore?: Date }): Promise<{ cert: string; key: string }>;
}

async function keyPem(k: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", k), "PRIVATE KEY");
}

export async function makeTestPki(name = "test origin CA"): Promise<TestPki> {
  const caKeys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0a",
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), "cnp-pki-"));
  const caPem = ca.toString("pem") + "\n";
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, caPem);
  let serial = 16;
  return {
    caPem,
    caFile,
    dir,
    async issue(names, opts = {}) {
      const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16),
        subject: `CN=${names[0]}`,
        issuer: ca.subject,
        notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
        notAfter: opts.notAfter ?? new Date(Date.now() + 10 * DAY),
        signingAlgorithm: ALG,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        extensions: [
          new x509.SubjectAlternativeNameExtension(
            names.map((n) => (/^[\d.]+$|:/.test(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })),
          ),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          await x509.AuthorityKeyIdentifierExtension.create(ca),
        ],
      });
      return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
    },
  };
}

/** A self-signed certificate nobody trusts. */
export async function selfSigned(names: string[]): Promise<{ cert: string; key: string }> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${names[0]}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: "dns" as const, value: n })))],
  });
  return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}
