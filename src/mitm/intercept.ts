/**
 * MITM for limited mode: a CONNECT to an allowed target is answered by us with a leaf
 * certificate from our CA, and every request inside the tunnel is parsed and judged by the same
 * HTTP session code as plain requests, then forwarded over verified TLS to the vetted address.
 *
 * Order of operations on Bun (measured): the certificate must be ready
 * before `200 Connection Established` is written, and `upgradeTLS` must run in the same turn;
 * a ClientHello that arrives before the upgrade would be lost.
 */
import { readFileSync } from "node:fs";
import type { LoadedConfig } from "../config/load.ts";
import { ProxyError } from "../outcomes.ts";
import { canonicalHost, formatTarget, type Target } from "../policy/target.ts";
import type { DecisionLine } from "../runtime/gate.ts";
import { Conn, tlsConnHandlers } from "../proxy/conn.ts";
import type { MitmHandoff, ProxyContext } from "../proxy/context.ts";
import type { UpstreamTls } from "../proxy/dial.ts";
import { tunnelIngress } from "../proxy/http/ingress.ts";
import { CONNECT_ESTABLISHED, errorReply } from "../proxy/http/reply.ts";
import { HttpSession } from "../proxy/http/session.ts";
import { loadOrCreateCa, type CaMaterial } from "./ca.ts";
import { LeafCache, type Leaf } from "./leaf.ts";
import { publicRoots } from "./roots.ts";

const ALPN_HTTP11 = Buffer.from("\x08http/1.1", "latin1");

export interface MitmMaterial {
  readonly ca: CaMaterial;
  /** Roots trusted for upstream TLS: the default store plus `upstream_ca_file`. */
  readonly upstreamCa: readonly string[];
}

/** Load (or create) the CA and the upstream roots a config asks for. Throws with a clear message. */
export async function loadMitmMaterial(c: LoadedConfig): Promise<MitmMaterial> {
  const m = c.np.mitm;
  const { ca } = await loadOrCreateCa(m.ca_cert_path, m.ca_key_path);
  const roots = await publicRoots();
  let extra: string[] = [];
  if (m.upstream_ca_file !== "") {
    let text: string;
    try {
      text = readFileSync(m.upstream_ca_file, "utf8");
    } catch (e) {
      throw new Error(`cannot read network_proxy.mitm.upstream_ca_file ${m.upstream_ca_file}: ${(e as Error).message}`);
    }
    extra = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (extra.length === 0) throw new Error(`network_proxy.mitm.upstream_ca_file ${m.upstream_ca_file} contains no PEM certificate`);
  }
  return { ca, upstreamCa: Object.freeze([...roots, ...extra]) };
}

/** SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprint(ca: CaMaterial): string {
  const hex = new Bun.CryptoHasher("sha256").update(new Uint8Array(ca.cert.rawData)).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}

/** What a reload's new material changes that its config keys do not show (same paths, new files). */
export function materialChanges(before: MitmMaterial | null, after: MitmMaterial): string[] {
  const out: string[] = [];
  const fp = fingerprint(after.ca);
  if (!before) out.push(`MITM CA loaded: ${after.ca.certPath} (sha256 ${fp})`);
  else if (fingerprint(before.ca) !== fp) out.push(`MITM CA replaced: ${after.ca.certPath} (sha256 ${fingerprint(before.ca)} -> ${fp})`);
  if (before && before.upstreamCa.join("") !== after.upstreamCa.join("")) {
    out.push(`MITM upstream roots: ${before.upstreamCa.length} -> ${after.upstreamCa.length} certificates`);
  }
  return out;
}

export class MitmLayer implements MitmHandoff {
  readonly leaves: LeafCache;
  #material: MitmMaterial;

  constructor(
    private readonly ctx: ProxyContext,
    material: MitmMaterial,
    config: LoadedConfig,
  ) {
    this.#material = material;
    const m = config.np.mitm;
    this.leaves = new LeafCache(material.ca, m.leaf_cache_size, m.leaf_validity_days);
  }

  get material(): MitmMaterial {
    return this.#material;
  }

