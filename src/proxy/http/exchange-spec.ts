/**
 * What a request handler hands the session to forward one request (session.ts runs it as an
 * Exchange, exchange.ts).
 */
import type { CompiledHook } from "../../policy/hooks.ts";
import type { Target } from "../../policy/target.ts";
import type { DecisionLine } from "../../runtime/gate.ts";
import type { Conn } from "../conn.ts";
import type { Lease } from "../slots.ts";
import type { RequestHead } from "./head.ts";
import type { PoolKey } from "./spare.ts";

export interface ExchangeSpec {
  readonly req: RequestHead;
  /** The canonical target, or null for a unix socket. */
  readonly target: Target | null;
  readonly path: string;
  readonly hostHeader: string;
  /** Upgrade being passed through (full mode), or null. */
  readonly upgrade: string | null;
  readonly dialer: () => Promise<Conn>;
  /** Kept-alive upstreams are reused only for the same key (addresses, port, TLS). */
  readonly poolKey: PoolKey | null;
  readonly line: DecisionLine;
  /** The tunnel slot a pending upgrade holds, or null. */
  readonly lease: Lease | null;
  /** The `mitm_hooks` entry whose actions (strip, inject) apply, or null. */
  readonly hook: CompiledHook | null;
}
