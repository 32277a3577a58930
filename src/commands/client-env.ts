/**
 * The environment that points the tools agents use at the proxy, and the CA bundle they need
 * when HTTPS is inspected. Used by `env` (printed) and `run` (given to the child).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fmtAddr } from "../config/addr.ts";
import type { HookConfig } from "../config/hooks.ts";
import type { Credentials } from "../config/schema.ts";
import { FileExistsError, writeFileCreateNew } from "../fsutil.ts";
import { pemCertificates, publicRoots } from "../mitm/roots.ts";

export type Shell = "sh" | "fish" | "powershell" | "json";

export interface ProxyAddrs {
  readonly http: { host: string; port: number };
  readonly socks: { host: string; port: number } | null;
}

export interface EnvVar {
  readonly name: string;
  readonly value: string;
  /** A comment printed above the variable (sh, fish, powershell). */
  readonly note?: string;
}

/**
 * The proxy variables, plus the CA-bundle variables when `caBundle` is given. With `creds` (the
 * proxy's `[network_proxy.auth]`), every proxy URL carries them, percent-encoded, as clients
 * expect them there.
 */
export function clientEnv(addrs: ProxyAddrs, caBundle: string | null, creds: Credentials | null = null, secretVars: readonly string[] = []): EnvVar[] {
  const userinfo = creds ? `${encodeURIComponent(creds.username)}:${encodeURIComponent(creds.password)}@` : "";
  const http = `http://${userinfo}${fmtAddr(addrs.http)}`;
  const all = addrs.socks ? `socks5h://${userinfo}${fmtAddr(addrs.socks)}` : http;
  const v: EnvVar[] = [
    { name: "HTTP_PROXY", value: http, note: "HTTP and HTTPS clients (curl, git, pip, npm, Python, Node, Bun, Go)" },
    { name: "HTTPS_PROXY", value: http },
    { name: "http_proxy", value: http },
    { name: "https_proxy", value: http },
    {
      name: "ALL_PROXY",
      value: all,
      note: addrs.socks ? "everything else; socks5h so that the proxy, not the client, resolves names" : "SOCKS5 is off, so this is the HTTP proxy",
    },
    { name: "all_proxy", value: all },
    { name: "WS_PROXY", value: http, note: "WebSocket clients that honour these" },
    { name: "WSS_PROXY", value: http },
    { name: "ws_proxy", value: http },
    { name: "wss_proxy", value: http },
    {
      name: "NO_PROXY",
      value: "",
      note: "empty on purpose: which local targets are reachable is the proxy's decision (allow_local_binding, allowlist), not the client's",
    },
    { name: "no_proxy", value: "" },
    { name: "npm_config_proxy", value: http, note: "npm, yarn and pip read their own variables" },
    { name: "npm_config_https_proxy", value: http },
    { name: "YARN_HTTP_PROXY", value: http },
    { name: "YARN_HTTPS_PROXY", value: http },
    { name: "PIP_PROXY", value: http },
    {
      name: "NODE_USE_ENV_PROXY",
      value: "1",
      note: "Node.js 22.21+ and 24+: fetch, http and https use HTTP_PROXY/HTTPS_PROXY (Node 20 ignores this and connects directly)",
    },
  ];
  secretVars.forEach((name, i) => {
    const note = i === 0 ? "the proxy injects these credentials itself (mitm_hooks): the client holds only placeholders" : undefined;
    v.push({ name, value: placeholder(name), ...(note ? { note } : {}) });
  });
  if (caBundle) {
    const note = "HTTPS is inspected: trust the system roots plus the proxy's CA";
    v.push({ name: "SSL_CERT_FILE", value: caBundle, note });
    for (const name of [
      "REQUESTS_CA_BUNDLE",
      "CURL_CA_BUNDLE",
      "NODE_EXTRA_CA_CERTS",
      "GIT_SSL_CAINFO",
      "PIP_CERT",
      "npm_config_cafile",
      "CARGO_HTTP_CAINFO",
      "DENO_CERT",
    ]) {
      v.push({ name, value: caBundle });
    }
  }
  return v;
}

/** What a client holds instead of a credential the proxy injects. */
export function placeholder(name: string): string {
  return `codex-network-proxy-placeholder-${name}`;
}

/** The environment variables the config's hooks read their secrets from, each once. */
export function hookSecretVars(hooks: readonly HookConfig[]): string[] {
  const names = hooks.flatMap((h) => h.actions.inject_request_headers.flatMap((i) => (i.secret_env_var !== null ? [i.secret_env_var] : [])));
  return [...new Set(names)];
}

function quoteSh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
function quotePs(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export function formatEnv(vars: readonly EnvVar[], shell: Shell): string {
  if (shell === "json") return JSON.stringify(Object.fromEntries(vars.map((v) => [v.name, v.value])), null, 2) + "\n";
  let out = "";
  for (const v of vars) {
    if (v.note) out += `# ${v.note}\n`;
    if (shell === "sh") out += `export ${v.name}=${quoteSh(v.value)}\n`;
    else if (shell === "fish") out += `set -gx ${v.name} ${quoteSh(v.value)}\n`;
    else out += `$env:${v.name} = ${quotePs(v.value)}\n`;
  }
  return out;
}

/**
 * Write (once) a bundle of the public roots the proxy itself trusts (Mozilla's and the system's,
 * never what the environment points at) plus our CA, each certificate once, named by its content
 * hash: running `env` again gives the same file, a changed CA or root store a new one, and an
 * existing file never changes under a running client. Returns its path.
 */
export async function ensureCaBundle(caCertPem: string, dir: string): Promise<string> {
  const ours = pemCertificates(caCertPem);
  const roots = (await publicRoots()).filter((r) => !ours.includes(r));
  const bundle = [...roots, ...ours].join("\n") + "\n";
  const hash = new Bun.CryptoHasher("sha256").update(bundle).digest("hex").slice(0, 16);
  const path = join(dir, `ca-bundle-${hash}.pem`);
  if (existsSync(path)) {
    if (readFileSync(path, "utf8") !== bundle) throw new Error(`${path} exists with other contents; remove it and try again`);
    return path;
  }
  try {
    writeFileCreateNew(path, bundle, 0o644);
  } catch (e) {
    if (!(e instanceof FileExistsError)) throw new Error(`cannot write the CA bundle in ${dirname(path)}: ${(e as Error).message}`);
  }
  return path;
}
