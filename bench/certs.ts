/**
 * A throw-away CA and a leaf for 127.0.0.1, made fresh for each run with the openssl CLI, so no
 * key ever persists and nothing depends on the machine's trust store.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./lib/procs.ts";

export interface OriginCerts {
  caPem: string;
  leafPem: string;
  leafKey: string;
}

async function openssl(args: string[]): Promise<void> {
  const r = await run(["openssl", ...args]);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (${r.code}):\n${r.out}`);
}

export async function makeOriginCerts(dir: string): Promise<OriginCerts> {
  const caKey = join(dir, "ca.key");
  const caPem = join(dir, "ca.pem");
  const leafKey = join(dir, "leaf.key");
  const leafCsr = join(dir, "leaf.csr");
  const leafPem = join(dir, "leaf.pem");
  const ext = join(dir, "leaf.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    caPem,
    "-days",
    "2",
    "-subj",
    "/CN=codex-network-proxy bench origin CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await openssl(["req", ...ec, "-keyout", leafKey, "-out", leafCsr, "-subj", "/CN=127.0.0.1"]);
  writeFileSync(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n");
  await openssl(["x509", "-req", "-in", leafCsr, "-CA", caPem, "-CAkey", caKey, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", leafPem]);
  return { caPem, leafPem, leafKey };
}
