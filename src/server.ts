/**
 * The running proxy: starts every listener the config asks for, tells the policy their bound
 * addresses (so it can refuse to loop into them), ticks time-outs, and stops gracefully.
 */
import { handleAdmin, startAdmin } from "./admin/server.ts";
import { fmtAddr } from "./config/addr.ts";
import { fileStamp, unchanged } from "./config/stamp.ts";
import { loadOrCreateToken, newToken, tokenPath } from "./admin/token.ts";
import type { Logger } from "./log.ts";
import { selfAddrs } from "./policy/decide.ts";
import { loadMitmLayer } from "./mitm/load.ts";
import { ProxyContext } from "./proxy/context.ts";
import type { Conn } from "./proxy/conn.ts";
import { plainIngress } from "./proxy/http/ingress.ts";
import { HttpSession } from "./proxy/http/session.ts";
import { errorReply } from "./proxy/http/reply.ts";
import { startListener, type ListenerSpec } from "./proxy/listener.ts";
import { inNetworkNamespace } from "./isolate/netns.ts";
import { Socks5Session } from "./proxy/socks5/session.ts";
import type { ProxyState } from "./runtime/state.ts";
import { watchConfig } from "./runtime/watch.ts";
import type { Service } from "./service.ts";

export class ProxyServer {
  readonly services: Service[] = [];
  readonly ctx: ProxyContext;
  #sweeper: ReturnType<typeof setInterval> | null = null;
  #watcher: { close(): void } | null = null;
  #stopped = false;
  #fileToken: string | null = null;
  #specs: { http: ListenerSpec; socks: ListenerSpec | null } | null = null;
  /** Listeners that are not addresses of this proxy (inside a command's namespace). */
  readonly #extra: Service[] = [];
  #memoryToken: string | null = null;

  constructor(
    readonly state: ProxyState,
    readonly log: Logger,
  ) {
    this.ctx = new ProxyContext(state, log);
    state.onModeChange.push((mode) => {
      if (mode === "limited") this.ctx.onLimited();
    });
    state.onPolicyChange.push(() => this.ctx.onPolicyChanged());
    // A reload that enables MITM or changes the CA loads it first; a broken CA fails the reload.
    state.prepare.push(async (next) => {
      if (!next.np.mitm.enabled) return undefined;
      const { loadMitmMaterial, materialChanges, MitmLayer } = await loadMitmLayer();
      const material = await loadMitmMaterial(next);
      const before = this.ctx.mitm instanceof MitmLayer ? this.ctx.mitm.material : null;
      if (this.ctx.mitm instanceof MitmLayer) this.ctx.mitm.update(material, next);
      else this.ctx.mitm = new MitmLayer(this.ctx, material, next);
      return materialChanges(before, material);
    });
  }

  /** Bound address of a service by name ("HTTP proxy", "SOCKS5 proxy", "admin API"). */
  address(name: string): { host: string; port: number } {
    const s = this.services.find((x) => x.name === name);
    if (!s) throw new Error(`${name} is not running`);
    return s.address;
  }

