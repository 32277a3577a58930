/**
 * CONNECT on the HTTP listener: the target is judged like any other (gate), then the connection
 * becomes a tunnel (full mode), is intercepted (limited mode with MITM), or is refused. `200
 * Connection Established` is written only once the upstream connection is up.
 */
import { ProxyError } from "../../outcomes.ts";
import { formatTarget, parseAuthority, TargetError, type Target } from "../../policy/target.ts";
import { openTunnel } from "../tunnel.ts";
import type { RequestHead } from "./head.ts";
import { blockText, CONNECT_ESTABLISHED, errorReply } from "./reply.ts";
import type { SessionHandle } from "./handle.ts";

export async function handleConnect(s: SessionHandle, req: RequestHead): Promise<void> {
  let target: Target;
  try {
    target = parseAuthority(req.target, null);
  } catch (e) {
    throw e instanceof TargetError ? new ProxyError("bad_target", e.message) : e;
  }
  if (req.chunked || (req.contentLength ?? 0) > 0) throw new ProxyError("bad_request", "a CONNECT request must not have a body");
  const ctx = s.ctx;
  await openTunnel(ctx, {
    entry: "connect",
    client: s.client,
    peer: s.peer,
    target,
    gone: s.gone,
    early: () => s.takeBuffered(),
    answers: {
      established() {
        s.becomeTunnel();
        s.client.write(CONNECT_ESTABLISHED);
        return 200;
      },
      blocked(b) {
        s.closeWith(blockText(b, formatTarget(target), true));
      },
      failed(e) {
        s.closeWith(errorReply(e.code, e.message, true));
      },
      intercept(_addresses, line) {
        const mitm = ctx.mitm;
        if (!mitm) {
          // MITM is on in the config, but its layer is not ready: fail closed.
          line.finish(500, "internal");
          return s.closeWith(errorReply("internal", "HTTPS interception is not ready", true));
        }
        const rest = s.takeBuffered();
        s.becomeTunnel();
        void mitm.intercept(s.client, s.peer, target, line, rest);
      },
    },
  });
}
