/**
 * `allow_upstream_proxy` and `[network_proxy.upstream]` compiled into the route table (see
 * policy/route.ts): the upstream URL from the config or from the environment the proxy started
 * with, its credentials (never a literal password in a file others can read), its extra roots,
 * and no_proxy. Problems name the setting, never the password.
 */
import { DIRECT, parseNoProxy, parseProxyUrl, proxyLabel, type Route, type UpstreamProxy } from "../policy/route.ts";
import { Secret } from "../secret.ts";
import type { Problem } from "./problem.ts";
import { readEnv, readSecretFile, type SecretIo } from "./secret-io.ts";
import type { NetworkProxyConfig } from "./types.ts";

const KEY = "network_proxy.upstream";

/** The first non-empty of NAME and name in the environment. */
function fromEnv(io: SecretIo, ...names: string[]): { name: string; value: string } | null {
  for (const n of names) {
    for (const name of [n, n.toLowerCase()]) {
      const v = io.env[name];
      if (v !== undefined && v.trim() !== "") return { name, value: v.trim() };
    }
  }
  return null;
}

export function compileRoute(np: NetworkProxyConfig, io: SecretIo, dir: string, configPath: string): { route: Route; problems: Problem[]; warnings: string[] } {
  const u = np.upstream;
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const err = (key: string, message: string) => problems.push({ severity: "error", key, message });
  let http: UpstreamProxy | null = null;
  let tls: UpstreamProxy | null = null;
  let noProxy: readonly string[] = u.no_proxy;

  const build = (text: string, key: string, where: string, literalOk: boolean): UpstreamProxy | null => {
    let p: ReturnType<typeof parseProxyUrl>;
    try {
      p = parseProxyUrl(text);
    } catch (e) {
      err(key, `${where} ${(e as Error).message}`);
      return null;
    }
    let password: string | null = p.password === "" ? null : p.password;
    if (password !== null && !literalOk) {
      const mode = io.fileMode?.(configPath) ?? null;
      if (mode === null) {
        err(key, `holds a password, and who can read ${configPath} cannot be told from its mode here; use ${KEY}.password_env or password_file`);
        return null;
      }
      if ((mode & 0o077) !== 0) {
        err(key, `holds a password, and ${configPath} can be read by others; use ${KEY}.password_env or password_file (or chmod 600 the file)`);
        return null;
      }
    }
    const sources = [u.password_env !== "" ? "password_env" : "", u.password_file !== "" ? "password_file" : "", password !== null ? "the URL" : ""].filter(
      Boolean,
    );
    if (sources.length > 1) err(KEY, `the password comes from ${sources.join(" and ")}; set it in one place`);
    if (u.password_env !== "") {
      const got = readEnv(io, u.password_env);
      if ("error" in got) err(`${KEY}.password_env`, got.error);
      else password = got.value;
    } else if (u.password_file !== "") {
      const got = readSecretFile(io, dir, u.password_file, "password_file");
      if ("error" in got) err(`${KEY}.password_file`, got.error);
      else password = got.value;
    }
    const username = u.username !== "" ? u.username : p.username;
    if ((username === "") !== (password === null)) err(KEY, "set both a username and a password for the upstream, or neither");
    let ca: string[] = [];
    if (u.ca_file !== "") {
      const got = readSecretFile(io, dir, u.ca_file, "ca_file");
      if ("error" in got) err(`${KEY}.ca_file`, got.error);
      else {
        ca = got.value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
        if (ca.length === 0) err(`${KEY}.ca_file`, "contains no PEM certificate");
      }
      if (p.scheme !== "https") warnings.push(`${KEY}.ca_file is set, but ${where} is ${p.scheme}://, not https://: it is not used`);
    }
    return {
      scheme: p.scheme,
      host: p.host,
      port: p.port,
      auth: username !== "" && password !== null ? { username, password: new Secret(password) } : null,
      ca,
      label: proxyLabel(p),
    };
  };

  if (u.url !== "") {
    http = tls = build(u.url, `${KEY}.url`, "the URL", false);
  } else if (np.allow_upstream_proxy) {
    const forTls = fromEnv(io, "HTTPS_PROXY") ?? fromEnv(io, "ALL_PROXY");
    const forHttp = fromEnv(io, "HTTP_PROXY") ?? fromEnv(io, "ALL_PROXY");
    // A URL from the environment is not in a file: its credentials may stay in it.
    if (forTls) tls = build(forTls.value, "network_proxy.allow_upstream_proxy", `the environment's ${forTls.name}`, true);
    if (forHttp) http = build(forHttp.value, "network_proxy.allow_upstream_proxy", `the environment's ${forHttp.name}`, true);
    if (noProxy.length === 0) noProxy = (fromEnv(io, "NO_PROXY")?.value ?? "").split(",");
    if (!forTls && !forHttp)
      warnings.push("allow_upstream_proxy is true, but the environment names no upstream (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY): traffic goes directly");
  } else if (u.username !== "" || u.password_env !== "" || u.password_file !== "" || u.no_proxy.length > 0) {
    warnings.push(`${KEY} has settings but no url (and allow_upstream_proxy is false): traffic goes directly`);
  }
  const parsed = parseNoProxy(noProxy);
  for (const p of parsed.problems) err(`${KEY}.no_proxy`, p);
  if (u.pin_addresses && u.resolve === "upstream") err(`${KEY}.pin_addresses`, 'needs resolve = "local": with "upstream" there is no vetted address to send');
  for (const up of [http, tls]) {
    if (up && up.scheme === "socks5" && u.resolve === "upstream") {
      err(`${KEY}.resolve`, `"upstream" needs a socks5h:// upstream (${up.label} is socks5://, which takes addresses, not names)`);
    }
  }
  if (u.resolve === "upstream" && (http || tls)) {
    warnings.push(
      'upstream.resolve = "upstream": names sent upstream are judged by name alone; a name the upstream resolves to a private or local address is not caught here',
    );
  }
  if (!http && !tls) return { route: DIRECT, problems, warnings };
  return { route: Object.freeze({ http, tls, noProxy: parsed.entries, resolve: u.resolve, pin: u.pin_addresses }), problems, warnings };
}
