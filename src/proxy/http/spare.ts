/**
 * The kept-alive upstream a session holds between requests, for the next request to the same
 * addresses, port and TLS. An idle upstream must not talk: anything it sends, or its close,
 * drops it.
 */
import { stillAllowed, type DecideContext, type DialAddr } from "../../policy/decide.ts";
import type { CompiledPolicy } from "../../policy/rules.ts";
import type { Target } from "../../policy/target.ts";
import type { Conn } from "../conn.ts";

/** What an upstream connection was opened for: a kept-alive one serves only a request with the same. */
export interface PoolKey {
  readonly tls: boolean;
  readonly host: string;
  /** The vetted addresses it could have been dialed at. */
  readonly addrs: readonly DialAddr[];
  readonly port: number;
  /** "direct" or "upstream" (through the upstream proxy). */
  readonly route: string | null;
}

export function samePool(a: PoolKey, b: PoolKey): boolean {
  if (a.tls !== b.tls || a.host !== b.host || a.port !== b.port || a.route !== b.route || a.addrs.length !== b.addrs.length) return false;
  for (let i = 0; i < a.addrs.length; i++) if (a.addrs[i]!.host !== b.addrs[i]!.host) return false;
  return true;
}

export class SpareUpstream {
  #spare: { conn: Conn; key: PoolKey; target: Target | null } | null = null;

  keep(up: Conn, key: PoolKey, target: Target | null): void {
    this.drop();
    this.#spare = { conn: up, key, target };
    up.onWritable = () => {};
    const drop = () => {
      if (this.#spare?.conn === up) this.#spare = null;
      up.destroy();
    };
    up.onEnd = drop;
    up.onClose = drop;
    up.listen(drop);
  }

  /** The spare for `key`, handed over; any other spare is closed. */
  take(key: PoolKey): Conn | null {
    const spare = this.#spare;
    this.#spare = null;
    if (spare && samePool(spare.key, key) && !spare.conn.closed) return spare.conn;
    spare?.conn.destroy();
    return null;
  }

  drop(): void {
    this.#spare?.conn.destroy();
    this.#spare = null;
  }

  /** Close it if the policy no longer allows its target at the address it was dialed at. */
  rejudge(policy: CompiledPolicy, ctx: DecideContext): void {
    const s = this.#spare;
    if (s?.target && stillAllowed(policy, s.target, s.conn.remote, ctx)) this.drop();
  }
}
