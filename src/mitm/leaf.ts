/**
 * Leaf certificates for intercepted hosts: one shared ECDSA P-256 key per process (a new host
 * costs one signature, not a key generation), one certificate per host in a bounded LRU cache,
 * re-minted before it expires. Concurrent requests for the same host share one mint.
 *
 * Each leaf: SAN = the CONNECT host (DNS name or IP address), EKU serverAuth, KU
 * digitalSignature, basicConstraints CA:FALSE, SKI and AKI (Python 3.13's strict verification
 * needs AKI), backdated one hour, valid `leaf_validity_days` (at most 90, well under the 398
 * days browsers accept; leaves are re-minted anyway), random positive serial.
 */
import * as x509 from "@peculiar/x509";
import type { Target } from "../policy/target.ts";
import { EC_ALG, randomSerial, type CaMaterial } from "./ca.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface Leaf {
  /** PEM chain: the leaf, then the CA. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly notAfter: number;
}

interface SharedKey {
  readonly keys: CryptoKeyPair;
  readonly keyPem: string;
  /** SKI of the shared key: the same in every leaf, so computed once. */
  readonly ski: x509.Extension;
}

/** Extensions every leaf carries unchanged (the AKI depends only on the CA). */
const FIXED_EXTENSIONS = [
  new x509.BasicConstraintsExtension(false, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
];

export class LeafCache {
  #key: Promise<SharedKey> | null = null;
  #aki: { ca: CaMaterial; ext: Promise<x509.Extension> } | null = null;
  readonly #cache = new Map<string, Leaf>();
  readonly #minting = new Map<string, Promise<Leaf>>();
  /** Mints run one at a time, each in its own event-loop turn (see #mintSoon). */
  #queue: Promise<unknown> = Promise.resolve();
  minted = 0;

  constructor(
    private ca: CaMaterial,
    private capacity: number,
    private validityDays: number,
  ) {}

  /** A new CA (reload) invalidates every leaf; new limits apply to later mints. */
  configure(ca: CaMaterial, capacity: number, validityDays: number): void {
    if (ca.certPem !== this.ca.certPem) this.#cache.clear();
    this.ca = ca;
    this.capacity = capacity;
    this.validityDays = validityDays;
    while (this.#cache.size > capacity) this.#cache.delete(this.#cache.keys().next().value!);
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The leaf for a target, from the cache or freshly minted. */
  async get(t: Pick<Target, "kind" | "host">, now = Date.now()): Promise<Leaf> {
    const hit = this.#cache.get(t.host);
    // Re-mint before expiry (a day before, or a quarter of the lifetime for short-lived leaves)
    // so that no handshake ever gets an almost-expired certificate.
    if (hit && hit.notAfter - Math.min(DAY, (this.validityDays * DAY) / 4) > now) {
      this.#cache.delete(t.host); // move to the most recently used end
      this.#cache.set(t.host, hit);
      return hit;
    }
    const pending = this.#minting.get(t.host);
    if (pending) return pending;
    const p = this.#mintSoon(t, now).finally(() => this.#minting.delete(t.host));
    this.#minting.set(t.host, p);
    const leaf = await p;
    this.#cache.set(t.host, leaf);
    while (this.#cache.size > this.capacity) this.#cache.delete(this.#cache.keys().next().value!);
    return leaf;
  }

  /**
   * Queue a mint behind the others, starting it from a macrotask. A mint is a few milliseconds
   * of JavaScript whose awaits resolve at once, so mints started together would run back to back
   * as microtasks and starve every other connection; one at a time, each in its own turn, the
   * event loop serves other sockets between them.
   */
  #mintSoon(t: Pick<Target, "kind" | "host">, now: number): Promise<Leaf> {
    const run = this.#queue.then(
      () =>
        new Promise<Leaf>((resolve, reject) => {
          setImmediate(() => this.#mint(t, now).then(resolve, reject));
        }),
    );
    this.#queue = run.catch(() => {});
    return run;
  }

  #sharedKey(): Promise<SharedKey> {
    this.#key ??= (async () => {
      const keys = (await crypto.subtle.generateKey(EC_ALG, true, ["sign", "verify"])) as CryptoKeyPair;
      const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
      const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
      return { keys, keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"), ski };
    })();
    return this.#key;
  }

  #authorityKeyId(ca: CaMaterial): Promise<x509.Extension> {
    if (this.#aki?.ca !== ca) this.#aki = { ca, ext: x509.AuthorityKeyIdentifierExtension.create(ca.cert) };
    return this.#aki.ext;
  }

  async #mint(t: Pick<Target, "kind" | "host">, now: number): Promise<Leaf> {
    const { keys, keyPem, ski } = await this.#sharedKey();
    const ca = this.ca;
    const aki = await this.#authorityKeyId(ca);
    const notBefore = new Date(now - HOUR);
    const notAfter = new Date(Math.min(now + this.validityDays * DAY, ca.cert.notAfter.getTime()));
    const san = t.kind === "domain" ? { type: "dns" as const, value: t.host } : { type: "ip" as const, value: t.host };
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // CN is informational (names are matched against the SAN) and limited to 64 characters.
      subject: t.host.length <= 64 ? `CN=${t.host}` : "CN=codex-network-proxy leaf",
      issuer: ca.cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: EC_ALG,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      extensions: [...FIXED_EXTENSIONS, new x509.SubjectAlternativeNameExtension([san]), ski, aki],
    });
    this.minted++;
    return { certPem: `${cert.toString("pem")}\n${ca.certPem}`, keyPem, notAfter: notAfter.getTime() };
  }
}
