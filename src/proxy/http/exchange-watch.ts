/**
 * What happens to an exchange in flight from outside it: time passing (the sweeper), the mode
 * becoming limited, the policy changing. Each may fail the exchange (exchange.ts), which then
 * ends like any other failure.
 */
import { ProxyError } from "../../outcomes.ts";
import { stillAllowed, type DecideContext } from "../../policy/decide.ts";
import { methodBlock } from "../../policy/method.ts";
import { withExtra, type CompiledPolicy } from "../../policy/rules.ts";
import type { ProxyState } from "../../runtime/state.ts";
import type { Conn } from "../conn.ts";
import { recordRevoked } from "../tunnel.ts";
import type { Exchange } from "./exchange.ts";
import { requestFacts } from "./rewrite.ts";

/** The mode just became limited: cut the exchange if limited mode would refuse it (a write, an upgrade, a body). */
export function limitExchange(ex: Exchange): void {
  const why = methodBlock("limited", { ...requestFacts(ex.spec.req, ex.spec.path), upgrade: ex.upgrade !== null });
  if (why) ex.fail(new ProxyError("upstream_closed", `the proxy switched to limited mode: ${why}`));
}

/** The policy changed: cut the exchange (and record it) if its target at the dialed address is now blocked. */
export function rejudgeExchange(ex: Exchange, policy: CompiledPolicy, ctx: DecideContext, state: ProxyState): void {
  const t = ex.spec.target;
  const b = t && ex.up ? stillAllowed(withExtra(policy, ex.spec.line.grant), t, ex.up.remote, ctx) : null;
  if (!t || !b) return;
  recordRevoked(state, ex.spec.line, t, b);
  ex.fail(new ProxyError("closed_by_policy", `closed by reload: ${b.explain}`));
}

/** Advance the exchange's time-outs by `ms` (see HttpSession.tick). */
export function tickExchange(ex: Exchange, ms: number, client: Conn, l: { idle_timeout_ms: number; response_timeout_ms: number }): void {
  if (ex.phase === "done") return;
  if (!ex.reqBody.done) {
    // Uploading: the client must keep sending (a slow upload is fine, a stopped one is not).
    client.idleMs += ms;
    if (client.idleMs >= l.idle_timeout_ms) ex.fail(new ProxyError("body_timeout", `the request body stalled for ${l.idle_timeout_ms} ms`));
  } else if (ex.phase === "connecting") {
    return; // bounded by connect_timeout_ms
  } else if (ex.phase === "waiting") {
    ex.waitMs += ms;
    if (ex.waitMs >= l.response_timeout_ms) ex.fail(new ProxyError("upstream_timeout", `no response from upstream within ${l.response_timeout_ms} ms`));
  } else if (ex.up) {
    // Streaming the response: give up when neither side has moved for response_timeout_ms.
    ex.up.idleMs += ms;
    client.idleMs += ms;
    if (Math.min(ex.up.idleMs, client.idleMs) >= l.response_timeout_ms)
      ex.fail(new ProxyError("upstream_timeout", `the response stalled for ${l.response_timeout_ms} ms`));
  }
}
