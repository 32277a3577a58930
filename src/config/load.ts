/**
 * Where config comes from and how it becomes the immutable runtime object.
 *
 * Sources, later wins: built-in defaults < the config file (`--config PATH`, else
 * `$CODEX_HOME/config.toml`, CODEX_HOME defaulting to `~/.codex`) < `-c key=value` overrides.
 * `buildConfig()` is pure; `loadConfig()` adds the file read.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { compilePolicy, type CompiledPolicy } from "../policy/rules.ts";
import { fmtAddr, listenAddress, type ListenAddr } from "./addr.ts";
import { applyOverrides, parseOverride, type Override } from "./overrides.ts";
import { validate, type Credentials, type NetworkProxyConfig, type Problem } from "./schema.ts";

export interface ConfigSource {
  /** Absolute path of the config file that was (or would have been) read. */
  readonly path: string;
  readonly exists: boolean;
  /** Directory that relative paths in the file are resolved against. */
  readonly dir: string;
  readonly overrides: readonly string[];
}

export interface Listeners {
  readonly http: ListenAddr;
  readonly socks: ListenAddr | null;
  readonly admin: ListenAddr;
}

/** The validated, fully-resolved configuration. Immutable; a reload builds a new one. */
export interface LoadedConfig {
  readonly source: ConfigSource;
  /** The `[network_proxy]` table after defaults and overrides; CA paths absolute. */
  readonly np: NetworkProxyConfig;
  readonly listeners: Listeners;
  readonly policy: CompiledPolicy;
  /** What clients must send on both proxy listeners, or null (no authentication). */
  readonly proxyAuth: Credentials | null;
  /** Warnings to log once (unknown keys, clamps). */
  readonly warnings: readonly string[];
}

export type LoadResult = { ok: true; config: LoadedConfig } | { ok: false; source: ConfigSource; problems: readonly string[] };

export interface LoadOptions {
  readonly configPath?: string | undefined;
  readonly overrides?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

export function codexHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const home = env["CODEX_HOME"];
  return home && home.trim() !== "" ? resolve(home) : join(homedir(), ".codex");
}

export function configPathFor(opts: LoadOptions): string {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.configPath !== undefined) return resolve(cwd, opts.configPath);
  return join(codexHome(opts.env ?? process.env), "config.toml");
}

/** Read, parse, override, validate and resolve. Never throws for bad input; returns problems. */
export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const path = configPathFor(opts);
  const overrides = opts.overrides ?? [];
  let text: string | null = null;
  let readError: string | null = null;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") readError = `${path}: cannot read config file: ${(e as Error).message}`;
  }
  const source: ConfigSource = { path, exists: text !== null, dir: dirname(path), overrides };
  if (readError) return { ok: false, source, problems: [readError] };
  return buildConfig(text, source);
}

