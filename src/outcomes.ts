/**
 * Every outcome the proxy reports, in one table: policy blocks (the original's reason codes and
 * `x-proxy-error` values), failures of requests the policy allowed or could not judge, and the
 * admin API's own errors. Each row says how the outcome looks on every wire: the HTTP status and
 * `x-proxy-error` header on the proxy listener, the SOCKS5 reply code, and the status of the
 * admin API's JSON `{"error": ..., "code": ...}`. Codes are literal strings; nothing branches on
 * class names (the minifier renames classes).
 */

/** RFC 1928 section 6 reply codes, named once. */
export const SOCKS_REPLY = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

const S = SOCKS_REPLY;

export type BlockReason =
  | "not_allowed"
  | "not_allowed_local"
  | "denied"
  | "method_not_allowed"
  | "mitm_required"
  | "mitm_hook_no_match"
  | "mitm_hook_plaintext"
  | "ask_queue_full"
  | "own_listener"
  | "sni_mismatch";

export type ErrorCode =
  | "bad_request"
  | "proxy_auth_required"
  | "bad_target"
  | "missing_host"
  | "head_too_large"
  | "uri_too_long"
  | "version_not_supported"
  | "unsupported_transfer_encoding"
  | "head_timeout"
  | "body_timeout"
  | "host_mismatch"
  | "connect_in_tunnel"
  | "too_many_connections"
  | "too_many_tunnels"
  | "dns_failed"
  | "dns_timeout"
  | "dns_overloaded"
  | "upstream_refused"
  | "upstream_unreachable"
  | "upstream_host_unreachable"
  | "upstream_reset"
  | "upstream_closed"
  | "upstream_timeout"
  | "upstream_proxy_unreachable"
  | "upstream_proxy_auth_failed"
  | "upstream_proxy_refused"
  | "upstream_bad_response"
  | "upstream_tls"
  | "unix_sockets_unsupported"
  | "unix_socket_failed"
  | "shutting_down"
  | "client_closed"
  | "closed_by_policy"
  | "internal";

export type AdminCode =
  | "admin_bad_request"
  | "admin_unauthorized"
  | "admin_forbidden"
  | "admin_not_found"
  | "admin_method_not_allowed"
  | "admin_too_large"
  | "admin_internal";

export type OutcomeCode = BlockReason | ErrorCode | AdminCode;

export interface Outcome {
  /** block: the policy refused; error: something failed (never `blocked-by-*`); admin: the admin API's own answers. */
  readonly kind: "block" | "error" | "admin";
  readonly status: number;
  /** `x-proxy-error` on the proxy listener ("" for admin rows, which answer JSON). */
  readonly header: string;
  /** SOCKS5 reply code (admin rows: unused, GENERAL_FAILURE). */
  readonly socks: number;
  /** The default text; for blocks, the original's message word for word (tools match on it). */
  readonly message: string;
  /** When it happens, for people (the README's tables are made from these). */
  readonly when: string;
}

const block = (header: string, message: string, when: string): Outcome => ({ kind: "block", status: 403, header, socks: S.NOT_ALLOWED, message, when });
const error = (status: number, header: string, socks: number, message: string, when: string): Outcome => ({
  kind: "error",
  status,
  header,
  socks,
  message,
  when,
});
const admin = (status: number, message: string, when: string): Outcome => ({ kind: "admin", status, header: "", socks: S.GENERAL_FAILURE, message, when });

