/**
 * The `[network_proxy]` schema: every key, its type, default and meaning, in one table.
 *
 * `validate()` is pure. It turns whatever TOML produced into a fully-defaulted, typed object and
 * returns every problem it found (type errors, out-of-range values, unknown keys with a
 * suggestion) instead of stopping at the first.
 */

import { frozenCopySteps } from "./frozen.ts";
import { checkHooks, type HookConfig } from "./hooks.ts";
import type { Problem } from "./problem.ts";
import { runSteps } from "./steps.ts";
import { editDistance, suggest } from "./suggest.ts";
import { MODES, type NetworkProxyConfig } from "./types.ts";

export type { Problem } from "./problem.ts";
export type { Credentials, LimitsConfig, LogConfig, MitmConfig, Mode, NetworkProxyConfig, PolicyConfig, UpstreamConfig } from "./types.ts";
export { MODES } from "./types.ts";

type Spec =
  | { kind: "bool"; default: boolean; doc: string }
  | { kind: "string"; default: string; doc: string; secret?: true }
  | { kind: "strings"; default: readonly string[]; doc: string }
  | { kind: "int"; default: number; min: number; max: number; doc: string }
  | { kind: "enum"; default: string; values: readonly string[]; doc: string }
  | { kind: "hooks"; default: readonly HookConfig[]; doc: string };

type Table = { readonly [key: string]: Spec | Table };

const SECOND = 1000;

/**
 * The schema. Keys and defaults of the original are kept (its `enabled` defaulted to false
 * because it ran embedded in Codex; a standalone proxy that does nothing by default would be
 * useless, so ours defaults to true). Everything not in the seed README is our extension.
 */
