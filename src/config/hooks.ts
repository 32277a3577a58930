/**
 * The shape of `[[network_proxy.mitm_hooks]]`: per-host request rules and the headers the proxy
 * strips or injects (see policy/hooks.ts for what they mean). This checks types and keys only,
 * reporting every problem at its dotted key; host names, methods, header names, globs and the
 * secrets themselves are checked when the hooks are compiled.
 *
 *   [[network_proxy.mitm_hooks]]
 *   host = "api.github.com"
 *   match.methods = ["GET", "POST"]
 *   match.path_prefixes = ["/repos/acme/widgets/"]
 *   match.query = { state = ["open"] }
 *   match.headers = { "x-github-api-version" = [] }
 *   actions.strip_request_headers = ["cookie"]
 *   actions.inject_request_headers = [{ name = "authorization", secret_env_var = "GITHUB_TOKEN", prefix = "Bearer " }]
 */
import type { Problem } from "./problem.ts";
import { suggest } from "./suggest.ts";

export interface InjectedHeaderConfig {
  readonly name: string;
  /** Exactly one of these two is set. */
  readonly secret_env_var: string | null;
  readonly secret_file: string | null;
  readonly prefix: string;
}

export interface HookConfig {
  readonly host: string;
  readonly match: {
    readonly methods: readonly string[];
    readonly path_prefixes: readonly string[];
    readonly query: Readonly<Record<string, readonly string[]>>;
    readonly headers: Readonly<Record<string, readonly string[]>>;
  };
  readonly actions: {
    readonly strip_request_headers: readonly string[];
    readonly inject_request_headers: readonly InjectedHeaderConfig[];
  };
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

class Checker {
  constructor(readonly problems: Problem[]) {}

  error(key: string, message: string): void {
    this.problems.push({ severity: "error", key, message });
  }

  /** Unknown keys of `t` are errors, with the nearest known key as a suggestion. */
  keys(t: Table, known: readonly string[], at: string): void {
    for (const k of Object.keys(t)) {
      if (known.includes(k)) continue;
      const near = suggest(k, known);
      this.error(`${at}.${k}`, `unknown key${near ? `; did you mean ${at}.${near}?` : ` (known: ${known.join(", ")})`}`);
    }
  }

  table(v: unknown, at: string, optional: boolean): Table | null {
    if (v === undefined) {
      if (!optional) this.error(at, "missing");
      return optional ? {} : null;
    }
    if (!isTable(v)) {
      this.error(at, "expected a table");
      return null;
    }
    return v;
  }

  string(v: unknown, at: string, required: boolean): string | null {
    if (v === undefined) {
      if (required) this.error(at, "missing");
      return null;
    }
    if (typeof v !== "string") {
      this.error(at, "expected a string");
      return null;
    }
    return v;
  }

  strings(v: unknown, at: string, nonEmpty: boolean): string[] {
    if (v === undefined) {
      if (nonEmpty) this.error(at, "missing (it must list at least one entry)");
      return [];
    }
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      this.error(at, "expected an array of strings");
      return [];
    }
    if (nonEmpty && v.length === 0) this.error(at, "must list at least one entry");
    return [...(v as string[])];
  }

  /** `{ key = ["value", ...] }`: query and header constraints. */
  constraints(v: unknown, at: string): Record<string, string[]> {
    const t = this.table(v, at, true);
    const out: Record<string, string[]> = {};
    if (!t) return out;
    for (const [k, vals] of Object.entries(t)) out[k] = this.strings(vals, `${at}.${JSON.stringify(k)}`, false);
    return out;
  }
}

function checkInject(c: Checker, v: unknown, at: string): InjectedHeaderConfig | null {
  const t = c.table(v, at, false);
  if (!t) return null;
  c.keys(t, ["name", "secret_env_var", "secret_file", "prefix"], at);
  const name = c.string(t["name"], `${at}.name`, true);
  const env = c.string(t["secret_env_var"], `${at}.secret_env_var`, false);
  const file = c.string(t["secret_file"], `${at}.secret_file`, false);
  const prefix = c.string(t["prefix"], `${at}.prefix`, false) ?? "";
  if ((env === null) === (file === null)) {
    c.error(at, "set exactly one of secret_env_var and secret_file");
    return null;
  }
  return name === null ? null : { name, secret_env_var: env, secret_file: file, prefix };
}

function checkHook(c: Checker, v: unknown, at: string): HookConfig | null {
  const t = c.table(v, at, false);
  if (!t) return null;
  c.keys(t, ["host", "match", "actions"], at);
  const host = c.string(t["host"], `${at}.host`, true);
  if (host !== null && host.trim() === "") c.error(`${at}.host`, "must name a host");
  const match = c.table(t["match"], `${at}.match`, false);
  const actions = c.table(t["actions"], `${at}.actions`, true);
  if (!match || !actions) return null;
  c.keys(match, ["methods", "path_prefixes", "query", "headers", "body"], `${at}.match`);
  if (match["body"] !== undefined) c.error(`${at}.match.body`, "matching on the body is not supported; leave it out");
  c.keys(actions, ["strip_request_headers", "inject_request_headers"], `${at}.actions`);
  const methods = c.strings(match["methods"], `${at}.match.methods`, true);
  const paths = c.strings(match["path_prefixes"], `${at}.match.path_prefixes`, true);
  const query = c.constraints(match["query"], `${at}.match.query`);
  const headers = c.constraints(match["headers"], `${at}.match.headers`);
  const strip = c.strings(actions["strip_request_headers"], `${at}.actions.strip_request_headers`, false);
  const rawInject = actions["inject_request_headers"];
  const inject: InjectedHeaderConfig[] = [];
  if (rawInject !== undefined) {
    if (!Array.isArray(rawInject))
      c.error(`${at}.actions.inject_request_headers`, "expected an array of tables ({ name, secret_env_var | secret_file, prefix })");
    else
      rawInject.forEach((x, i) => {
        const h = checkInject(c, x, `${at}.actions.inject_request_headers[${i}]`);
        if (h) inject.push(h);
      });
  }
  if (host === null) return null;
  return {
    host,
    match: { methods, path_prefixes: paths, query, headers },
    actions: { strip_request_headers: strip, inject_request_headers: inject },
  };
}

/** Validate the shape of `mitm_hooks` (an array of tables); problems are pushed at their dotted keys. */
export function checkHooks(v: unknown, at: string, problems: Problem[]): HookConfig[] {
  const c = new Checker(problems);
  if (!Array.isArray(v)) {
    c.error(at, "expected an array of tables ([[network_proxy.mitm_hooks]])");
    return [];
  }
  const out: HookConfig[] = [];
  v.forEach((x, i) => {
    const h = checkHook(c, x, `${at}[${i}]`);
    if (h) out.push(h);
  });
  return out;
}