/** Pure: the config that `text` (null when there is no file) and the overrides describe. */
export function buildConfig(text: string | null, source: ConfigSource): LoadResult {
  const problems: string[] = [];
  let doc: Record<string, unknown> = {};
  if (text !== null) {
    try {
      doc = parseToml(text) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof TomlError) {
        const first = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
        problems.push(`${source.path}:${e.line}:${e.column}: TOML syntax error: ${first}\n${e.codeblock}`.trimEnd());
      } else {
        problems.push(`${source.path}: ${(e as Error).message}`);
      }
      return { ok: false, source, problems };
    }
  }

  const parsed: Override[] = [];
  for (const o of source.overrides) {
    try {
      parsed.push(parseOverride(o));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  // A malformed override is reported together with every other problem, not instead of them.
  doc = applyOverrides(doc, parsed);

  const { value, problems: found } = validate(doc);
  const warnings: string[] = found.filter((p) => p.severity === "warning").map(formatProblem);
  for (const p of found) if (p.severity === "error") problems.push(formatProblem(p));

  const np: NetworkProxyConfig = Object.freeze({
    ...value,
    mitm: Object.freeze({
      ...value.mitm,
      ca_cert_path: resolvePath(source.dir, value.mitm.ca_cert_path),
      ca_key_path: resolvePath(source.dir, value.mitm.ca_key_path),
      upstream_ca_file: value.mitm.upstream_ca_file === "" ? "" : resolvePath(source.dir, value.mitm.upstream_ca_file),
    }),
  });

  const compiled = compilePolicy(np.policy);
  for (const p of compiled.problems) problems.push(formatProblem(p));
  warnings.push(...compiled.warnings.map(formatProblem));

  const proxyAuth = credentials(np, problems, warnings);

  const unix = np.policy.allow_unix_sockets.length > 0;
  const http = listenAddress(
    {
      name: "HTTP proxy",
      url: np.proxy_url,
      key: "network_proxy.proxy_url",
      defaultPort: 3128,
      allowNonLoopback: np.dangerously_allow_non_loopback,
      flagName: "dangerously_allow_non_loopback",
    },
    unix,
  );
  const socks = listenAddress(
    {
      name: "SOCKS5 proxy",
      url: np.socks_url,
      key: "network_proxy.socks_url",
      defaultPort: 8081,
      allowNonLoopback: np.dangerously_allow_non_loopback,
      flagName: "dangerously_allow_non_loopback",
    },
    unix,
  );
  const admin = listenAddress(
    {
      name: "admin API",
      url: np.admin_url,
      key: "network_proxy.admin_url",
      defaultPort: 8080,
      allowNonLoopback: np.dangerously_allow_non_loopback_admin,
      flagName: "dangerously_allow_non_loopback_admin",
    },
    unix,
  );
  warnings.push(...http.warnings, ...(np.enable_socks5 ? socks.warnings : []), ...admin.warnings);
  const listeners: Listeners = Object.freeze({
    http: Object.freeze(http.addr),
    socks: np.enable_socks5 ? Object.freeze(socks.addr) : null,
    admin: Object.freeze(admin.addr),
  });
  checkPortClashes(listeners, problems);

  if (problems.length) return { ok: false, source, problems };
  const frozenSource = Object.freeze({ ...source, overrides: Object.freeze([...source.overrides]) });
  return { ok: true, config: Object.freeze({ source: frozenSource, np, listeners, policy: compiled.policy, proxyAuth, warnings: Object.freeze(warnings) }) };
}

/** The keys that decide where the listeners are; a running proxy cannot move them on reload. */
const LISTENER_KEYS = [
  "proxy_url",
  "socks_url",
  "admin_url",
  "enable_socks5",
  "dangerously_allow_non_loopback",
  "dangerously_allow_non_loopback_admin",
] as const;

/**
 * `next` with the listeners (and the keys that place them) of the running `prev`: sockets are
 * bound once at start-up, so a reload must not report addresses nothing listens on. Returns a
 * note per ignored change, saying it takes effect at the next restart and where the listener
 * really is (`bound`).
 */
export function keepListeners(prev: LoadedConfig, next: LoadedConfig, bound: Listeners = prev.listeners): { config: LoadedConfig; notes: string[] } {
  const notes: string[] = [];
  const show = (a: ListenAddr | null) => (a ? fmtAddr(a) : "off");
  const pairs: Array<[string, ListenAddr | null, ListenAddr | null, ListenAddr | null]> = [
    ["proxy_url", prev.listeners.http, next.listeners.http, bound.http],
    ["socks_url", prev.listeners.socks, next.listeners.socks, bound.socks],
    ["admin_url", prev.listeners.admin, next.listeners.admin, bound.admin],
  ];
  for (const [key, a, b, now] of pairs) {
    if (show(a) !== show(b)) notes.push(`${key} ${show(a)} -> ${show(b)} takes effect at the next restart (still listening on ${show(now)})`);
  }
  if (notes.length === 0 && LISTENER_KEYS.every((k) => prev.np[k] === next.np[k])) return { config: next, notes };
  const np = { ...next.np } as Record<string, unknown>;
  for (const k of LISTENER_KEYS) np[k] = prev.np[k];
  return { config: Object.freeze({ ...next, np: Object.freeze(np as unknown as NetworkProxyConfig), listeners: prev.listeners }), notes };
}

function checkPortClashes(l: Listeners, problems: string[]): void {
  const entries: Array<[string, ListenAddr]> = [
    ["proxy_url", l.http],
    ["admin_url", l.admin],
  ];
  if (l.socks) entries.push(["socks_url", l.socks]);
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [ka, a] = entries[i]!;
      const [kb, b] = entries[j]!;
      if (a.port !== 0 && a.port === b.port && a.host === b.host) {
        problems.push(`network_proxy.${ka} and network_proxy.${kb} both listen on ${a.host}:${a.port}; give each its own port`);
      }
    }
  }
}

/**
 * The proxy listeners' credentials: `auth`, or the older `socks5` spelling of the same (which
 * now protects the HTTP listener too, so that neither listener is a way around the other).
 */
function credentials(np: NetworkProxyConfig, problems: string[], warnings: string[]): Credentials | null {
  for (const t of ["auth", "socks5"] as const) {
    if ((np[t].username === "") !== (np[t].password === "")) problems.push(`network_proxy.${t}: set both username and password, or neither`);
  }
  const a = np.auth;
  const s = np.socks5;
  if (s.username === "") return a.username === "" ? null : a;
  if (a.username !== "" && (a.username !== s.username || a.password !== s.password)) {
    problems.push("network_proxy.socks5 and network_proxy.auth set different credentials; keep [network_proxy.auth] only");
  } else if (a.username === "") {
    warnings.push("network_proxy.socks5.username/password now protect the HTTP listener too; move them to [network_proxy.auth]");
  }
  return s;
}

function resolvePath(dir: string, p: string): string {
  return isAbsolute(p) ? p : join(dir, p);
}

export function formatProblem(p: Problem): string {
  return p.key ? `${p.key}: ${p.message}` : p.message;
}