  /**
   * Start the listeners. `watch` also watches the config file (watchConfig). `forCommand`
   * (used by `run`: a private proxy for one command) gives the admin API a random token that
   * exists only in this process, so the command cannot find it in a file and switch the mode or
   * reload the policy, and lets the command read /health, /blocked and /metrics through the
   * proxy (http/admin-view.ts).
   */
  async start(opts: { watch?: boolean; forCommand?: boolean } = {}): Promise<void> {
    const { listeners, np, source } = this.state.config;
    if (np.mitm.enabled) {
      // The MITM code (X.509 and ASN.1 libraries) is loaded only when a config enables MITM,
      // before the CA is read: a broken CA still fails the start before any listener exists.
      const { loadMitmMaterial, MitmLayer } = await loadMitmLayer();
      this.ctx.mitm = new MitmLayer(this.ctx, await loadMitmMaterial(this.state.config), this.state.config);
      this.log.info("MITM ready", { ca: np.mitm.ca_cert_path });
    }
    if (opts.forCommand) this.#memoryToken = newToken();
    else if (!np.dangerously_disable_admin_auth && np.admin_token === "") {
      const path = tokenPath(source.dir);
      const { token, created } = loadOrCreateToken(path);
      this.#fileToken = token;
      this.log.info(created ? "created the admin API token" : "using the admin API token", { path });
    }
    const httpSpec = {
      name: "HTTP proxy",
      metricLabel: "http",
      accept: (ctx: ProxyContext, conn: Conn, peer: string) => new HttpSession(ctx, conn, peer, plainIngress),
      overCapReply: errorReply("too_many_connections", "", true),
    };
    const socksSpec = {
      name: "SOCKS5 proxy",
      metricLabel: "socks5",
      accept: (ctx: ProxyContext, conn: Conn, peer: string) => new Socks5Session(ctx, conn, peer),
      overCapReply: null,
    };
    this.#specs = { http: httpSpec, socks: listeners.socks ? socksSpec : null };
    this.services.push(startListener(this.ctx, listeners.http, httpSpec));
    if (listeners.socks) {
      this.services.push(startListener(this.ctx, listeners.socks, socksSpec));
      if (this.state.mode === "limited") this.log.warn('SOCKS5 is blocked in limited mode (it cannot show a method); set mode = "full" to allow SOCKS5');
    }
    const adminOpts = { token: () => this.adminToken(), tokenWhere: () => this.#tokenWhere() };
    const admin = startAdmin(this.state, this.log, listeners.admin, adminOpts);
    this.services.push(admin);
    if (opts.forCommand) {
      const addr = admin.address;
      const host = fmtAddr(addr);
      this.ctx.adminView = { addr, fetch: (path) => handleAdmin(new Request(`http://${host}${path}`, { headers: { host } }), this.state, addr, adminOpts) };
    }
    this.state.self = selfAddrs(this.services.map((s) => s.address));
    this.state.bound = {
      http: this.address("HTTP proxy"),
      socks: listeners.socks ? this.address("SOCKS5 proxy") : null,
      admin: this.address("admin API"),
    };
    this.#startSweeper();
    if (opts.watch) this.watchConfig();
  }

  /**
   * Reload the config whenever its file changes from now on, and at once if the file already
   * differs from the one in force: it can change after it was read and before the watch
   * exists (while the proxy starts, which `serve` finishes before it watches).
   */
  watchConfig(): void {
    if (this.#stopped) return;
    const { path, stamp } = this.state.config.source;
    this.#watcher?.close();
    this.#watcher = watchConfig(path, () => void this.state.reload(), this.log);
    if (unchanged(stamp, fileStamp(path))) return;
    this.log.info("the config file may have changed after it was read; reloading", { path });
    void this.state.reload();
  }

  /**
   * `run --isolate`: listen, on the same ports, on the loopback of the command's own network
   * namespace (entered for the moment it takes), so that the command reaches the proxy there
   * and nothing else. Records name its connections "isolated".
   */
  listenInside(pid: number): void {
    const specs = this.#specs!;
    const inside = inNetworkNamespace(pid, () => [
      startListener(this.ctx, { host: "127.0.0.1", port: this.address("HTTP proxy").port }, { ...specs.http, name: "HTTP proxy (isolated)", peer: "isolated" }),
      ...(specs.socks
        ? [
            startListener(
              this.ctx,
              { host: "127.0.0.1", port: this.address("SOCKS5 proxy").port },
              { ...specs.socks, name: "SOCKS5 proxy (isolated)", peer: "isolated" },
            ),
          ]
        : []),
    ]);
    // Not our addresses to refuse (they are the command's loopback), but ours to stop.
    this.#extra.push(...inside);
  }

  /**
   * The token the admin API's POSTs require, or null only when auth is explicitly disabled. It
   * follows reloads: a config that drops admin_token gets the token file (created if needed);
   * if even that fails, a random token nobody knows, so auth fails closed, never open.
   */
  adminToken(): string | null {
    if (this.#memoryToken !== null) return this.#memoryToken;
    const c = this.state.config;
    if (c.np.dangerously_disable_admin_auth) return null;
    if (c.np.admin_token !== "") return c.np.admin_token;
    return this.#fileToken ?? this.#loadFileToken(c.source.dir);
  }

  /** Where the admin token is, for the 401 answer. */
  #tokenWhere(): string {
    const c = this.state.config;
    if (this.#memoryToken !== null) return "exists only in the memory of this proxy, which `run` started: nothing else can change it";
    if (c.np.admin_token !== "") {
      const byFlag = c.source.overrides.some((o) => /^\s*network_proxy\.admin_token\s*=/.test(o));
      return `set by network_proxy.admin_token (${byFlag ? "a -c override" : `in ${c.source.path}`})`;
    }
    return `in the file ${tokenPath(c.source.dir)}`;
  }

  #loadFileToken(dir: string): string {
    const path = tokenPath(dir);
    try {
      const { token, created } = loadOrCreateToken(path);
      this.log.info(created ? "created the admin API token" : "using the admin API token", { path });
      this.#fileToken = token;
    } catch (e) {
      this.log.error("no admin API token; POST endpoints are refused", { error: (e as Error).message });
      this.#fileToken = newToken();
    }
    return this.#fileToken;
  }

  #startSweeper(): void {
    const l = this.state.config.np.limits;
    const every = Math.max(25, Math.min(1000, Math.floor(Math.min(l.head_timeout_ms, l.idle_timeout_ms, l.response_timeout_ms, l.tunnel_idle_timeout_ms) / 4)));
    this.#sweeper = setInterval(() => this.ctx.sweep(every), every);
    this.#sweeper.unref();
  }

  async stop(graceMs = this.state.config.np.limits.shutdown_grace_ms): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = null;
    // Held requests get their refusal now, and event streams end, rather than holding up the stop.
    this.state.approvals.close();
    this.state.events.closeAll();
    await Promise.all([...this.services, ...this.#extra].map((s) => s.stop(graceMs)));
    this.services.length = 0;
    this.#extra.length = 0;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }
}