  /** A reload brought a new CA, roots or cache limits. */
  update(material: MitmMaterial, c: LoadedConfig): void {
    this.#material = material;
    this.leaves.configure(material.ca, c.np.mitm.leaf_cache_size, c.np.mitm.leaf_validity_days);
  }

  upstreamTls(t: Target): UpstreamTls {
    return { serverName: t.host, ca: this.#material.upstreamCa };
  }

  async intercept(raw: Conn, peer: string, target: Target, line: DecisionLine, early: Buffer | null): Promise<void> {
    const log = this.ctx.log;
    const refuse = (code: "bad_request" | "internal", message: string) => {
      line.fail(new ProxyError(code, message));
      raw.write(errorReply(code, message, true));
      raw.close();
    };
    if (early && early.length > 0) {
      // Bytes sent before our 200 cannot be handed to the TLS layer (Bun has no unshift).
      log.warn("MITM: client sent data before the CONNECT answer; closing", { client: peer, host: formatTarget(target) });
      return refuse("bad_request", "data sent before 200 Connection Established");
    }
    let leaf: Leaf;
    try {
      leaf = await this.leaves.get(target); // only ever for targets the policy allowed
    } catch (e) {
      log.error("MITM: cannot mint a certificate", { host: target.host, error: (e as Error).message });
      return refuse("internal", "cannot mint a certificate for the tunnel");
    }
    const sock = raw.sock;
    if (raw.closed || !sock) return line.finish(0, "client_closed");

    // Same turn from here on: write the 200, then upgrade.
    raw.write(CONNECT_ESTABLISHED);
    const conn = new Conn("mitm");
    const [, tlsSock] = sock.upgradeTLS<Conn>({
      data: conn,
      tls: { key: leaf.keyPem, cert: leaf.certPem, ALPNProtocols: ALPN_HTTP11 },
      socket: tlsConnHandlers,
    });
    conn.sock = tlsSock;

    const limits = this.ctx.limits();
    const handshakeTimer = setTimeout(() => {
      log.info("MITM: TLS handshake not completed in time", { client: peer, host: target.host, timeout_ms: limits.head_timeout_ms });
      conn.destroy(true);
      raw.destroy(true);
    }, limits.head_timeout_ms);
    conn.onClose = () => {
      clearTimeout(handshakeTimer);
      line.finish(200);
      raw.destroy();
    };
    conn.onHandshake = () => {
      conn.onHandshake = null;
      clearTimeout(handshakeTimer);
      const sni = tlsSock.getServername();
      if (sni && !sniMatches(sni, target)) {
        // Domain fronting: the TLS name differs from the CONNECT target the policy judged.
        const explain = `TLS server name ${JSON.stringify(sni)} differs from the CONNECT target ${formatTarget(target)}`;
        const mode = this.ctx.state.mode === "limited" ? "limited" : null;
        line.refuse({ reason: "sni_mismatch", explain, hint: null, mode }, target.host, target.port, { protocol: "https", method: null });
        conn.destroy(true);
        raw.destroy(true);
        return;
      }
      log.debug("CONNECT MITM", { client: peer, host: formatTarget(target), sni });
      const ingress = tunnelIngress(
        target,
        () => this.upstreamTls(target),
        (got) => this.#mismatch(peer, target, got),
        line.grant,
      );
      const inner = new HttpSession(this.ctx, conn, peer, ingress);
      this.ctx.track(inner);
      conn.afterClose = () => {
        this.ctx.untrack(inner);
        line.finish(200);
        raw.destroy();
      };
    };
  }

  #mismatch(peer: string, t: Target, got: string): void {
    // What the client sent may be a whole URL; its query string stays out of logs unless asked.
    const q = got.indexOf("?");
    const shown = q >= 0 && !this.ctx.state.config.np.mitm.log_query ? got.slice(0, q) : got;
    this.ctx.log.warn("MITM host mismatch", { client: peer, target: formatTarget(t), request: shown.slice(0, 200) });
  }
}

function sniMatches(sni: string, target: Target): boolean {
  try {
    const h = canonicalHost(sni, { bareIpv6: true });
    return h.host === target.host;
  } catch {
    return false;
  }
}
