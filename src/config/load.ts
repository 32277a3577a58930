/**
 * Where config comes from and how it becomes the immutable runtime object.
 *
 * Sources, later wins: built-in defaults < the config file (`--config PATH`, else
 * `$CODEX_HOME/config.toml`, CODEX_HOME defaulting to `~/.codex`) < `-c key=value` overrides.
 * `buildConfig()` is pure; `loadConfig()` adds the file read.
 */
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { TomlError } from "smol-toml";
import { codexHomeFor, secretPrivacy } from "../platform.ts";
import { compileHooks, type HookTable } from "../policy/hooks.ts";
import { NO_SECRETS, secretReader, type SecretIo } from "./secret-io.ts";
import type { Route } from "../policy/route.ts";
import { compilePolicySteps, type CompiledRules } from "../policy/rules.ts";
import { frozenCopySteps } from "./frozen.ts";
import { fmtAddr, listenAddress, type ListenAddr } from "./addr.ts";
import { applyOverrides, parseOverride, type Override } from "./overrides.ts";
import { ProblemPlacer } from "./place.ts";
import { allKeys, nearRoot, ROOT, validateSteps, type Credentials, type NetworkProxyConfig } from "./schema.ts";
import { mapSteps, runSteps } from "./steps.ts";
import { parseTomlSteps } from "./toml.ts";
import { fileStamp } from "./stamp.ts";
import { suggest } from "./suggest.ts";
import { compileRoute } from "./upstream.ts";

export interface ConfigSource {
  /** Absolute path of the config file that was (or would have been) read. */
  readonly path: string;
  readonly exists: boolean;
  /** Directory that relative paths in the file are resolved against. */
  readonly dir: string;
  readonly overrides: readonly string[];
  /** The file's stamp (stamp.ts), taken just before it was read; null or absent: no file. */
  readonly stamp?: string | null;
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
  readonly policy: CompiledRules;
  /** What clients must send on both proxy listeners, or null (no authentication). */
  readonly proxyAuth: Credentials | null;
  /** Warnings to log once (unknown keys, clamps). */
  readonly warnings: readonly string[];
  /** `mitm_hooks` by host, with their secrets read. */
  readonly hooks: HookTable;
  /** Direct, or through an upstream proxy (policy/route.ts). */
  readonly route: Route;
}

export type LoadResult =
  | { ok: true; config: LoadedConfig }
  /** `usage`: the command line itself is wrong (a --config file that is not there). */
  | { ok: false; source: ConfigSource; problems: readonly string[]; usage?: boolean };

export interface LoadOptions {
  readonly configPath?: string | undefined;
  readonly overrides?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

export function codexHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return codexHomeFor(process.platform, env, homedir(), process.cwd());
}

export function configPathFor(opts: LoadOptions): string {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.configPath !== undefined) return resolve(cwd, opts.configPath);
  return join(codexHome(opts.env ?? process.env), "config.toml");
}

/** Read, parse, override, validate and resolve. Never throws for bad input; returns problems. */
export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const read = readConfig(opts);
  return "result" in read ? read.result : buildConfig(read.text, read.source, read.io);
}

/** The file's text (null: no file) and what buildConfig reads beside it; or the failure to read it. */
export function readConfig(opts: LoadOptions): { result: LoadResult } | { text: string | null; source: ConfigSource; io: SecretIo } {
  const path = configPathFor(opts);
  const overrides = opts.overrides ?? [];
  let text: string | null = null;
  let readError: string | null = null;
  const stamp = fileStamp(path);
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") readError = `${path}: cannot read config file: ${(e as Error).message}`;
    // Only the default file may be missing: a path the user named and mistyped must not
    // quietly become "defaults, allow nothing".
    else if (opts.configPath !== undefined)
      readError = `${path}: no such config file (named by --config; leave --config out to use ${codexHome(opts.env)}/config.toml)`;
  }
  const source: ConfigSource = { path, exists: text !== null, dir: dirname(path), overrides, stamp };
  if (readError) return { result: { ok: false, source, problems: [readError], usage: opts.configPath !== undefined && text === null } };
  const io: SecretIo = {
    env: opts.env ?? process.env,
    readFile: (p) => readFileSync(p, "utf8"),
    fileMode: (p) => {
      if (secretPrivacy(process.platform) !== "mode") return null; // no meaningful bits: see platform.ts
      try {
        return statSync(p).mode & 0o777;
      } catch {
        return null;
      }
    },
  };
  return { text, source, io };
}

/** Pure: the config that `text` (null when there is no file) and the overrides describe. */
export function buildConfig(text: string | null, source: ConfigSource, io: SecretIo = NO_SECRETS): LoadResult {
  return runSteps(buildConfigSteps(text, source, io));
}

