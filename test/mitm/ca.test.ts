import { describe, expect, test } from "bun:test";
import { Crypto as PeculiarCrypto } from "@peculiar/webcrypto";
import * as x509 from "@peculiar/x509";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileCreateNew } from "../../src/fsutil.ts";
import { CA_COMMON_NAME, loadOrCreateCa } from "../../src/mitm/ca.ts";
import { LeafCache } from "../../src/mitm/leaf.ts";

function dir(): string {
  return mkdtempSync(join(tmpdir(), "cnp-ca-"));
}
const mode = (p: string) => statSync(p).mode & 0o777;

describe("writeFileCreateNew", () => {
  test("writes with the exact mode, whatever the umask, and never overwrites", () => {
    const d = dir();
    const old = process.umask(0o077);
    try {
      writeFileCreateNew(join(d, "cert.pem"), "hello", 0o644);
    } finally {
      process.umask(old);
    }
    expect(mode(join(d, "cert.pem"))).toBe(0o644);
    expect(() => writeFileCreateNew(join(d, "cert.pem"), "other", 0o644)).toThrow("refusing to overwrite existing file");
    expect(readFileSync(join(d, "cert.pem"), "utf8")).toBe("hello");
    // no temp files left behind, success or failure
    expect(require("node:fs").readdirSync(d)).toEqual(["cert.pem"]);
  });
});

describe("loadOrCreateCa", () => {
  test("creates a P-256 CA: key 0600, cert 0644, in new directories", async () => {
    const d = dir();
    const cert = join(d, "network_proxy/mitm/ca.pem");
    const key = join(d, "network_proxy/mitm/ca.key");
    const { ca, status } = await loadOrCreateCa(cert, key);
    expect(status).toBe("created");
    expect(mode(key)).toBe(0o600);
    expect(mode(cert)).toBe(0o644);
    expect(mode(join(d, "network_proxy/mitm"))).toBe(0o700);
    expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    expect(ca.cert.subject).toContain(`CN=${CA_COMMON_NAME}`);
  });

  test("the certificate is a proper CA: extensions, validity in years, and it verifies", async () => {
    const d = dir();
    const { ca } = await loadOrCreateCa(join(d, "ca.pem"), join(d, "ca.key"));
    const c = ca.cert;
    expect(c.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
    expect(c.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(ku.usages & x509.KeyUsageFlags.cRLSign).toBeTruthy();
    const ski = c.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    expect(c.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(ski);
    const years = (c.notAfter.getTime() - c.notBefore.getTime()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9);
    expect(years).toBeLessThan(11);
    expect(BigInt("0x" + c.serialNumber)).toBeGreaterThan(0n);

    // OpenSSL agrees it is a self-signed CA.
    const v = Bun.spawnSync(["openssl", "verify", "-x509_strict", "-CAfile", join(d, "ca.pem"), join(d, "ca.pem")]);
    expect(v.stdout.toString().trim()).toBe(`${join(d, "ca.pem")}: OK`);

    // An independent WebCrypto implementation verifies the signature too.
    x509.cryptoProvider.set(new PeculiarCrypto() as unknown as Crypto);
    try {
      expect(await new x509.X509Certificate(ca.certPem).verify({ signatureOnly: true })).toBe(true);
    } finally {
      x509.cryptoProvider.set(crypto);
    }
  });

  test("is idempotent: a second call loads the same CA and changes nothing", async () => {
    const d = dir();
    const cert = join(d, "ca.pem");
    const key = join(d, "ca.key");
    await loadOrCreateCa(cert, key);
    const before = [readFileSync(cert, "utf8"), readFileSync(key, "utf8")];
    const { status, ca } = await loadOrCreateCa(cert, key);
    expect(status).toBe("loaded");
    expect([readFileSync(cert, "utf8"), readFileSync(key, "utf8")]).toEqual(before);
    expect(ca.certPem).toBe(before[0]!);
  });

  test("refuses a half-present pair and says how to fix it", async () => {
    const d = dir();
    writeFileSync(join(d, "ca.pem"), "x");
    await expect(loadOrCreateCa(join(d, "ca.pem"), join(d, "ca.key"))).rejects.toThrow(
      /both ca_cert_path and ca_key_path must exist: found .*ca\.pem but not .*ca\.key/,
    );
    expect(readFileSync(join(d, "ca.pem"), "utf8")).toBe("x");
  });

  test("refuses a key that others can read, with the chmod that fixes it", async () => {
    const d = dir();
    await loadOrCreateCa(join(d, "ca.pem"), join(d, "ca.key"));
    chmodSync(join(d, "ca.key"), 0o640);
    await expect(loadOrCreateCa(join(d, "ca.pem"), join(d, "ca.key"))).rejects.toThrow(
      `its mode 0640 lets other users read it; fix with: chmod 600 ${join(d, "ca.key")}`,
    );
  });

  test("refuses a symlinked key, a non-CA certificate, garbage, and a key from another CA", async () => {
    const a = dir();
    const b = dir();
    await loadOrCreateCa(join(a, "ca.pem"), join(a, "ca.key"));
    await loadOrCreateCa(join(b, "ca.pem"), join(b, "ca.key"));

    const c = dir();
    writeFileSync(join(c, "ca.pem"), readFileSync(join(a, "ca.pem")));
    symlinkSync(join(a, "ca.key"), join(c, "ca.key"));
    await expect(loadOrCreateCa(join(c, "ca.pem"), join(c, "ca.key"))).rejects.toThrow("symbolic link");

    const mixed = dir();
    writeFileSync(join(mixed, "ca.pem"), readFileSync(join(a, "ca.pem")));
    writeFileSync(join(mixed, "ca.key"), readFileSync(join(b, "ca.key")), { mode: 0o600 });
    await expect(loadOrCreateCa(join(mixed, "ca.pem"), join(mixed, "ca.key"))).rejects.toThrow("does not belong to the certificate");

    const junk = dir();
    writeFileSync(join(junk, "ca.pem"), "not a cert");
    writeFileSync(join(junk, "ca.key"), readFileSync(join(a, "ca.key")), { mode: 0o600 });
    await expect(loadOrCreateCa(join(junk, "ca.pem"), join(junk, "ca.key"))).rejects.toThrow("is not a PEM certificate");

    // A leaf (non-CA) certificate in place of the CA.
    const leafDir = dir();
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=leaf",
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      keys,
      extensions: [],
    });
    writeFileSync(join(leafDir, "ca.pem"), leaf.toString("pem"));
    writeFileSync(join(leafDir, "ca.key"), x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"), { mode: 0o600 });
    await expect(loadOrCreateCa(join(leafDir, "ca.pem"), join(leafDir, "ca.key"))).rejects.toThrow("is not a CA certificate");
  });

  test("an unusable or unwritable directory is a clear error", async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; use a path under a regular file instead
      const d = dir();
      writeFileSync(join(d, "file"), "");
      await expect(loadOrCreateCa(join(d, "file/ca.pem"), join(d, "file/ca.key"))).rejects.toThrow(`cannot check ${join(d, "file/ca.pem")}: ENOTDIR`);
      return;
    }
    const d = dir();
    mkdirSync(join(d, "ro"), { mode: 0o500 });
    await expect(loadOrCreateCa(join(d, "ro/ca.pem"), join(d, "ro/ca.key"))).rejects.toThrow("cannot write CA key");
  });
});

