/**
 * The checks of `doctor`, each on its own: what it looked at, pass/warn/fail, and the fix. They
 * read this machine (ports, files, the environment) but change nothing.
 */
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { fmtAddr, type ListenAddr } from "../config/addr.ts";
import type { LoadedConfig } from "../config/load.ts";
import { tokenPath } from "../admin/token.ts";
import { secretFileProblem } from "../fsutil.ts";
import { loadCaModule } from "../mitm/load.ts";
import { pemCertificates } from "../mitm/roots.ts";
import { judgeTarget } from "../policy/decide.ts";
import { parseNoProxy } from "../policy/route.ts";
import { canonicalHost } from "../policy/target.ts";

export type Status = "pass" | "warn" | "fail";

export interface Check {
  readonly status: Status;
  readonly what: string;
  readonly fix?: string;
}

const pass = (what: string): Check => ({ status: "pass", what });
const warn = (what: string, fix: string): Check => ({ status: "warn", what, fix });
const fail = (what: string, fix: string): Check => ({ status: "fail", what, fix });
const ENV_FIX = 'eval "$(codex-network-proxy env)"';

async function bindable(a: ListenAddr): Promise<boolean> {
  try {
    Bun.listen({ hostname: a.host, port: a.port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** Is a codex-network-proxy answering /health on this admin address? */
async function ourHealth(admin: ListenAddr): Promise<boolean> {
  try {
    const r = await fetch(`http://${fmtAddr(admin)}/health`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200 && (await r.text()) === "ok";
  } catch {
    return false;
  }
}

export async function listenerChecks(c: LoadedConfig): Promise<Check[]> {
  const { http, socks, admin } = c.listeners;
  const all: Array<[string, string, ListenAddr | null]> = [
    ["HTTP proxy", "proxy_url", http],
    ["SOCKS5 proxy", "socks_url", socks],
    ["admin API", "admin_url", admin],
  ];
  const out: Check[] = [];
  let running: boolean | null = null;
  for (const [name, key, a] of all) {
    if (!a || a.port === 0) continue;
    if (await bindable(a)) {
      out.push(pass(`${name}: ${fmtAddr(a)} is free`));
      continue;
    }
    running ??= await ourHealth(admin);
    if (running) out.push(pass(`${name}: ${fmtAddr(a)} is held by a running codex-network-proxy (its admin API answers /health)`));
    else out.push(fail(`${name}: ${fmtAddr(a)} is in use by another program`, `stop that program, or set network_proxy.${key} to a free port`));
  }
  return out;
}

export function tokenCheck(c: LoadedConfig): Check {
  if (c.np.dangerously_disable_admin_auth)
    return warn("admin API: authentication is off (dangerously_disable_admin_auth)", "remove dangerously_disable_admin_auth");
  if (c.np.admin_token !== "") return pass("admin API: the token is set by network_proxy.admin_token");
  const path = tokenPath(c.source.dir);
  if (!existsSync(path)) return warn(`admin API: no token file at ${path} yet`, "it is created (mode 0600) when the proxy first starts");
  const problem = secretFileProblem(path, lstatSync(path), "admin token");
  return problem
    ? fail(`admin API: ${problem.replace(/; fix with: .*$/, "")}`, problem.replace(/^.*; fix with: /, ""))
    : pass(`admin API: token file ${path} (mode 0600)`);
}

export async function caCheck(c: LoadedConfig, now = Date.now()): Promise<Check | null> {
  const m = c.np.mitm;
  if (!m.enabled) return null;
  if (!existsSync(m.ca_cert_path) && !existsSync(m.ca_key_path))
    return warn(`MITM CA: none yet at ${m.ca_cert_path}`, "codex-network-proxy init (or the first start) creates it");
  // The CA code (X.509 and ASN.1 libraries) is loaded only when MITM is on.
  const { CaError, loadCa } = await loadCaModule();
  try {
    const ca = await loadCa(m.ca_cert_path, m.ca_key_path);
    const days = Math.floor((ca.cert.notAfter.getTime() - now) / 86_400_000);
    if (days < 30)
      return warn(
        `MITM CA: ${m.ca_cert_path} expires in ${days} days`,
        "move the old CA away and run codex-network-proxy init; clients must trust the new one",
      );
    return pass(`MITM CA: ${m.ca_cert_path} is valid for ${days} more days, its key is private (0600) and matches`);
  } catch (e) {
    const message = e instanceof CaError ? e.message : (e as Error).message;
    return fail(
      `MITM CA: ${message.replace(/; fix with: .*$/, "")}`,
      /; fix with: /.test(message) ? message.replace(/^.*; fix with: /, "") : "fix the files, or move them away and run codex-network-proxy init",
    );
  }
}

/** host:port of a proxy URL, without credentials. */
function hostPort(url: string): string | null {
  try {
    const u = new URL(url.includes("://") ? url : `http://${url}`);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  } catch {
    return null;
  }
}

export function environmentChecks(c: LoadedConfig, env: Readonly<Record<string, string | undefined>>): Check[] {
  const out: Check[] = [];
  const ours = new Set([fmtAddr(c.listeners.http), ...(c.listeners.socks ? [fmtAddr(c.listeners.socks)] : [])]);
  const names = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"].flatMap((n) => [n, n.toLowerCase()]);
  const set = names.filter((n) => (env[n] ?? "") !== "");
  if (set.length === 0) out.push(warn("this shell: no proxy variable is set, so clients here do not use the proxy", ENV_FIX));
  for (const n of set) {
    const at = hostPort(env[n]!);
    if (at && ours.has(at)) out.push(pass(`this shell: ${n} points at this proxy (${at})`));
    else out.push(fail(`this shell: ${n} points at ${at ?? JSON.stringify(env[n])}, not at this proxy (${[...ours].join(" or ")})`, ENV_FIX));
  }
  const noProxy = env["NO_PROXY"] ?? env["no_proxy"] ?? "";
  for (const raw of noProxy
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const parsed = parseNoProxy([raw]).entries[0];
    // `*` and networks wider than one address exempt more than any allowlist could say.
    const wide = !parsed || parsed.any || (parsed.cidr !== null && parsed.cidr[1] < (parsed.cidr[0].kind() === "ipv6" ? 128 : 32));
    if (wide) {
      out.push(
        fail(
          `this shell: NO_PROXY exempts ${JSON.stringify(raw)}, so clients reach all of it directly, past the policy`,
          `remove it from NO_PROXY (${ENV_FIX} leaves NO_PROXY empty)`,
        ),
      );
      continue;
    }
    let d: ReturnType<typeof judgeTarget> | null = null;
    try {
      const h = canonicalHost(parsed.name ?? parsed.cidr![0].toString(), { bareIpv6: true });
      d = judgeTarget(c.policy, { kind: h.kind, host: h.host, port: parsed.port ?? 443 }, { self: [] });
    } catch {
      d = null;
    }
    if (d === null || d.verdict === "block") {
      const why = d?.verdict === "block" ? ` (${d.reason})` : "";
      out.push(
        fail(
          `this shell: NO_PROXY exempts ${JSON.stringify(raw)}, which the policy refuses${why}: clients reach it directly`,
          `remove it from NO_PROXY (${ENV_FIX} leaves NO_PROXY empty)`,
        ),
      );
    }
  }
  if (c.np.mitm.enabled && existsSync(c.np.mitm.ca_cert_path)) {
    const ca = pemCertificates(readFileSync(c.np.mitm.ca_cert_path, "utf8"))[0];
    for (const n of ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"]) {
      const file = env[n];
      if (!file) continue;
      let has = false;
      try {
        has = ca !== undefined && pemCertificates(readFileSync(file, "utf8")).includes(ca);
      } catch {
        has = false;
      }
      if (has) out.push(pass(`this shell: ${n} holds this proxy's CA`));
      else out.push(fail(`this shell: ${n}=${file} does not hold this proxy's CA, so HTTPS through the proxy fails verification`, ENV_FIX));
    }
  }
  return out;
}
