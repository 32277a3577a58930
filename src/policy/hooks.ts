/**
 * Per-host request rules (`mitm_hooks`): once a host has hooks, each request to it must match
 * one (method, path, query, headers), the first match wins, and its actions strip headers and
 * inject the credentials the proxy holds. Hooks never widen the domain policy: they are judged
 * only for targets the policy allowed. Compiling checks what the config shape could not (host,
 * methods, header names and values, globs) and reads the secrets through `readSecret`, whose
 * errors never contain a secret. Matching is pure.
 */
import type { HookConfig, InjectedHeaderConfig } from "../config/hooks.ts";
import type { Problem } from "../config/problem.ts";
import { Secret } from "../secret.ts";
import { globMatcher, normalizePath, parseQuery } from "./http-path.ts";
import { canonicalHost } from "./target.ts";

export interface InjectedHeader {
  readonly name: string;
  readonly lower: string;
  /** The whole header value (prefix + secret). */
  readonly value: Secret;
  /** Where the secret comes from, for /config and explain: `env GITHUB_TOKEN` or `file /path`. */
  readonly source: string;
}

type Matcher = (s: string) => boolean;

export interface CompiledHook {
  /** `mitm_hooks[0] (api.github.com)`: how logs, /blocked and explain name it. */
  readonly label: string;
  readonly host: string;
  readonly methods: ReadonlySet<string>;
  readonly paths: readonly Matcher[];
  readonly query: ReadonlyArray<readonly [string, readonly Matcher[]]>;
  readonly headers: ReadonlyArray<readonly [string, readonly Matcher[]]>;
  /** Header names (lower-case) removed from the request, the injected ones included. */
  readonly strip: ReadonlySet<string>;
  readonly inject: readonly InjectedHeader[];
  /** The hook names the `upgrade` header: a matching upgrade is what it asks for. */
  readonly upgrade: boolean;
}

/** Hooks by canonical host, in config order. */
export type HookTable = ReadonlyMap<string, readonly CompiledHook[]>;

export const NO_HOOKS: HookTable = new Map();

/** What a secret source gives: the value, or why not (never containing the value). */
export type SecretReader = (h: InjectedHeaderConfig) => { value: string } | { error: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers some servers (IIS, Symfony) take the request path from instead of the request line. */
const PATH_OVERRIDES: ReadonlySet<string> = new Set(["x-original-url", "x-rewrite-url"]);

/** Names the proxy owns on the wire: a hook cannot set or remove them. */
const RESERVED = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection"]);

/** CGI-style servers read `X_Api_Key` as `X-Api-Key`: every comparison of names folds `_` to `-`. */
export const foldName = (lower: string) => (lower.includes("_") ? lower.replaceAll("_", "-") : lower);

function valueMatcher(v: string): Matcher {
  if (v.startsWith("pattern:")) {
    return globMatcher(v.slice(8), false);
  }
  const lit = v.startsWith("literal:") ? v.slice(8) : v;
  return (s) => s === lit;
}

export function compileHooks(hooks: readonly HookConfig[], readSecret: SecretReader): { table: HookTable; problems: Problem[] } {
  const problems: Problem[] = [];
  const table = new Map<string, CompiledHook[]>();
  hooks.forEach((h, i) => {
    const at = `network_proxy.mitm_hooks[${i}]`;
    const err = (key: string, message: string) => problems.push({ severity: "error", key: `${at}${key}`, message: `(${h.host}) ${message}` });
    let host: string;
    try {
      const c = canonicalHost(h.host.trim());
      host = c.host;
      if (c.kind === "domain" && host.includes("*")) throw new Error("a wildcard");
    } catch (e) {
      err(".host", `must be one exact host name or address: ${(e as Error).message}`);
      return;
    }
    for (const m of h.match.methods) {
      if (!TOKEN.test(m)) err(".match.methods", `${JSON.stringify(m)} is not a method name`);
      else if (m !== m.toUpperCase()) err(".match.methods", `methods are case-sensitive: write ${JSON.stringify(m.toUpperCase())}`);
    }
    const paths: Matcher[] = [];
    for (const p of h.match.path_prefixes) {
      const glob = p.startsWith("pattern:");
      const text = glob ? p.slice(8) : p.startsWith("literal:") ? p.slice(8) : p;
      // Entries are compared in the normalised form requests are compared in.
      const n = normalizePath(glob ? text.replaceAll("*", "x") : text);
      if (!n.ok || n.query !== null) {
        err(".match.path_prefixes", `${JSON.stringify(p)} is not a usable path: ${n.ok ? "it has a query" : n.why}`);
        continue;
      }
      if (glob) paths.push(globMatcher(text, true));
      else {
        const prefix = n.path;
        paths.push((s) => s.startsWith(prefix));
      }
    }
    const names = (list: readonly string[], key: string) =>
      list.map((n) => {
        if (!TOKEN.test(n)) err(key, `${JSON.stringify(n)} is not a header name`);
        return foldName(n.toLowerCase());
      });
    const headerNames = names(Object.keys(h.match.headers), ".match.headers");
    const strip = new Set(names(h.actions.strip_request_headers, ".actions.strip_request_headers"));
    const inject: InjectedHeader[] = [];
    h.actions.inject_request_headers.forEach((x, j) => {
      const key = `.actions.inject_request_headers[${j}]`;
      const lower = foldName(x.name.toLowerCase());
      const source = x.secret_env_var !== null ? `env ${x.secret_env_var}` : `file ${x.secret_file}`;
      const got = readSecret(x);
      let why: [string, string] | null = null;
      if (!TOKEN.test(x.name)) why = [`${key}.name`, `${JSON.stringify(x.name)} is not a header name`];
      else if (RESERVED.has(lower) || lower.startsWith("proxy-")) why = [`${key}.name`, `${x.name} is managed by the proxy and cannot be injected`];
      else if ("error" in got) why = [key, `${x.name}: ${got.error}`];
      else if (got.value === "") why = [key, `${x.name}: the secret (${source}) is empty`];
      // Never echo the value: say only what is wrong with it.
      else if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(x.prefix + got.value)) {
        why = [key, `${x.name}: the value (${source}) contains a control character, so it cannot be a header value`];
      }
      if (why || "error" in got) {
        if (why) err(...why);
        return;
      }
      strip.add(lower);
      inject.push({ name: x.name, lower, value: new Secret(x.prefix + got.value), source });
    });
    for (const n of strip) if (RESERVED.has(n)) err(".actions.strip_request_headers", `${n} is managed by the proxy and cannot be stripped`);
    const hook: CompiledHook = {
      label: `mitm_hooks[${i}] (${host})`,
      host,
      methods: new Set(h.match.methods),
      paths,
      query: Object.entries(h.match.query).map(([k, vs]) => [k.toLowerCase(), vs.map(valueMatcher)] as const),
      headers: headerNames.map((n, j) => [n, Object.values(h.match.headers)[j]!.map(valueMatcher)] as const),
      strip,
      inject,
      upgrade: headerNames.includes("upgrade"),
    };
    table.set(host, [...(table.get(host) ?? []), hook]);
  });
  return { table, problems };
}

