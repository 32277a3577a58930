/**
 * An in-process proxy on port 0 for integration tests, with its log captured.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { loadConfigSliced } from "../../src/config/load-async.ts";
import { Logger } from "../../src/log.ts";
import type { Resolver } from "../../src/policy/decide.ts";
import { systemResolver } from "../../src/runtime/resolver.ts";
import { ProxyState } from "../../src/runtime/state.ts";
import { ProxyServer } from "../../src/server.ts";

export class TestProxy implements AsyncDisposable {
  constructor(
    readonly server: ProxyServer,
    readonly logLines: string[],
  ) {}
  get state(): ProxyState {
    return this.server.state;
  }
  get port(): number {
    return this.server.address("HTTP proxy").port;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get socksPort(): number {
    return this.server.address("SOCKS5 proxy").port;
  }
  get adminPort(): number {
    return this.server.address("admin API").port;
  }
  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }
  get token(): string | null {
    return this.server.adminToken();
  }
  get configPath(): string {
    return this.state.config.source.path;
  }
  /** fetch an admin endpoint; POSTs carry the token unless `auth: false`. */
  admin(path: string, init: RequestInit & { auth?: boolean } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (init.auth !== false && this.token && !headers.has("authorization")) headers.set("authorization", `Bearer ${this.token}`);
    return fetch(this.adminUrl + path, { ...init, headers });
  }
  get log(): string {
    return this.logLines.join("");
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.stop(0);
  }
}

export interface ProxyOptions {
  resolver?: Resolver;
  /** Written to a config.toml in a fresh directory, which the proxy reloads from (and watches with `watch`). */
  configText?: string | null;
  watch?: boolean;
  /** The proxy's environment, as the config sees it (hook secrets); CODEX_HOME is set apart. */
  env?: Record<string, string>;
  /** Files written beside config.toml before it is loaded (hook secret files). */
  files?: Record<string, string>;
  /** Runs after config.toml is written and before it is read (with its path). */
  beforeLoad?: (configPath: string) => void;
  /** Runs after the config is read and before the proxy starts (with config.toml's path). */
  afterLoad?: (configPath: string) => void;
}

/** `overrides` are `-c` style (`network_proxy.mode=limited`). Listeners bind 127.0.0.1:0. */
export async function startProxy(overrides: string[] = [], opts: ProxyOptions = {}): Promise<TestProxy> {
  const all = ['network_proxy.proxy_url="127.0.0.1:0"', 'network_proxy.socks_url="127.0.0.1:0"', 'network_proxy.admin_url="127.0.0.1:0"', ...overrides];
  const dir = mkdtempSync(join(tmpdir(), "cnp-test-"));
  const path = join(dir, "config.toml");
  if (opts.configText != null) writeFileSync(path, opts.configText);
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text, { mode: 0o600 });
  // The default location (CODEX_HOME), which unlike --config may be missing: no file, defaults.
  opts.beforeLoad?.(path);
  const loadOpts = { overrides: all, env: { ...opts.env, CODEX_HOME: dir } };
  const r = loadConfig(loadOpts);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  opts.afterLoad?.(path);
  const lines: string[] = [];
  const log = new Logger("debug", "text", { write: (l) => lines.push(l) });
  // Reloads as the CLI does them: in slices (load-async.ts).
  const state = new ProxyState(r.config, log, opts.resolver ?? systemResolver, () => loadConfigSliced(loadOpts));
  const server = new ProxyServer(state, log);
  await server.start({ watch: opts.watch ?? false });
  return new TestProxy(server, lines);
}

/** Allow the loopback origins tests talk to (explicit literals unlock local targets). */
export const ALLOW_LOOPBACK = 'network_proxy.policy.allowed_domains=["127.0.0.1", "localhost", "[::1]"]';