export const OUTCOMES: Readonly<Record<OutcomeCode, Outcome>> = {
  not_allowed: block("blocked-by-allowlist", "Codex blocked this request: domain not in allowlist.", "no allowlist entry matches (or the allowlist is empty)"),
  not_allowed_local: block(
    "blocked-by-allowlist",
    "Codex blocked this request: local/private addresses not allowed.",
    "a local/private target, or a name resolving to one",
  ),
  denied: block("blocked-by-denylist", "Codex blocked this request: domain denied by policy.", "a denylist entry matches the target or a resolved address"),
  method_not_allowed: block(
    "blocked-by-method-policy",
    "Codex blocked this request: method not allowed in limited mode.",
    "limited mode: not GET/HEAD/OPTIONS, or an upgrade, a method override, a body; SOCKS5",
  ),
  mitm_required: block("blocked-by-mitm-required", "Codex blocked this request: MITM required for limited HTTPS.", "limited mode: HTTPS CONNECT without MITM"),
  mitm_hook_no_match: block(
    "blocked-by-mitm-hook",
    "Codex blocked this request: no MITM hook allows it.",
    "the host has `mitm_hooks` and none matches the request (method, path, query, headers), or its path is ambiguous",
  ),
  mitm_hook_plaintext: block(
    "blocked-by-mitm-hook",
    "Codex blocked this request: credentials are injected only over TLS.",
    "a plain-HTTP request matched a hook that injects a credential (see `dangerously_allow_plaintext_credential_injection`)",
  ),
  ask_queue_full: block(
    "blocked-by-allowlist",
    "Codex blocked this request: too many requests are waiting for approval.",
    '`policy.on_unlisted = "ask"` and `policy.ask_max_pending` targets are held already',
  ),
  own_listener: block("blocked-by-policy", "Codex blocked this request by network policy.", "the target is one of the proxy's own listeners"),
  sni_mismatch: block(
    "blocked-by-policy",
    "Codex blocked this request by network policy.",
    "inside an intercepted tunnel: the TLS server name differs from the CONNECT target (the tunnel is closed)",
  ),

  bad_request: error(400, "bad-request", S.GENERAL_FAILURE, "malformed request", "malformed request"),
  proxy_auth_required: error(
    407,
    "proxy-auth-required",
    S.GENERAL_FAILURE,
    "proxy authentication required",
    "`[network_proxy.auth]` is set and the request carried no `Proxy-Authorization: Basic` with those credentials (SOCKS5: the RFC 1929 step fails and the connection is closed)",
  ),
  bad_target: error(400, "bad-target", S.HOST_UNREACHABLE, "invalid target", "a target that fails canonicalization"),
  missing_host: error(400, "bad-request", S.GENERAL_FAILURE, "missing host", "an origin-form request without a Host header"),
  head_too_large: error(
    431,
    "head-too-large",
    S.GENERAL_FAILURE,
    "request head too large",
    "a head over `limits.max_head_bytes`, or more than `limits.max_headers` lines",
  ),
  uri_too_long: error(414, "uri-too-long", S.GENERAL_FAILURE, "request-target too long", "a request line over `limits.max_head_bytes`"),
  version_not_supported: error(505, "bad-request", S.GENERAL_FAILURE, "only HTTP/1.0 and HTTP/1.1 are supported", "HTTP version other than 1.0/1.1"),
  unsupported_transfer_encoding: error(
    501,
    "bad-request",
    S.GENERAL_FAILURE,
    "only Transfer-Encoding: chunked is supported",
    "a `Transfer-Encoding` other than `chunked`",
  ),
  head_timeout: error(408, "head-timeout", S.TTL_EXPIRED, "request head not received in time", "no complete request head within `limits.head_timeout_ms`"),
  body_timeout: error(
    408,
    "body-timeout",
    S.TTL_EXPIRED,
    "request body not received in time",
    "a request body that stopped arriving for `limits.idle_timeout_ms`",
  ),
  host_mismatch: error(400, "host-mismatch", S.GENERAL_FAILURE, "host mismatch", "inside an intercepted tunnel: a `Host` or URL naming another target"),
  connect_in_tunnel: error(405, "bad-request", S.GENERAL_FAILURE, "CONNECT not supported inside MITM", "a CONNECT inside an intercepted tunnel"),
  too_many_connections: error(503, "too-many-connections", S.GENERAL_FAILURE, "too many concurrent connections", "`limits.max_connections` reached"),
  too_many_tunnels: error(503, "too-many-tunnels", S.GENERAL_FAILURE, "too many concurrent tunnels", "`limits.max_tunnels` reached"),
  dns_failed: error(502, "dns-failed", S.HOST_UNREACHABLE, "DNS resolution failed", "an allowed name did not resolve (fails closed)"),
  dns_timeout: error(
    504,
    "dns-timeout",
    S.TTL_EXPIRED,
    "DNS resolution timed out",
    "an allowed name did not resolve within `limits.dns_timeout_ms` (fails closed)",
  ),
  dns_overloaded: error(
    503,
    "dns-overloaded",
    S.GENERAL_FAILURE,
    "too many names are being resolved",
    "`limits.max_dns_lookups` names are being resolved already (fails closed, at once)",
  ),
  upstream_proxy_unreachable: error(
    502,
    "upstream-proxy-unreachable",
    S.GENERAL_FAILURE,
    "the upstream proxy cannot be reached",
    "the upstream proxy (`[network_proxy.upstream]` or the environment's) refused or did not answer the connection",
  ),
  upstream_proxy_auth_failed: error(
    502,
    "upstream-proxy-auth-failed",
    S.GENERAL_FAILURE,
    "the upstream proxy refused our credentials",
    "the upstream proxy answered 407, or refused the SOCKS5 username and password",
  ),
  upstream_proxy_refused: error(
    502,
    "upstream-proxy-refused",
    S.NOT_ALLOWED,
    "the upstream proxy refused the request",
    "the upstream proxy refused the CONNECT (403 or another status, in the body) or the SOCKS5 request",
  ),
  upstream_refused: error(502, "upstream-refused", S.CONNECTION_REFUSED, "upstream refused the connection", "the upstream refused the connection"),
  upstream_unreachable: error(502, "upstream-unreachable", S.NETWORK_UNREACHABLE, "upstream network unreachable", "no route to the upstream's network"),
  upstream_host_unreachable: error(502, "upstream-unreachable", S.HOST_UNREACHABLE, "upstream host unreachable", "no route to the upstream host"),
  upstream_reset: error(
    502,
    "upstream-reset",
    S.GENERAL_FAILURE,
    "upstream reset the connection",
    "the upstream reset the connection (a response cut short is a reset of the client connection, never a truncated body passed off as complete)",
  ),
  upstream_closed: error(
    502,
    "upstream-closed",
    S.GENERAL_FAILURE,
    "upstream closed the connection without a response",
    "the upstream closed without a response",
  ),
  upstream_timeout: error(
    504,
    "upstream-timeout",
    S.TTL_EXPIRED,
    "upstream timed out",
    "connect (`limits.connect_timeout_ms`, all addresses together) or first response byte (`limits.response_timeout_ms`) too slow; a response that stalls that long after it started is cut off",
  ),
  upstream_bad_response: error(502, "upstream-bad-response", S.GENERAL_FAILURE, "upstream sent a malformed response", "the upstream's response was malformed"),
  upstream_tls: error(502, "upstream-tls", S.GENERAL_FAILURE, "upstream TLS failure", "upstream TLS failed verification or the handshake (MITM)"),
  unix_sockets_unsupported: error(
    501,
    "unix-sockets-unsupported",
    S.GENERAL_FAILURE,
    "unix sockets unsupported",
    "`x-unix-socket` on a platform other than macOS",
  ),
  unix_socket_failed: error(502, "unix-socket-failed", S.GENERAL_FAILURE, "unix socket proxy failed", "connecting to the unix socket failed"),
  shutting_down: error(503, "shutting-down", S.GENERAL_FAILURE, "proxy is shutting down", "the proxy stopped and its grace period ended before the answer"),
  client_closed: error(
    499,
    "client-closed",
    S.GENERAL_FAILURE,
    "the client went away before the answer (logged, never sent)",
    "not sent: the client went away first (decision lines and metrics)",
  ),
  closed_by_policy: error(
    403,
    "closed-by-policy",
    S.NOT_ALLOWED,
    "closed: the mode or the policy no longer allows it",
    "not sent: an open tunnel or exchange was closed because the mode or a reload no longer allows it (decision lines and metrics)",
  ),
  internal: error(500, "internal-error", S.GENERAL_FAILURE, "internal proxy error", "a bug; the log has the details"),

  admin_bad_request: admin(400, "bad request", "a body or query the endpoint cannot use"),
  admin_unauthorized: admin(401, "missing or wrong bearer token", "a mutating call or `/events` without the right bearer token (or dashboard session)"),
  admin_forbidden: admin(403, "forbidden", "a foreign `Host` (DNS rebinding) or a cross-site request"),
  admin_not_found: admin(404, "not found", "no such endpoint, pending request or runtime rule"),
  admin_method_not_allowed: admin(405, "method not allowed", "the wrong method for the endpoint"),
  admin_too_large: admin(413, "body too large", "a body over 8 KiB"),
  admin_internal: admin(500, "internal error", "a bug; the log has the details"),
};

/** Why something was blocked, and what the operator could change (null when nothing reasonable). */
export interface BlockInfo {
  readonly reason: BlockReason;
  readonly explain: string;
  readonly hint: string | null;
}

export class ProxyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = OUTCOMES[code].message,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isProxyError(e: unknown): e is ProxyError {
  return e instanceof ProxyError;
}

/**
 * Map a socket error from Bun.connect / a live socket to our code. Bun reports Node-style
 * `code` fields (ECONNREFUSED, ...).
 */
export function upstreamErrorCode(e: unknown): ErrorCode {
  const code = (e as { code?: string } | null)?.code ?? "";
  switch (code) {
    case "ECONNREFUSED":
      return "upstream_refused";
    case "ENETUNREACH":
    case "EADDRNOTAVAIL":
    case "EAFNOSUPPORT":
      return "upstream_unreachable";
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
      return "upstream_host_unreachable";
    case "ECONNRESET":
    case "EPIPE":
      return "upstream_reset";
    case "ETIMEDOUT":
      return "upstream_timeout";
    default:
      return /certificate|tls|ssl|handshake/i.test(String((e as Error)?.message)) ? "upstream_tls" : "upstream_unreachable";
  }
}