export const SCHEMA = {
  enabled: { kind: "bool", default: true, doc: "Run the listeners. `false` makes the program exit 0 with a message." },
  proxy_url: { kind: "string", default: "http://127.0.0.1:3128", doc: "HTTP proxy listen address (port defaults to 3128)." },
  admin_url: { kind: "string", default: "http://127.0.0.1:8080", doc: "Admin API listen address (port defaults to 8080)." },
  socks_url: { kind: "string", default: "http://127.0.0.1:8081", doc: "SOCKS5 listen address (port defaults to 8081)." },
  enable_socks5: { kind: "bool", default: true, doc: "Run the SOCKS5 listener." },
  mode: { kind: "enum", default: "full", values: MODES, doc: '"full" allows every method; "limited" allows only GET, HEAD and OPTIONS.' },
  dangerously_allow_non_loopback: {
    kind: "bool",
    default: false,
    doc: "Allow the HTTP and SOCKS5 listeners on a non-loopback address (alias: dangerously_allow_non_loopback_proxy).",
  },
  dangerously_allow_non_loopback_admin: { kind: "bool", default: false, doc: "Allow the admin API on a non-loopback address." },
  admin_token: {
    kind: "string",
    default: "",
    secret: true,
    doc: "Bearer token for mutating admin calls. Empty: read or create network_proxy/admin.token beside the config file.",
  },
  dangerously_disable_admin_auth: { kind: "bool", default: false, doc: "Let anyone who can reach the admin API change mode and reload." },
  max_blocked_events: { kind: "int", default: 200, min: 1, max: 100_000, doc: "Size of the ring buffer behind GET /blocked." },
  mitm_hooks: {
    kind: "hooks",
    default: [],
    doc: "Per-host request rules and header actions (`[[network_proxy.mitm_hooks]]`; see Per-host rules and credentials).",
  },
  dangerously_allow_plaintext_credential_injection: {
    kind: "bool",
    default: false,
    doc: "Let a hook inject its secret into a plain-HTTP request (refused by default: it would cross the network in clear).",
  },
  policy: {
    allowed_domains: { kind: "strings", default: [], doc: "Allowlist patterns. Empty blocks everything." },
    denied_domains: { kind: "strings", default: [], doc: "Denylist patterns. Deny always wins." },
    allow_unix_sockets: { kind: "strings", default: [], doc: "Unix socket paths reachable with `x-unix-socket` (macOS only)." },
    allow_local_binding: { kind: "bool", default: false, doc: "Allow loopback, private and other non-public destinations." },
    on_unlisted: {
      kind: "enum",
      default: "deny",
      values: ["deny", "ask"],
      doc: '"ask": hold a request that no list mentions until the operator answers it (admin API or dashboard); "deny": refuse it.',
    },
    ask_timeout_ms: { kind: "int", default: 60_000, min: 1000, max: 3_600_000, doc: "How long a held request waits for an answer before it is refused." },
    ask_max_pending: { kind: "int", default: 64, min: 1, max: 10_000, doc: "Targets held at once; more are refused at once (ask_queue_full)." },
  },
  mitm: {
    enabled: { kind: "bool", default: false, doc: "Terminate HTTPS in limited mode so each request inside can be judged." },
    inspect: { kind: "bool", default: false, doc: "Log request and response body sizes of MITM'd requests." },
    max_body_bytes: { kind: "int", default: 4096, min: 0, max: 2 ** 40, doc: "Body size above which inspection logs say `truncated`." },
    ca_cert_path: { kind: "string", default: "network_proxy/mitm/ca.pem", doc: "CA certificate (relative paths: against the config file's directory)." },
    ca_key_path: { kind: "string", default: "network_proxy/mitm/ca.key", doc: "CA private key, mode 0600 (relative like ca_cert_path)." },
    upstream_ca_file: { kind: "string", default: "", doc: "Extra PEM roots trusted for upstream TLS, on top of the system roots." },
    leaf_cache_size: { kind: "int", default: 256, min: 1, max: 100_000, doc: "Leaf certificates kept in memory (LRU)." },
    leaf_validity_days: {
      kind: "int",
      default: 30,
      min: 1,
      max: 90,
      doc: "Lifetime of a minted leaf certificate (1-90; re-minted automatically before it ends).",
    },
    log_query: { kind: "bool", default: false, doc: "Include query strings of MITM'd URLs in logs." },
  },
  limits: {
    max_head_bytes: { kind: "int", default: 32 * 1024, min: 1024, max: 1024 * 1024, doc: "Largest request or response head." },
    max_headers: { kind: "int", default: 100, min: 8, max: 10_000, doc: "Most header lines in one head." },
    head_timeout_ms: { kind: "int", default: 10 * SECOND, min: 100, max: 3_600_000, doc: "Time allowed to send a complete request head (slowloris guard)." },
    connect_timeout_ms: { kind: "int", default: 10 * SECOND, min: 100, max: 600_000, doc: "Upstream TCP (and TLS) connect time-out." },
    dns_timeout_ms: { kind: "int", default: 2 * SECOND, min: 50, max: 60_000, doc: "Name resolution time-out; a time-out fails closed." },
    max_dns_lookups: {
      kind: "int",
      default: 256,
      min: 1,
      max: 100_000,
      doc: "Distinct names resolved at once (lookups of one name share a query); more fail at once.",
    },
    response_timeout_ms: { kind: "int", default: 60 * SECOND, min: 100, max: 3_600_000, doc: "Time for an upstream to start its response." },
    idle_timeout_ms: { kind: "int", default: 60 * SECOND, min: 100, max: 3_600_000, doc: "Idle time before a kept-alive connection is closed." },
    tunnel_idle_timeout_ms: { kind: "int", default: 15 * 60 * SECOND, min: 100, max: 86_400_000, doc: "Idle time before a tunnel is closed." },
    max_connections: { kind: "int", default: 8192, min: 1, max: 1_000_000, doc: "Concurrent client connections over all listeners." },
    max_tunnels: { kind: "int", default: 8192, min: 1, max: 1_000_000, doc: "Concurrent CONNECT/SOCKS5/upgrade tunnels." },
    max_buffered_bytes: {
      kind: "int",
      default: 64 * 1024 * 1024,
      min: 1024 * 1024,
      max: 16 * 1024 * 1024 * 1024,
      doc: "Bytes queued for slow readers over all connections; past it, every producer that would queue more is paused.",
    },
    shutdown_grace_ms: { kind: "int", default: 5 * SECOND, min: 0, max: 600_000, doc: "On SIGINT/SIGTERM, time given to in-flight work." },
  },
  allow_upstream_proxy: {
    kind: "bool",
    default: false,
    doc: "Send allowed traffic through the upstream proxy named by the environment the proxy started with (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY).",
  },
  upstream: {
    url: { kind: "string", default: "", doc: "Upstream proxy (http://, https:// or socks5h://, socks5://); wins over allow_upstream_proxy." },
    username: { kind: "string", default: "", doc: "Upstream username (or in the URL, percent-encoded)." },
    password_env: { kind: "string", default: "", doc: "Environment variable holding the upstream password." },
    password_file: { kind: "string", default: "", doc: "File holding the upstream password (relative to the config file; trailing newlines trimmed)." },
    no_proxy: { kind: "strings", default: [], doc: "Targets dialed directly (names and .suffixes, IPs, CIDRs, `*`), after the policy allowed them." },
    resolve: {
      kind: "enum",
      default: "local",
      values: ["local", "upstream"],
      doc: '"local": names are resolved and judged here, then sent by name; "upstream": names are judged by name alone and resolved by the upstream.',
    },
    ca_file: { kind: "string", default: "", doc: "Extra PEM roots trusted for an https:// upstream." },
    pin_addresses: { kind: "bool", default: false, doc: 'Send the vetted address to the upstream instead of the name (resolve = "local" only).' },
  },
  log: {
    access: {
      kind: "bool",
      default: true,
      doc: "One info line per allowed request or tunnel when it ends (blocks and errors are always logged).",
    },
  },
  auth: {
    username: {
      kind: "string",
      default: "",
      doc: "With password: clients must authenticate on both proxy listeners (HTTP `Proxy-Authorization: Basic`, SOCKS5 RFC 1929).",
    },
    password: { kind: "string", default: "", secret: true, doc: "Password for the proxy listeners." },
  },
  socks5: {
    username: { kind: "string", default: "", doc: "Older spelling of `auth.username` (it protects the HTTP listener too)." },
    password: { kind: "string", default: "", secret: true, doc: "Older spelling of `auth.password`." },
  },
} as const satisfies Table;

