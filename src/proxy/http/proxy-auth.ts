/**
 * Proxy authentication on the HTTP listener: with `[network_proxy.auth]` set, every request and
 * CONNECT must carry `Proxy-Authorization: Basic base64(username:password)` (the SOCKS5 listener
 * asks for the same pair, RFC 1929). Both halves are compared in constant time.
 */
import type { Credentials } from "../../config/schema.ts";
import { constantTimeEqual } from "../../secret-compare.ts";

export const PROXY_AUTHENTICATE = { "Proxy-Authenticate": 'Basic realm="codex-network-proxy"' };

export function proxyAuthorized(header: string | undefined, creds: Credentials): boolean {
  if (header === undefined) return false;
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, "base64");
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return false;
  // Both comparisons always run, so timing does not tell which one failed.
  const userOk = constantTimeEqual(decoded.subarray(0, colon), Buffer.from(creds.username));
  const passOk = constantTimeEqual(decoded.subarray(colon + 1), Buffer.from(creds.password));
  return userOk && passOk;
}
