/**
 * The effective config as users see it (`check`, `GET /config`): defaults and overrides applied,
 * listener addresses after clamping, CA paths absolute, the runtime mode, secrets redacted.
 */
import { fmtAddr } from "./addr.ts";
import type { Listeners, LoadedConfig } from "./load.ts";
import type { UpstreamProxy } from "../policy/route.ts";
import type { Mode } from "./schema.ts";

export const REDACTED = "[redacted]";

/**
 * `bound`: the addresses the running listeners actually have (a configured port 0 becomes the
 * port the system chose); without it, the configured ones.
 */
export function effectiveView(
  c: LoadedConfig,
  mode: Mode = c.np.mode,
  bound: Listeners = c.listeners,
): { network_proxy: Record<string, unknown>; route: Record<string, unknown> } {
  const np = c.np;
  const secret = (s: string) => (s === "" ? "" : REDACTED);
  return {
    network_proxy: {
      ...np,
      proxy_url: `http://${fmtAddr(bound.http)}`,
      admin_url: `http://${fmtAddr(bound.admin)}`,
      socks_url: bound.socks ? `http://${fmtAddr(bound.socks)}` : np.socks_url,
      mode,
      admin_token: secret(np.admin_token),
      policy: { ...np.policy },
      mitm: { ...np.mitm },
      limits: { ...np.limits },
      auth: { ...np.auth, password: secret(np.auth.password) },
      socks5: { ...np.socks5, password: secret(np.socks5.password) },
      log: { ...np.log },
      upstream: { ...np.upstream, url: redactUrl(np.upstream.url) },
      // Hooks as configured, each injected value shown only as redacted, beside its source.
      mitm_hooks: np.mitm_hooks.map((h) => ({
        ...h,
        actions: {
          ...h.actions,
          inject_request_headers: h.actions.inject_request_headers.map((i) => ({
            name: i.name,
            ...(i.secret_env_var !== null ? { secret_env_var: i.secret_env_var } : { secret_file: i.secret_file }),
            prefix: i.prefix,
            value: REDACTED,
          })),
        },
      })),
    },
    // Where allowed traffic goes: the upstreams in use (from the config or the environment).
    route: {
      plain_http: upstreamView(c.route.http),
      tunnels_and_tls: upstreamView(c.route.tls),
      resolve: c.route.resolve,
      pin_addresses: c.route.pin,
    },
  };
}

function upstreamView(up: UpstreamProxy | null): string {
  if (!up) return "direct";
  return up.auth ? `${up.label} (as ${up.auth.username}, password ${REDACTED})` : up.label;
}

/** A URL with its password (if any) redacted. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/[^:@/]*):[^@/]*@/i, `$1:${REDACTED}@`);
}