/** Old or alternative spellings, mapped to the key we use. */
export const ALIASES: Readonly<Record<string, string>> = {
  dangerously_allow_non_loopback_proxy: "dangerously_allow_non_loopback",
};

export const ROOT = "network_proxy";

/** Every dotted key (under `network_proxy.`) with its spec; for docs, `check` and suggestions. */
export function allKeys(): ReadonlyArray<{ key: string; spec: Spec }> {
  return KEYS;
}

/** allKeys, walked once: the schema is a constant. */
const KEYS: Array<{ key: string; spec: Spec }> = [];
/** Every spec of the schema (validateTable tells specs from tables by it). */
const SPECS = new Set<Spec>();

// One walk, with for-in and Set.add: this runs once, in a fresh process, where the first call
// of a built-in is slow. There, `new Set(list.map(...))` over these ~90 specs took about 150 µs
// and a loop of add() 20-40 µs; this module took about 0.5 ms to load before.
(function walk(t: Table, prefix: string): void {
  for (const k in t) {
    const v = t[k]!;
    if (!isSpec(v)) {
      walk(v, `${prefix}.${k}`);
      continue;
    }
    KEYS.push({ key: `${prefix}.${k}`, spec: v });
    SPECS.add(v);
    // Defaults are handed out as they are, to every config: nobody may change them.
    if (v.kind === "strings" || v.kind === "hooks") Object.freeze(v.default);
  }
})(SCHEMA, ROOT);
Object.freeze(KEYS);

function isSpec(v: Spec | Table): v is Spec {
  return typeof (v as Spec).kind === "string" && "doc" in v;
}

export function tomlTypeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "bigint") return "an integer";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a float";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date-time";
  return "a table";
}

