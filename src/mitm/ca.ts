/**
 * The MITM certificate authority: load it, or create it once (ECDSA P-256, PKCS#8 PEM key
 * written 0600, certificate 0644, both create-new + fsync + link, never overwriting).
 *
 * Uses Bun's own WebCrypto through @peculiar/x509 (measured sufficient: P-256 keygen < 1 ms,
 * a signature about 2 ms).
 */
import * as x509 from "@peculiar/x509";
import { lstatSync, readFileSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { ensureDir, secretFileProblem, writeFileCreateNew } from "../fsutil.ts";

x509.cryptoProvider.set(crypto);

export const CA_COMMON_NAME = "codex-network-proxy MITM CA";
export const EC_ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const CA_VALIDITY_YEARS = 10;
const DAY = 86_400_000;

export interface CaMaterial {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly cert: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

export class CaError extends Error {
  readonly code = "ca_error";
}

/** A positive serial number of 16 random bytes (RFC 5280 allows up to 20). */
export function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString("hex");
}

export async function generateCa(now = new Date()): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${CA_COMMON_NAME}, O=codex-network-proxy (local)`,
    notBefore: new Date(now.getTime() - DAY),
    notAfter,
    signingAlgorithm: EC_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem") + "\n", keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n" };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new CaError(`cannot check ${path}: ${(e as Error).message}`);
  }
}

export type CaStatus = "created" | "loaded";

/**
 * Load the CA at the given paths, creating both files if neither exists. Refuses a half-present
 * pair, a key readable by group/others, a symlinked or non-regular key, a certificate that is
 * not a CA, and a key that does not belong to the certificate.
 */
export async function loadOrCreateCa(certPath: string, keyPath: string): Promise<{ ca: CaMaterial; status: CaStatus }> {
  const haveCert = exists(certPath);
  const haveKey = exists(keyPath);
  if (haveCert !== haveKey) {
    const [have, missing] = haveCert ? [certPath, keyPath] : [keyPath, certPath];
    throw new CaError(
      `both ca_cert_path and ca_key_path must exist: found ${have} but not ${missing}. Restore the missing file, or move ${have} away to have a new CA created`,
    );
  }
  if (!haveCert) {
    await createCaFiles(certPath, keyPath);
    return { ca: await loadCa(certPath, keyPath), status: "created" };
  }
  return { ca: await loadCa(certPath, keyPath), status: "loaded" };
}

export async function createCaFiles(certPath: string, keyPath: string): Promise<void> {
  const { certPem, keyPem } = await generateCa();
  try {
    ensureDir(dirname(keyPath));
    ensureDir(dirname(certPath));
  } catch (e) {
    throw new CaError(`cannot create the CA directory: ${(e as Error).message}`);
  }
  try {
    writeFileCreateNew(keyPath, keyPem, 0o600);
  } catch (e) {
    throw new CaError(`cannot write CA key ${keyPath}: ${(e as Error).message}`);
  }
  try {
    writeFileCreateNew(certPath, certPem, 0o644);
  } catch (e) {
    try {
      unlinkSync(keyPath);
    } catch {
      // nothing more to undo
    }
    throw new CaError(`cannot write CA certificate ${certPath}: ${(e as Error).message}`);
  }
}

export async function loadCa(certPath: string, keyPath: string): Promise<CaMaterial> {
  const problem = secretFileProblem(keyPath, lstatSync(keyPath), "CA key");
  if (problem) throw new CaError(problem);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certPath, "utf8");
    keyPem = readFileSync(keyPath, "utf8");
  } catch (e) {
    throw new CaError(`cannot read the CA: ${(e as Error).message}`);
  }
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (e) {
    throw new CaError(`${certPath} is not a PEM certificate: ${(e as Error).message}`);
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CaError(`${certPath} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const now = Date.now();
  if (cert.notAfter.getTime() < now) throw new CaError(`the CA certificate ${certPath} expired on ${cert.notAfter.toISOString()}`);
  const alg = cert.publicKey.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") {
    throw new CaError(`${certPath}: only ECDSA P-256 CA keys are supported (found ${alg.name}${alg.namedCurve ? " " + alg.namedCurve : ""})`);
  }
  let privateKey: CryptoKey;
  try {
    const der = x509.PemConverter.decode(keyPem)[0];
    if (!der) throw new Error("no PEM block found");
    privateKey = await crypto.subtle.importKey("pkcs8", der, EC_ALG, true, ["sign"]);
  } catch (e) {
    throw new CaError(`${keyPath} is not a PKCS#8 ECDSA P-256 private key: ${(e as Error).message}`);
  }
  if (!(await keyMatchesCert(privateKey, cert))) {
    throw new CaError(`${keyPath} does not belong to the certificate ${certPath}`);
  }
  return { certPath, keyPath, certPem, cert, privateKey };
}

async function keyMatchesCert(privateKey: CryptoKey, cert: x509.X509Certificate): Promise<boolean> {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const pub = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, ext: true }, EC_ALG, true, ["verify"]);
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", pub));
  return spki.equals(Buffer.from(cert.publicKey.rawData));
}
