/**
 * The kept-alive upstream a session holds between requests, for the next request to the same
 * addresses, port and TLS. An idle upstream must not talk: anything it sends, or its close,
 * drops it.
 */
import { stillAllowed, type DecideContext } from "../../policy/decide.ts";
import type { CompiledPolicy } from "../../policy/rules.ts";
import type { Target } from "../../policy/target.ts";
import type { Conn } from "../conn.ts";

export class SpareUpstream {
  #spare: { conn: Conn; key: string; target: Target | null } | null = null;

  keep(up: Conn, key: string, target: Target | null): void {
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
  take(key: string): Conn | null {
    const spare = this.#spare;
    this.#spare = null;
    if (spare && spare.key === key && !spare.conn.closed) return spare.conn;
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
