/**
 * Block reasons: the seed's reason codes and `x-proxy-error` values, and the one table that maps
 * each to its HTTP status, header, text message and SOCKS5 reply. The texts are the original's,
 * word for word, because tools and agents already match on them.
 */

export type BlockReason =
  | "not_allowed"
  | "not_allowed_local"
  | "denied"
  | "method_not_allowed"
  | "mitm_required"
  | "own_listener"
  | "sni_mismatch"
  | "proxy_disabled";

export type ProxyErrorHeader =
  | "blocked-by-allowlist"
  | "blocked-by-denylist"
  | "blocked-by-method-policy"
  | "blocked-by-mitm-required"
  | "blocked-by-policy";

export interface ReasonWire {
  readonly status: number;
  readonly header: ProxyErrorHeader;
  readonly message: string;
  /** RFC 1928 reply code: 0x02 "connection not allowed by ruleset". */
  readonly socksReply: number;
}

const SOCKS_NOT_ALLOWED = 0x02;

export const REASONS: Readonly<Record<BlockReason, ReasonWire>> = {
  not_allowed: { status: 403, header: "blocked-by-allowlist", message: "Codex blocked this request: domain not in allowlist.", socksReply: SOCKS_NOT_ALLOWED },
  not_allowed_local: {
    status: 403,
    header: "blocked-by-allowlist",
    message: "Codex blocked this request: local/private addresses not allowed.",
    socksReply: SOCKS_NOT_ALLOWED,
  },
  denied: { status: 403, header: "blocked-by-denylist", message: "Codex blocked this request: domain denied by policy.", socksReply: SOCKS_NOT_ALLOWED },
  method_not_allowed: {
    status: 403,
    header: "blocked-by-method-policy",
    message: "Codex blocked this request: method not allowed in limited mode.",
    socksReply: SOCKS_NOT_ALLOWED,
  },
  mitm_required: {
    status: 403,
    header: "blocked-by-mitm-required",
    message: "Codex blocked this request: MITM required for limited HTTPS.",
    socksReply: SOCKS_NOT_ALLOWED,
  },
  own_listener: { status: 403, header: "blocked-by-policy", message: "Codex blocked this request by network policy.", socksReply: SOCKS_NOT_ALLOWED },
  sni_mismatch: { status: 403, header: "blocked-by-policy", message: "Codex blocked this request by network policy.", socksReply: SOCKS_NOT_ALLOWED },
  proxy_disabled: { status: 503, header: "blocked-by-policy", message: "proxy disabled", socksReply: SOCKS_NOT_ALLOWED },
};

/** Why something was blocked, and what the operator could change (null when nothing reasonable). */
export interface BlockInfo {
  readonly reason: BlockReason;
  readonly explain: string;
  readonly hint: string | null;
}

/**
 * Hints for blocks that are not about the target. They address the proxy's operator: an agent
 * reading them learns what the policy is, not a way around it.
 */
export const MODE_HINTS: Partial<Record<BlockReason, string>> = {
  method_not_allowed: 'limited (read-only) mode allows only GET, HEAD and OPTIONS; the proxy\'s operator decides whether to set mode = "full"',
  mitm_required: "limited mode inspects HTTPS; the proxy's operator can enable [network_proxy.mitm] (and clients must trust its CA)",
};

export function modeBlock(reason: "method_not_allowed" | "mitm_required", explain: string): BlockInfo {
  return { reason, explain, hint: MODE_HINTS[reason] ?? null };
}