function show(v: unknown): string {
  const s = typeof v === "bigint" ? v.toString() : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/**
 * Validate the `network_proxy` table of a parsed TOML document. Returns the typed config with
 * defaults applied and every problem found. When there are errors the returned value still has
 * defaults in the broken places, but callers must not use it.
 */
export function validate(doc: Record<string, unknown>): { value: NetworkProxyConfig; problems: Problem[] } {
  return runSteps(validateSteps(doc));
}

/** validate as steps (see steps.ts): a long list is copied and frozen in pieces. */
export function* validateSteps(doc: Record<string, unknown>): Generator<void, { value: NetworkProxyConfig; problems: Problem[] }, void> {
  const problems: Problem[] = [];
  // Other programs' settings share this file, so other top-level tables are theirs; but one
  // spelled almost like ours is a typo of ours, and ignoring it would drop the whole policy.
  for (const key of Object.keys(doc)) {
    if (key !== ROOT && nearRoot(key)) problems.push({ severity: "error", key, message: `unknown table; did you mean [${ROOT}]?` });
  }
  const raw = doc[ROOT];
  let table: Record<string, unknown> = {};
  if (raw !== undefined) {
    if (isPlainTable(raw)) table = raw;
    else problems.push({ severity: "error", key: ROOT, message: `expected a table, found ${tomlTypeName(raw)}` });
  }
  table = applyAliases(table, ROOT, problems);
  const value = (yield* validateTable(SCHEMA, table, ROOT, problems)) as unknown as NetworkProxyConfig;
  return { value, problems };
}

/** `network_prox`, `networkProxy`, `network-proxy`: close enough to ours to be a typo. */
export function nearRoot(key: string): boolean {
  const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  return squash(key) === squash(ROOT) || editDistance(key.toLowerCase(), ROOT) <= 3;
}

function applyAliases(table: Record<string, unknown>, prefix: string, problems: Problem[]): Record<string, unknown> {
  let out = table;
  for (const [alias, canonical] of Object.entries(ALIASES)) {
    if (!(alias in table)) continue;
    out = { ...out };
    const aliasValue = out[alias];
    delete out[alias];
    if (canonical in table && table[canonical] !== aliasValue) {
      problems.push({
        severity: "error",
        key: `${prefix}.${alias}`,
        message: `conflicts with ${prefix}.${canonical} (${show(table[canonical])} vs ${show(aliasValue)}); keep one of them`,
      });
      continue;
    }
    out[canonical] = aliasValue;
  }
  return out;
}

function isPlainTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function* validateTable(schema: Table, table: Record<string, unknown>, prefix: string, problems: Problem[]): Generator<void, Record<string, unknown>, void> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema)) {
    const path = `${prefix}.${key}`;
    const v = table[key];
    // A lookup rather than isSpec: at start-up, validation and the walk above called it often
    // enough for the optimizing JIT to compile it, the only function it compiled before the
    // proxy was ready, and that alone faulted in about 2 MiB of the compiler's code.
    if (SPECS.has(entry as Spec)) {
      const spec = entry as Spec;
      out[key] = v === undefined ? spec.default : yield* checkValue(spec, v, path, problems);
      continue;
    }
    const sub = entry as Table;
    if (v === undefined) {
      out[key] = yield* validateTable(sub, {}, path, problems);
    } else if (!isPlainTable(v)) {
      problems.push({ severity: "error", key: path, message: `expected a table ([${path}]), found ${tomlTypeName(v)}` });
      out[key] = yield* validateTable(sub, {}, path, problems);
    } else {
      out[key] = yield* validateTable(sub, v, path, problems);
    }
  }
  // A key we do not know is an error, not a warning: a mistyped rule that is silently ignored
  // leaves the proxy doing something other than what its owner wrote.
  const known = [...Object.keys(schema), ...(prefix === ROOT ? Object.keys(ALIASES) : [])];
  for (const key of Object.keys(table)) {
    if (key in schema) continue;
    const sibling = suggest(key, known);
    const hint = sibling ? `${prefix}.${sibling}` : elsewhere(key);
    const what = isPlainTable(table[key]) ? "unknown table" : "unknown key";
    problems.push({ severity: "error", key: `${prefix}.${key}`, message: `${what}${hint ? `; did you mean ${hint}?` : ""}` });
  }
  return Object.freeze(out);
}

/** A key that exists in another table (e.g. `allowedDomains` at the top instead of under policy). */
function elsewhere(key: string): string | undefined {
  const keys = allKeys();
  const leaf = suggest(
    key,
    keys.map((k) => k.key.slice(k.key.lastIndexOf(".") + 1)),
  );
  return leaf ? keys.find((k) => k.key.endsWith(`.${leaf}`))?.key : undefined;
}

function* checkValue(spec: Spec, v: unknown, path: string, problems: Problem[]): Generator<void, unknown, void> {
  // A secret's value is never echoed, even a wrong one: problems end up in logs.
  const secret = spec.kind === "string" && spec.secret === true;
  const bad = (expected: string) => {
    problems.push({ severity: "error", key: path, message: `expected ${expected}, found ${tomlTypeName(v)}${secret ? "" : ` (${show(v)})`}` });
    return spec.default;
  };
  switch (spec.kind) {
    case "bool":
      return typeof v === "boolean" ? v : bad("a boolean (true or false)");
    case "string":
      return typeof v === "string" ? v : bad("a string");
    case "enum":
      if (typeof v !== "string") return bad(`one of ${spec.values.map((x) => `"${x}"`).join(", ")}`);
      if (!spec.values.includes(v)) {
        problems.push({
          severity: "error",
          key: path,
          message: `expected one of ${spec.values.map((x) => `"${x}"`).join(", ")}, found ${show(v)}`,
        });
        return spec.default;
      }
      return v;
    case "int": {
      const n = typeof v === "bigint" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isInteger(n)) return bad("an integer");
      if (n < spec.min || n > spec.max) {
        problems.push({ severity: "error", key: path, message: `must be between ${spec.min} and ${spec.max}, found ${show(v)}` });
        return spec.default;
      }
      return n;
    }
    case "hooks":
      return Object.freeze(checkHooks(v, path, problems));
    case "strings": {
      if (!Array.isArray(v)) return bad("an array of strings");
      let ok = true;
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item !== "string") {
          ok = false;
          problems.push({ severity: "error", key: `${path}[${i}]`, message: `expected a string, found ${tomlTypeName(item)} (${show(item)})` });
        }
      }
      return ok ? yield* frozenCopySteps(v as string[]) : spec.default;
    }
  }
}
