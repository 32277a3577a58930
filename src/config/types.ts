/**
 * The typed shape of the validated `[network_proxy]` table (schema.ts has the keys, defaults and
 * meanings these types describe).
 */
import type { HookConfig } from "./hooks.ts";

export type Mode = "full" | "limited";
export const MODES: readonly Mode[] = ["full", "limited"];

export interface PolicyConfig {
  readonly allowed_domains: readonly string[];
  readonly denied_domains: readonly string[];
  readonly allow_unix_sockets: readonly string[];
  readonly allow_local_binding: boolean;
  readonly on_unlisted: "deny" | "ask";
  readonly ask_timeout_ms: number;
  readonly ask_max_pending: number;
}

export interface MitmConfig {
  readonly enabled: boolean;
  readonly inspect: boolean;
  readonly max_body_bytes: number;
  readonly ca_cert_path: string;
  readonly ca_key_path: string;
  readonly upstream_ca_file: string;
  readonly leaf_cache_size: number;
  readonly leaf_validity_days: number;
  readonly log_query: boolean;
}

export interface LimitsConfig {
  readonly max_head_bytes: number;
  readonly max_headers: number;
  readonly head_timeout_ms: number;
  readonly connect_timeout_ms: number;
  readonly dns_timeout_ms: number;
  readonly max_dns_lookups: number;
  readonly response_timeout_ms: number;
  readonly idle_timeout_ms: number;
  readonly tunnel_idle_timeout_ms: number;
  readonly max_connections: number;
  readonly max_tunnels: number;
  readonly max_buffered_bytes: number;
  readonly shutdown_grace_ms: number;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface NetworkProxyConfig {
  readonly enabled: boolean;
  readonly proxy_url: string;
  readonly admin_url: string;
  readonly socks_url: string;
  readonly enable_socks5: boolean;
  readonly mode: Mode;
  readonly dangerously_allow_non_loopback: boolean;
  readonly dangerously_allow_non_loopback_admin: boolean;
  readonly admin_token: string;
  readonly dangerously_disable_admin_auth: boolean;
  readonly max_blocked_events: number;
  readonly mitm_hooks: readonly HookConfig[];
  readonly dangerously_allow_plaintext_credential_injection: boolean;
  readonly policy: PolicyConfig;
  readonly mitm: MitmConfig;
  readonly limits: LimitsConfig;
  readonly log: LogConfig;
  readonly allow_upstream_proxy: boolean;
  readonly upstream: UpstreamConfig;
  readonly auth: Credentials;
  readonly socks5: Credentials;
}

export interface LogConfig {
  readonly access: boolean;
}

export interface UpstreamConfig {
  readonly url: string;
  readonly username: string;
  readonly password_env: string;
  readonly password_file: string;
  readonly no_proxy: readonly string[];
  readonly resolve: "local" | "upstream";
  readonly ca_file: string;
  readonly pin_addresses: boolean;
}