describe("LeafCache", () => {
  const DAY = 86_400_000;
  async function cache(capacity = 1000, validityDays = 30) {
    const d = dir();
    const { ca } = await loadOrCreateCa(join(d, "ca.pem"), join(d, "ca.key"));
    return new LeafCache(ca, capacity, validityDays);
  }

  test("concurrent mints take turns with the event loop instead of starving it", async () => {
    const leaves = await cache();
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const n = 40;
    const all = await Promise.all(Array.from({ length: n }, (_, i) => leaves.get({ kind: "domain", host: `h${i}.example.test` })));
    spinning = false;
    expect(new Set(all.map((l) => l.certPem)).size).toBe(n);
    expect(leaves.minted).toBe(n);
    // Run back to back as microtasks, 40 mints would let the loop turn about once.
    expect(turns).toBeGreaterThanOrEqual(n);
  });

  test("the same host shares one mint; hits are served until close to expiry, even for 1-day leaves", async () => {
    for (const days of [1, 30]) {
      const leaves = await cache(1000, days);
      const t = { kind: "domain" as const, host: "a.example.test" };
      const now = Date.now();
      const [a, b] = await Promise.all([leaves.get(t, now), leaves.get(t, now)]);
      expect(a).toBe(b);
      expect(await leaves.get(t, now + (days * DAY) / 2)).toBe(a);
      expect(leaves.minted).toBe(1);
      // Within the renewal margin a new leaf is minted.
      const renewed = await leaves.get(t, a.notAfter - 1000);
      expect(renewed).not.toBe(a);
      expect(leaves.minted).toBe(2);
    }
  });
});
