/**
 * One client connection on the HTTP listener, or inside an intercepted tunnel (the ingress says
 * which): reads request heads, asks the gate about each request, and runs the allowed ones as
 * exchanges (exchange.ts), one at a time, in order. CONNECT and x-unix-socket have their own
 * handlers (connect.ts, unix.ts).
 *
 * Phases: idle (between requests) -> head (reading a head) -> busy (one exchange in flight)
 * -> idle ... or -> tunnel (the connection is a tunnel now) or -> done.
 */
import { isProxyError, ProxyError, type ErrorCode } from "../../outcomes.ts";
import { stillAllowed, type DecideContext } from "../../policy/decide.ts";
import { withExtra, type CompiledPolicy } from "../../policy/rules.ts";
import type { DecisionLine } from "../../runtime/gate.ts";
import { HIGH_WATER, type Conn } from "../conn.ts";
import type { ProxyContext, Session } from "../context.ts";
import { ClientGone } from "../dial.ts";
import { handleConnect } from "./connect.ts";
import { Exchange, type ExchangeHost, type ExchangeSpec } from "./exchange.ts";
import { limitExchange, rejudgeExchange, tickExchange } from "./exchange-watch.ts";
import type { SessionHandle } from "./handle.ts";
import type { HeadLimits, RequestHead, ResponseHead } from "./head.ts";
import { HeadReader } from "./head-reader.ts";
import type { Ingress } from "./ingress.ts";
import { SpareUpstream, type PoolKey } from "./spare.ts";
import { inspectLine } from "./inspect.ts";
import { errorReply } from "./reply.ts";
import { clientResponseHead, headerValue } from "./rewrite.ts";
import { PROXY_AUTHENTICATE, proxyAuthorized } from "./proxy-auth.ts";
import { handleUnix } from "./unix.ts";
import { handleForward } from "./forward.ts";

type Phase = "idle" | "head" | "busy" | "tunnel" | "done";

/** Bytes of request body or pipelined requests held before the client is paused. */
const HOLD_LIMIT = 256 * 1024;

export class HttpSession implements Session, SessionHandle, ExchangeHost {
  #phase: Phase = "idle";
  /** Client bytes not consumed yet: a head being read, or pipelined requests. */
  readonly #heads = new HeadReader();
  readonly #buf = this.#heads.buf;
  #ms = 0;
  #firstRequest = true;
  #ex: Exchange | null = null;
  /** A kept-alive upstream from the previous exchange, for the next request to the same place. */
  readonly #spare = new SpareUpstream();
  /** Set when the client goes away: a dial in flight for it stops. */
  readonly gone = new ClientGone();

