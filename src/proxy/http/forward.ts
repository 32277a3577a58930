/**
 * A plain request to forward (absolute-form on the HTTP listener, origin-form inside an
 * intercepted tunnel): route it, ask the gate, then answer the block or run the exchange.
 */
import { ProxyError } from "../../outcomes.ts";
import type { MethodRequest } from "../../policy/method.ts";
import { hostHeaderValue, type Target } from "../../policy/target.ts";
import type { Verdict } from "../../runtime/gate.ts";
import { answerAdminView, isAdminView } from "./admin-view.ts";
import type { SessionHandle } from "./handle.ts";
import type { RequestHead } from "./head.ts";
import { blockJson, blockText } from "./reply.ts";
import { requestFacts } from "./rewrite.ts";

/** Synchronous unless the gate has to wait (a DNS lookup, an approval): then a promise. Throws ProxyError. */
export function handleForward(s: SessionHandle, req: RequestHead): Promise<void> | undefined {
  const ingress = s.ingress;
  const { target, path } = ingress.route(req);
  const facts = requestFacts(req, path);
  if (ingress.outer && s.ctx.adminView && isAdminView(s.ctx.adminView, req, target, path, facts)) return answerAdminView(s, req, target, path);
  const attempt = { entry: ingress.entry, target, client: s.peer, method: req.method, request: facts, counters: s.client, grant: ingress.grant, gone: s.gone };
  const pending = s.ctx.gate.admit(attempt);
  if (pending instanceof Promise) return pending.then((v) => decided(s, req, target, path, facts, v));
  decided(s, req, target, path, facts, pending);
  return undefined;
}

function decided(s: SessionHandle, req: RequestHead, target: Target, path: string, facts: MethodRequest, v: Verdict): void {
  const ingress = s.ingress;
  if (!s.busy) return v.line.finish(0, "client_closed"); // the client went away meanwhile
  if (v.kind === "fail") return s.failLine(v.line, new ProxyError(v.code, v.message));
  if (v.kind === "block") {
    // Never read the body of a blocked request: answer and close if it has one.
    const close = facts.hasBody || req.minor === 0 || req.connection.has("close");
    const shown = v.line.target;
    const answer = ingress.blockFormat === "json" ? blockJson(v.block, target.host, shown, close) : blockText(v.block, shown, close);
    return s.answerLocal(answer, close);
  }
  let lease = null;
  if (req.upgrade !== null) {
    lease = s.ctx.tunnels.lease();
    if (!lease) return s.failLine(v.line, new ProxyError("too_many_tunnels"));
  }
  const addrs = v.addresses;
  const tls = ingress.upstreamTls();
  s.forward({
    req,
    target,
    path,
    hostHeader: hostHeaderValue(target, ingress.defaultPort),
    upgrade: req.upgrade,
    dialer: () => s.ctx.tunnels.dial(target, addrs, { tls, gone: s.gone, plain: tls === undefined }),
    poolKey: { tls: tls !== undefined, host: target.host, addrs, port: target.port, route: v.line.route },
    line: v.line,
    lease,
    hook: v.hook,
  });
}
