/**
 * The effective config as users see it (`check`, `GET /config`): defaults and overrides applied,
 * listener addresses after clamping, CA paths absolute, the runtime mode, secrets redacted.
 */
import { fmtAddr } from "./addr.ts";
import type { LoadedConfig } from "./load.ts";
import type { Mode } from "./schema.ts";

export const REDACTED = "[redacted]";

export function effectiveView(c: LoadedConfig, mode: Mode = c.np.mode): { network_proxy: Record<string, unknown> } {
  const np = c.np;
  const secret = (s: string) => (s === "" ? "" : REDACTED);
  return {
    network_proxy: {
      ...np,
      proxy_url: `http://${fmtAddr(c.listeners.http)}`,
      admin_url: `http://${fmtAddr(c.listeners.admin)}`,
      socks_url: c.listeners.socks ? `http://${fmtAddr(c.listeners.socks)}` : np.socks_url,
      mode,
      admin_token: secret(np.admin_token),
      policy: { ...np.policy },
      mitm: { ...np.mitm },
      limits: { ...np.limits },
      socks5: { ...np.socks5, password: secret(np.socks5.password) },
    },
  };
}