  constructor(
    readonly ctx: ProxyContext,
    readonly client: Conn,
    readonly peer: string,
    readonly ingress: Ingress,
  ) {
    client.onWritable = () => {
      this.#ex?.up?.resume();
      // Answers had piled up for a client that does not read: carry on with its requests now.
      if ((this.#phase === "idle" || this.#phase === "head") && this.#buf.length > 0) this.#readHead();
    };
    client.onEnd = () => this.#onClientEnd();
    client.onClose = () => this.#onClientClose();
    client.listen((chunk) => this.#onClientData(chunk));
  }

  get phase(): Phase {
    return this.#phase;
  }

  headLimits(): HeadLimits {
    const l = this.ctx.limits();
    return { maxHeadBytes: l.max_head_bytes, maxHeaders: l.max_headers };
  }

  // ------------------------------------------------------------------ client bytes

  #onClientData(chunk: Buffer): void {
    switch (this.#phase) {
      case "idle":
      case "head":
        this.#buf.append(chunk);
        this.#readHead();
        return;
      case "busy": {
        const ex = this.#ex;
        const rest = !ex || ex.reqBody.done ? chunk : ex.feedBody(chunk);
        if (rest) this.#buf.append(rest);
        this.flowControl();
        return;
      }
      case "tunnel":
      case "done":
        return;
    }
  }

  #readHead(): void {
    if (this.#buf.length === 0) return;
    // Answers we owe this client are piling up unread (e.g. pipelined blocked requests): stop
    // reading its requests until it drains them, or it could make us buffer without bound.
    if (this.client.queuedBytes > HIGH_WATER) {
      this.client.pause();
      return;
    }
    let req: RequestHead | "empty" | "more";
    try {
      req = this.#heads.next(this.headLimits());
    } catch (e) {
      return this.#fatalFrom(e);
    }
    if (req === "empty") return;
    if (this.#phase === "idle") {
      this.#phase = "head";
      this.#ms = 0;
    }
    if (req === "more") return;
    this.#phase = "busy";
    this.#firstRequest = false;
    // Synchronous unless the gate has to wait (a DNS lookup, an approval) or a handler is async.
    try {
      this.#dispatch(req)?.catch((e) => this.#fatalFrom(e));
    } catch (e) {
      this.#fatalFrom(e);
    }
  }

  /** Pause the client while we hold too much, resume when we do not. */
  flowControl(): void {
    const ex = this.#ex;
    const held = this.#buf.length + (ex?.pendingBytes ?? 0);
    const blocked = held > HOLD_LIMIT || (ex?.up?.backlogged ?? false) || (this.#phase === "busy" && this.#buf.length > 0 && ex?.reqBody.done);
    if (blocked) this.client.pause();
    else this.client.resume();
  }

  // ------------------------------------------------------------------ requests

  #dispatch(req: RequestHead): Promise<void> | undefined {
    if (this.ingress.outer) {
      const creds = this.ctx.state.config.proxyAuth;
      if (creds && !proxyAuthorized(headerValue(req.headers, "proxy-authorization"), creds)) {
        this.#fatal("proxy_auth_required", "send Proxy-Authorization: Basic with the proxy's username and password", false, PROXY_AUTHENTICATE);
        return undefined;
      }
      if (req.method === "CONNECT") return handleConnect(this, req);
      const unixPath = headerValue(req.headers, "x-unix-socket");
      if (unixPath !== undefined) return handleUnix(this, req, unixPath);
    }
    return handleForward(this, req);
  }

  get busy(): boolean {
    return this.#phase === "busy";
  }

  forward(spec: ExchangeSpec): void {
    const ex = new Exchange(spec, this);
    this.#ex = ex;
    // Body bytes that arrived with the head.
    if (this.#buf.length > 0 && !ex.reqBody.done) {
      const rest = ex.feedBody(this.#buf.take()!);
      if (rest) this.#buf.append(rest);
    }
    this.flowControl();
    ex.connect();
  }

  /** Answer locally (a block) and carry on with the next request, or close. */
  answerLocal(answer: Buffer, close: boolean): void {
    this.client.write(answer);
    if (close) {
      this.#phase = "done";
      this.client.close();
      return;
    }
    this.#ex = null;
    this.#nextRequest();
  }

  closeWith(answer: Buffer): void {
    if (this.#phase === "done") return;
    this.#phase = "done";
    this.client.write(answer);
    this.client.close();
  }

  takeBuffered(): Buffer | null {
    return this.#buf.take();
  }

  becomeTunnel(): void {
    this.#phase = "tunnel";
    // The tunnel takes over the client's callbacks, so nothing else would close a kept-alive upstream.
    this.#spare.drop();
  }

  takeSpare(key: PoolKey): Conn | null {
    return this.#spare.take(key);
  }

  // ------------------------------------------------------------------ exchange outcomes

  finished(ex: Exchange): void {
    if (this.#ex !== ex) return;
    this.#ex = null;
    ex.spec.line.finish(ex.res?.status ?? 0);
    if (!this.ingress.outer && this.ctx.state.config.np.mitm.inspect) this.ctx.log.info("MITM inspected", inspectLine(ex, this.ctx.state.config.np.mitm));
    const up = ex.releaseUpstream();
    if (up && ex.spec.poolKey !== null) this.#spare.keep(up, ex.spec.poolKey, ex.spec.target);
    if (ex.closeAfter || this.client.readEnded) {
      this.#phase = "done";
      this.client.close();
      return;
    }
    this.#nextRequest();
  }

  failed(ex: Exchange, e: unknown): void {
    if (this.#ex === ex) this.#ex = null;
    const err = isProxyError(e) ? e : null;
    if (ex.answered) {
      // Part of the response went out: the client must see a broken connection, not a complete one.
      this.ctx.state.metrics.errors.add({ code: err?.code ?? "internal" });
      ex.spec.line.finish(ex.res?.status ?? 0, err?.code ?? "internal", (e as Error)?.message ?? null);
      this.ctx.log.warn("exchange failed after the response started", { client: this.peer, target: ex.spec.line.target, error: (e as Error)?.message });
      this.#phase = "done";
      this.client.destroy(true);
      return;
    }
    if (err) this.failLine(ex.spec.line, err);
    else this.#fatalFrom(e);
  }

  upgraded(ex: Exchange, res: ResponseHead, rest: Buffer): void {
    // The mode may have changed while the upgrade was pending: a two-way channel must not open now.
    // (A hook that names the upgrade asked for it, in limited mode too.)
    if (this.ctx.state.isLimited() && !ex.spec.hook?.upgrade) {
      return ex.fail(new ProxyError("upstream_closed", "the proxy switched to limited mode before the upgrade completed"));
    }
    if (this.#ex === ex) this.#ex = null;
    const { up, lease } = ex.handOver();
    this.becomeTunnel();
    this.client.write(clientResponseHead(res, { close: false, upgrade: ex.upgrade, framing: null }));
    if (rest.length > 0) this.client.write(rest);
    this.ctx.tunnels.start({
      kind: "upgrade",
      client: this.client,
      up,
      target: ex.spec.target!,
      line: ex.spec.line,
      lease,
      early: this.#buf.take(),
      status: 101,
    });
  }

  #nextRequest(): void {
    this.#phase = "idle";
    this.#ms = 0;
    this.client.resume();
    // Pipelined requests: the next one in a fresh turn, so that a run of requests answered at
    // once (blocks) is a loop, not a recursion.
    if (this.#buf.length > 0) queueMicrotask(() => (this.#phase === "idle" || this.#phase === "head") && this.#readHead());
  }

  // ------------------------------------------------------------------ failures

  /** Fail a request that has a decision line: the line (which counts it) and the answer. */
  failLine(line: DecisionLine, e: ProxyError): void {
    line.fail(e);
    this.#fatal(e.code, e.message, true);
  }

  #fatalFrom(e: unknown): void {
    if (isProxyError(e)) return this.#fatal(e.code, e.message);
    this.ctx.log.error("internal error", { client: this.peer, error: (e as Error)?.stack ?? String(e) });
    this.#fatal("internal", "internal error");
  }

  /**
   * Answer an error and close the connection (its state is no longer trustworthy). `onLine`:
   * the error is on a decision line already (logged and counted there).
   */
  #fatal(code: ErrorCode, message: string, onLine = false, headers: Record<string, string> = {}): void {
    if (this.#phase === "done" || this.client.closed) return;
    const ex = this.#ex;
    this.#ex = null;
    ex?.drop();
    this.#phase = "done";
    if (!onLine) this.ctx.state.metrics.errors.add({ code });
    if (!onLine && code !== "head_timeout" && code !== "bad_request") {
      // Inside a MITM tunnel a message may quote a URL; keep it out of logs unless query logging is on.
      const quiet = !this.ingress.outer && !this.ctx.state.config.np.mitm.log_query;
      this.ctx.log.info("request failed", { client: this.peer, code, error: quiet ? undefined : message });
    }
    this.client.write(errorReply(code, message, true, headers));
    this.client.close();
  }

  // ------------------------------------------------------------------ lifecycle

  #onClientEnd(): void {
    if (this.#phase === "idle" || this.#phase === "head") {
      this.#phase = "done";
      this.client.close();
      return;
    }
    const ex = this.#ex;
    if (this.#phase === "busy" && ex && !ex.reqBody.done) {
      // The client stopped before its request body was complete.
      this.#ex = null;
      ex.spec.line.finish(0, "client_closed");
      ex.drop();
      this.#phase = "done";
      this.client.close();
    }
    // Otherwise the response is still owed; finished() closes because readEnded is set.
  }

  #onClientClose(): void {
    const wasTunnel = this.#phase === "tunnel";
    this.#phase = "done";
    this.gone.set();
    const ex = this.#ex;
    this.#ex = null;
    if (ex) {
      ex.spec.line.finish(ex.res?.status ?? 0, "client_closed");
      ex.drop();
    }
    if (!wasTunnel) this.#spare.drop();
  }

  /** Called by the sweeper every `ms` milliseconds: enforce head, idle and response time-outs. */
  tick(ms: number): void {
    const l = this.ctx.limits();
    if (this.#phase === "busy") {
      if (this.#ex) tickExchange(this.#ex, ms, this.client, l);
      return;
    }
    if (this.#phase !== "idle" && this.#phase !== "head") return; // a tunnel's time-outs are the tunnel's
    this.#ms += ms;
    if (this.#phase === "head") {
      if (this.#ms >= l.head_timeout_ms) this.#fatal("head_timeout", `no complete request head within ${l.head_timeout_ms} ms`);
    } else if (this.#ms >= (this.#firstRequest ? l.head_timeout_ms : l.idle_timeout_ms)) {
      this.#phase = "done";
      this.client.close();
    }
  }

  /**
   * The mode just became limited: an exchange still in flight that limited mode would refuse
   * (a write, an upgrade, a body) is cut off, so read-only holds for traffic already flowing.
   */
  onLimited(): void {
    if (this.#phase === "busy" && this.#ex) limitExchange(this.#ex);
  }

  /** The policy changed: drop a kept-alive upstream and cut an exchange whose target it now blocks. */
  rejudge(policy: CompiledPolicy, ctx: DecideContext): void {
    this.#spare.rejudge(policy, ctx);
    if (this.#phase === "busy" && this.#ex) rejudgeExchange(this.#ex, policy, ctx, this.ctx.state);
    // Inside an intercepted tunnel: the tunnel itself goes when its target does.
    const t = this.ingress.pinned;
    const b = t && this.#phase !== "done" ? stillAllowed(withExtra(policy, this.ingress.grant), t, null, ctx) : null;
    if (!t || !b) return;
    const { host, port } = t;
    const explain = `closed by reload: ${b.explain}`;
    this.ctx.state.record({ host, port, reason: b.reason, client: this.peer, method: "CONNECT", mode: null, protocol: "http-connect", explain, hint: b.hint });
    this.#phase = "done";
    this.client.destroy(true);
  }

  /** Stop: graceful (between requests) or forced. */
  shutdown(force: boolean): boolean {
    if (force) {
      // Detach the exchange first: otherwise the upstream's close reads as "upstream closed"
      // and answers a 502 that blames the origin for what the proxy did.
      const ex = this.#ex;
      this.#ex = null;
      this.#phase = "done";
      ex?.drop();
      if (ex && !ex.answered && !this.client.closed) {
        // Nothing of the response went out yet: say why, then close.
        ex.spec.line.fail(new ProxyError("shutting_down", "the proxy is shutting down and its grace period ended"));
        this.client.write(errorReply("shutting_down", "the proxy is shutting down and its grace period ended", true));
        this.client.close();
      } else {
        this.client.destroy(true);
      }
      return true;
    }
    if (this.#phase === "idle" || this.#phase === "done") {
      this.#phase = "done";
      this.client.close();
      return true;
    }
    return false;
  }
}