/** buildConfig as steps (see steps.ts): it pauses between its phases and while compiling the lists. */
export function* buildConfigSteps(text: string | null, source: ConfigSource, io: SecretIo = NO_SECRETS): Generator<void, LoadResult, void> {
  const problems: string[] = [];
  let doc: Record<string, unknown> = {};
  if (text !== null) {
    try {
      doc = yield* parseTomlSteps(text);
    } catch (e) {
      if (e instanceof TomlError) {
        const first = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
        problems.push(`${source.path}:${e.line}:${e.column}: TOML syntax error: ${first}\n${e.codeblock}`.trimEnd());
      } else {
        problems.push(`${source.path}: ${(e as Error).message}`);
      }
      return { ok: false, source, problems };
    }
    yield;
  }

  const parsed: Override[] = [];
  for (const o of source.overrides) {
    try {
      const ov = parseOverride(o);
      if (ov.path[0] !== ROOT) throw new Error(`-c ${JSON.stringify(o)}: only ${ROOT}.* keys are read${hintFor(ov.path)}`);
      parsed.push(ov);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  // A malformed override is reported together with every other problem, not instead of them.
  doc = applyOverrides(doc, parsed);

  yield;
  const { value, problems: found } = yield* validateSteps(doc);
  yield;
  const placer = new ProblemPlacer(text, source.path, parsed);
  const place = placer.place;
  if (found.length > 0) yield* placer.prepare();
  const warnings: string[] = yield* mapSteps(
    found.filter((p) => p.severity === "warning"),
    place,
  );
  problems.push(
    ...(yield* mapSteps(
      found.filter((p) => p.severity === "error"),
      place,
    )),
  );

  const np: NetworkProxyConfig = Object.freeze({
    ...value,
    mitm: Object.freeze({
      ...value.mitm,
      ca_cert_path: resolvePath(source.dir, value.mitm.ca_cert_path),
      ca_key_path: resolvePath(source.dir, value.mitm.ca_key_path),
      upstream_ca_file: value.mitm.upstream_ca_file === "" ? "" : resolvePath(source.dir, value.mitm.upstream_ca_file),
    }),
  });

  if (np.mitm_hooks.length > 0 && !np.mitm.enabled) {
    const message = "hooks need [network_proxy.mitm] enabled = true: requests to a hooked host are judged inside intercepted tunnels";
    problems.push(place({ severity: "error", key: `${ROOT}.mitm_hooks`, message }));
  }
  const hooks = compileHooks(np.mitm_hooks, secretReader(io, source.dir));
  for (const p of hooks.problems) problems.push(place(p));
  const routed = compileRoute(np, io, source.dir, source.path);
  for (const p of routed.problems) problems.push(place(p));
  warnings.push(...routed.warnings);
  const compiled = yield* compilePolicySteps(np.policy);
  if (compiled.problems.length + compiled.warnings.length > 0) yield* placer.prepare();
  problems.push(...(yield* mapSteps(compiled.problems, place)));
  warnings.push(...(yield* mapSteps(compiled.warnings, place)));

  const proxyAuth = credentials(np, problems, warnings);
  warnings.push(...riskWarnings(np));

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
  for (const up of new Set([routed.route.http, routed.route.tls])) {
    // An upstream that is one of our own listeners would send every request round in a circle.
    if (
      up &&
      [listeners.http, listeners.socks].some(
        (l) => l !== null && l.port === up.port && (l.host === up.host || (up.host === "localhost" && l.host.startsWith("127."))),
      )
    ) {
      problems.push(`${up.label} is this proxy's own listener: an upstream must be another proxy (is HTTPS_PROXY in this environment pointing at us?)`);
    }
  }

  if (problems.length) return { ok: false, source, problems };
  const frozenSource = Object.freeze({ ...source, overrides: Object.freeze([...source.overrides]) });
  const config = {
    source: frozenSource,
    np,
    listeners,
    policy: compiled.policy,
    proxyAuth,
    warnings: yield* frozenCopySteps(warnings),
    hooks: hooks.table,
    route: routed.route,
  };
  return { ok: true, config: Object.freeze(config) };
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

/** Settings that are valid but almost certainly not what the owner wants, said once at load. */
export function riskWarnings(np: NetworkProxyConfig, platform: string = process.platform): string[] {
  const out: string[] = [];
  if (np.policy.allowed_domains.length === 0 && np.policy.on_unlisted === "ask") {
    out.push(`${ROOT}.policy.allowed_domains is empty: every request will wait for an answer on the admin API or dashboard (on_unlisted = "ask")`);
  } else if (np.policy.allowed_domains.length === 0) {
    out.push(
      `${ROOT}.policy.allowed_domains is empty: every request will be blocked; list the hosts clients may reach, e.g. allowed_domains = ["example.com", "*.example.com"]`,
    );
  }
  if (np.policy.allow_unix_sockets.length > 0 && platform !== "darwin") {
    out.push(
      `${ROOT}.policy.allow_unix_sockets has no effect on ${platform}: x-unix-socket works on macOS only, and such requests get 501 unix_sockets_unsupported`,
    );
  }
  if (np.dangerously_disable_admin_auth) {
    out.push(`${ROOT}.dangerously_disable_admin_auth is true: anything that can reach the admin API can switch the mode and reload the config`);
  }
  return out;
}

function resolvePath(dir: string, p: string): string {
  return isAbsolute(p) ? p : join(dir, p);
}

export { NO_SECRETS, type SecretIo } from "./secret-io.ts";

export { formatProblem } from "./place.ts";

/** "; did you mean network_proxy.proxy_url?" for an override key outside our table. */
function hintFor(path: readonly string[]): string {
  const known = allKeys().map((k) => k.key);
  const tables = new Set(
    known.flatMap((k) =>
      k
        .split(".")
        .slice(0, -1)
        .map((_, i, a) => a.slice(0, i + 1).join(".")),
    ),
  );
  const rest = nearRoot(path[0]!) ? path.slice(1) : path;
  const full = [ROOT, ...rest].join(".");
  if (known.includes(full) || tables.has(full)) return `; did you mean ${full}?`;
  const leaf = suggest(
    path[path.length - 1]!,
    known.map((k) => k.slice(k.lastIndexOf(".") + 1)),
  );
  const guess = leaf ? known.find((k) => k.endsWith(`.${leaf}`)) : undefined;
  return guess ? `; did you mean ${guess}?` : "";
}