/** What a hook judges about one request. Header names are lower-case. */
export interface HookRequest {
  readonly method: string;
  /** The request target as sent (origin form). */
  readonly target: string;
  readonly headers: ReadonlyArray<{ readonly lower: string; readonly value: string }>;
  /** Values of method-override headers: each must be a method the hook allows too. */
  readonly overrides: readonly string[];
}

export type HookVerdict =
  | { readonly kind: "match"; readonly hook: CompiledHook }
  | { readonly kind: "refuse"; readonly reason: "mitm_hook_no_match" | "method_not_allowed"; readonly explain: string };

/** Every named constraint holds: the key is present, and each of its values matches one entry (none listed: any value). */
function constraintsHold(constraints: CompiledHook["query"], pairs: ReadonlyArray<readonly [string, string]>): boolean {
  for (const [name, matchers] of constraints) {
    let seen = false;
    for (const [k, v] of pairs) {
      if (k !== name) continue;
      seen = true;
      if (matchers.length > 0 && !matchers.some((m) => m(v))) return false;
    }
    if (!seen) return false;
  }
  return true;
}

export function matchHooks(host: string, hooks: readonly CompiledHook[], r: HookRequest): HookVerdict {
  // TRACE echoes the request back: with an injected header, that is the secret.
  if (r.method === "TRACE")
    return {
      kind: "refuse",
      reason: "method_not_allowed",
      explain: `TRACE to ${host} is refused: it has mitm_hooks, and TRACE would echo injected headers back`,
    };
  const p = normalizePath(r.target);
  if (!p.ok) return { kind: "refuse", reason: "mitm_hook_no_match", explain: `${host} has mitm_hooks and ${p.why}, so no hook can judge the request` };
  // Query keys in any case: some servers read them without it.
  const query = parseQuery(p.query)?.map(([k, v]) => [k.toLowerCase(), v] as const) ?? null;
  const headers = r.headers.map((h) => [foldName(h.lower), h.value] as const);
  // Headers that make some servers take another path than the request line's: nothing a hook can judge.
  const rewrite = headers.find(([n]) => PATH_OVERRIDES.has(n));
  if (rewrite)
    return {
      kind: "refuse",
      reason: "mitm_hook_no_match",
      explain: `${host} has mitm_hooks, and the ${rewrite[0]} header would make some servers use another path`,
    };
  // Method overrides: the headers, and the `_method` parameter frameworks read from the query.
  const overrides = [...r.overrides, ...(query ?? []).filter(([k]) => k === "_method").map(([, v]) => v)].map((o) => o.trim().toUpperCase());
  for (const hook of hooks) {
    if (!hook.methods.has(r.method) || !overrides.every((o) => hook.methods.has(o))) continue;
    if (!hook.paths.some((m) => m(p.path))) continue;
    if (query === null || !constraintsHold(hook.query, query) || !constraintsHold(hook.headers, headers)) continue;
    return { kind: "match", hook };
  }
  return { kind: "refuse", reason: "mitm_hook_no_match", explain: `no mitm_hooks entry for ${host} allows ${r.method} ${p.path}` };
}
