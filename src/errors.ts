/**
 * One catalogue of everything that can go wrong that is not a policy block (blocks live in
 * policy/reasons.ts), mapped to each wire: HTTP status + `x-proxy-error`, SOCKS5 reply code, and
 * the admin API's JSON. Errors carry a literal `code`; nothing branches on class names (the
 * minifier renames classes).
 */

export type ErrorCode =
  | "bad_request"
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
  | "upstream_bad_response"
  | "upstream_tls"
  | "unix_sockets_unsupported"
  | "unix_socket_failed"
  | "shutting_down"
  | "internal";

export interface ErrorWire {
  readonly status: number;
  /** `x-proxy-error` value; policy blocks use `blocked-by-*`, these never do. */
  readonly header: string;
  /** SOCKS5 reply code (RFC 1928 section 6). */
  readonly socks: number;
  /** Default text, completed by the specific cause where one is known. */
  readonly message: string;
}

const SOCKS_GENERAL = 0x01;
const SOCKS_NETWORK_UNREACHABLE = 0x03;
const SOCKS_HOST_UNREACHABLE = 0x04;
const SOCKS_REFUSED = 0x05;
const SOCKS_TTL_EXPIRED = 0x06;

export const ERRORS: Readonly<Record<ErrorCode, ErrorWire>> = {
  bad_request: { status: 400, header: "bad-request", socks: SOCKS_GENERAL, message: "malformed request" },
  bad_target: { status: 400, header: "bad-target", socks: SOCKS_HOST_UNREACHABLE, message: "invalid target" },
  missing_host: { status: 400, header: "bad-request", socks: SOCKS_GENERAL, message: "missing host" },
  head_too_large: { status: 431, header: "head-too-large", socks: SOCKS_GENERAL, message: "request head too large" },
  uri_too_long: { status: 414, header: "uri-too-long", socks: SOCKS_GENERAL, message: "request-target too long" },
  version_not_supported: { status: 505, header: "bad-request", socks: SOCKS_GENERAL, message: "only HTTP/1.0 and HTTP/1.1 are supported" },
  unsupported_transfer_encoding: { status: 501, header: "bad-request", socks: SOCKS_GENERAL, message: "only Transfer-Encoding: chunked is supported" },
  head_timeout: { status: 408, header: "head-timeout", socks: SOCKS_TTL_EXPIRED, message: "request head not received in time" },
  body_timeout: { status: 408, header: "body-timeout", socks: SOCKS_TTL_EXPIRED, message: "request body not received in time" },
  host_mismatch: { status: 400, header: "host-mismatch", socks: SOCKS_GENERAL, message: "host mismatch" },
  connect_in_tunnel: { status: 405, header: "bad-request", socks: SOCKS_GENERAL, message: "CONNECT not supported inside MITM" },
  too_many_connections: { status: 503, header: "too-many-connections", socks: SOCKS_GENERAL, message: "too many concurrent connections" },
  too_many_tunnels: { status: 503, header: "too-many-tunnels", socks: SOCKS_GENERAL, message: "too many concurrent tunnels" },
  dns_failed: { status: 502, header: "dns-failed", socks: SOCKS_HOST_UNREACHABLE, message: "DNS resolution failed" },
  dns_timeout: { status: 504, header: "dns-timeout", socks: SOCKS_TTL_EXPIRED, message: "DNS resolution timed out" },
  dns_overloaded: { status: 503, header: "dns-overloaded", socks: SOCKS_GENERAL, message: "too many names are being resolved" },
  upstream_refused: { status: 502, header: "upstream-refused", socks: SOCKS_REFUSED, message: "upstream refused the connection" },
  upstream_unreachable: { status: 502, header: "upstream-unreachable", socks: SOCKS_NETWORK_UNREACHABLE, message: "upstream network unreachable" },
  upstream_host_unreachable: { status: 502, header: "upstream-unreachable", socks: SOCKS_HOST_UNREACHABLE, message: "upstream host unreachable" },
  upstream_reset: { status: 502, header: "upstream-reset", socks: SOCKS_GENERAL, message: "upstream reset the connection" },
  upstream_closed: { status: 502, header: "upstream-closed", socks: SOCKS_GENERAL, message: "upstream closed the connection without a response" },
  upstream_timeout: { status: 504, header: "upstream-timeout", socks: SOCKS_TTL_EXPIRED, message: "upstream timed out" },
  upstream_bad_response: { status: 502, header: "upstream-bad-response", socks: SOCKS_GENERAL, message: "upstream sent a malformed response" },
  upstream_tls: { status: 502, header: "upstream-tls", socks: SOCKS_GENERAL, message: "upstream TLS failure" },
  unix_sockets_unsupported: { status: 501, header: "unix-sockets-unsupported", socks: SOCKS_GENERAL, message: "unix sockets unsupported" },
  unix_socket_failed: { status: 502, header: "unix-socket-failed", socks: SOCKS_GENERAL, message: "unix socket proxy failed" },
  shutting_down: { status: 503, header: "shutting-down", socks: SOCKS_GENERAL, message: "proxy is shutting down" },
  internal: { status: 500, header: "internal-error", socks: SOCKS_GENERAL, message: "internal proxy error" },
};

export class ProxyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
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
