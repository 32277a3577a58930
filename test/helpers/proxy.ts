/**
 * An in-process proxy on port 0 for integration tests, with its log captured.
 */
import { buildConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import type { Resolver } from "../../src/policy/decide.ts";
import { systemResolver } from "../../src/policy/resolve.ts";
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
  get log(): string {
    return this.logLines.join("");
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.stop(0);
  }
}

export interface ProxyOptions {
  resolver?: Resolver;
  configText?: string | null;
}

/** `overrides` are `-c` style (`network_proxy.mode=limited`). Listeners bind 127.0.0.1:0. */
export async function startProxy(overrides: string[] = [], opts: ProxyOptions = {}): Promise<TestProxy> {
  const all = [
    'network_proxy.proxy_url="127.0.0.1:0"',
    'network_proxy.socks_url="127.0.0.1:0"',
    'network_proxy.admin_url="127.0.0.1:0"',
    ...overrides,
  ];
  const source = { path: "/nonexistent/config.toml", exists: opts.configText != null, dir: "/nonexistent", overrides: all };
  const r = buildConfig(opts.configText ?? null, source);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  const lines: string[] = [];
  const log = new Logger("debug", "text", { write: (l) => lines.push(l) });
  const state = new ProxyState(r.config, log, opts.resolver ?? systemResolver, () => buildConfig(opts.configText ?? null, source));
  const server = new ProxyServer(state, log);
  await server.start();
  return new TestProxy(server, lines);
}

/** Allow the loopback origins tests talk to (explicit literals unlock local targets). */
export const ALLOW_LOOPBACK = 'network_proxy.policy.allowed_domains=["127.0.0.1", "localhost", "[::1]"]';
