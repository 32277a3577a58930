/**
 * One client connection on the HTTP listener: a state machine that reads request heads,
 * has each request judged (target policy, then method policy), forwards allowed requests to the
 * vetted addresses, streams bodies both ways by their framing, and switches to a byte relay for
 * CONNECT and upgrades. Requests on a kept-alive connection are judged one by one, in order.
 *
 * Phases: idle (between requests) -> head (reading a head) -> busy (one exchange in flight)
 * -> idle ... or -> tunnel (relay) or -> done.
 */
import { ERRORS, ProxyError, isProxyError, type ErrorCode } from "../../errors.ts";
import type { Decision } from "../../policy/decide.ts";
import { methodBlock, METHOD_OVERRIDE_HEADERS } from "../../policy/method.ts";
import { modeBlock, type BlockInfo } from "../../policy/reasons.ts";
import { formatTarget, hostHeaderValue, parseAbsoluteUrl, parseAuthority, TargetError, type Target } from "../../policy/target.ts";
import type { Protocol } from "../../runtime/blocked.ts";
import { ByteQueue } from "../bytes.ts";
import { Conn, HIGH_WATER } from "../conn.ts";
import { Relay } from "../relay.ts";
import { dial, type UpstreamTls } from "../upstream.ts";
import type { ProxyEnv, Session } from "../env.ts";
import { ChunkedReader, CloseDelimitedReader, LengthReader, NO_BODY, type BodyReader } from "./chunked.ts";
import { findHeadEnd, leadingCrlf, parseRequestHead, parseResponseHead, type HeadLimits, type RequestHead, type ResponseHead } from "./head.ts";
import { blockJson, blockText, CONNECT_ESTABLISHED, errorReply } from "./reply.ts";
import { clientResponseHead, headerValue, overrideValues, upstreamRequestHead, type Framing } from "./rewrite.ts";
import { dialUnixSocket, unixSocketAllowed } from "./unix.ts";

type Phase = "idle" | "head" | "busy" | "tunnel" | "done";

/**
 * A session inside a MITM'd CONNECT tunnel: every request must address the tunnel's target,
 * and is forwarded to it over verified TLS.
 */
export interface InnerTunnel {
  readonly target: Target;
  /** Trust for the upstream TLS connection (read per dial: a reload may change it). */
  readonly upstreamTls: () => UpstreamTls;
}

/** Bytes of request body or pipelined requests held before the client is paused. */
const HOLD_LIMIT = 256 * 1024;
/** Interim (1xx) responses accepted before a final one. */
const MAX_INTERIM = 16;
/** Methods that may be sent again on a fresh connection when a kept-alive one turns out closed (RFC 9110 9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

interface Exchange {
  readonly req: RequestHead;
  readonly target: Target | null;
  readonly path: string;
  readonly hostHeader: string;
  /** Upgrade being passed through (full mode), or null. */
  readonly upgrade: string | null;
  readonly reqBody: BodyReader;
  readonly dialer: () => Promise<Conn>;
  readonly poolKey: string | null;
  up: Conn | null;
  reused: boolean;
  retried: boolean;
  headSent: boolean;
  bodyBytesSent: number;
  /** Body bytes read before the upstream was ready. */
  pending: Buffer[];
  pendingBytes: number;
  /** Response head bytes so far, and where the scan for its end continues. */
  resBuf: ByteQueue;
  resScan: number;
  /** Interim (1xx) responses relayed so far. */
  interim: number;
  /** This exchange holds a slot of the tunnel budget (a pending upgrade) until it is released or handed to a relay. */
  holdsTunnel: boolean;
  res: ResponseHead | null;
  resBody: BodyReader | null;
  /** Bytes of the response already written to the client. */
  started: boolean;
  closeAfter: boolean;
  upDirty: boolean;
  waitMs: number;
}

export class HttpSession implements Session {
  readonly client: Conn;
  readonly peer: string;
  #phase: Phase = "idle";
  /** Client bytes not consumed yet: a head being read, or pipelined requests. */
  readonly #buf = new ByteQueue();
  #scan = 0;
  #ms = 0;
  #firstRequest = true;
  /** Empty lines skipped before the current request line, over all reads. */
  #emptyLines = 0;
  #ex: Exchange | null = null;
  #spare: { conn: Conn; key: string } | null = null;
  #relay: Relay | null = null;
  /** The MITM layer (or a test) can take over the client connection. */
  onTakeover: (() => void) | null = null;

  constructor(
    readonly env: ProxyEnv,
    client: Conn,
    peer: string,
    readonly inner: InnerTunnel | null = null,
  ) {
    this.client = client;
    this.peer = peer;
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

  #limits(): HeadLimits {
    const l = this.env.state.config.np.limits;
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
        const rest = !ex || ex.reqBody.done ? chunk : this.#feedBody(ex, chunk);
        if (rest) this.#buf.append(rest);
        this.#flowControl();
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
    let buf = this.#buf.view();
    const skip = leadingCrlf(buf);
    if (skip > 0) {
      this.#emptyLines += skip / 2;
      if (this.#emptyLines > 32) return this.#fatal("bad_request", "too many empty lines before the request line");
      this.#buf.consume(skip);
      this.#scan = 0;
      if (this.#buf.length === 0) return;
      buf = this.#buf.view();
    }
    if (this.#phase === "idle") {
      this.#phase = "head";
      this.#ms = 0;
    }
    let end: number;
    let req: RequestHead;
    try {
      end = findHeadEnd(buf, this.#scan, this.#limits(), "request");
      if (end < 0) {
        this.#scan = Math.max(0, buf.length - 3);
        return;
      }
      req = parseRequestHead(buf.subarray(0, end), this.#limits());
    } catch (e) {
      return this.#fatalFrom(e);
    }
    this.#scan = 0;
    this.#emptyLines = 0;
    this.#buf.consume(end);
    this.#phase = "busy";
    this.#firstRequest = false;
    this.#dispatch(req).catch((e) => this.#fatalFrom(e));
  }

  /** Pause the client while we hold too much, resume when we do not. */
  #flowControl(): void {
    const ex = this.#ex;
    const held = this.#buf.length + (ex?.pendingBytes ?? 0);
    const blocked = held > HOLD_LIMIT || (ex?.up?.backlogged ?? false) || (this.#phase === "busy" && this.#buf.length > 0 && ex !== null && ex.reqBody.done);
    if (blocked) this.client.pause();
    else this.client.resume();
  }

  // ------------------------------------------------------------------ requests

  async #dispatch(req: RequestHead): Promise<void> {
    const inner = this.inner;
    if (!inner) {
      if (req.method === "CONNECT") return this.#connect(req);
      const unixPath = headerValue(req.headers, "x-unix-socket");
      if (unixPath !== undefined) return this.#unix(req, unixPath);
    }
    const { target, path } = inner ? this.#innerTarget(req, inner) : this.#plainTarget(req);

    const decision = await this.env.state.evaluate(target);
    if (this.#phase !== "busy") return; // the client went away meanwhile
    const protocol: Protocol = inner ? "https" : "http";
    const format = inner ? "text" : "json"; // the original's formats: JSON for plain HTTP, text inside tunnels
    const hasBody = req.chunked || (req.contentLength ?? 0) > 0;
    if (decision.verdict === "block") return this.#blocked(req, decision, target, protocol, null, hasBody, format);
    if (decision.verdict === "dns_error") throw new ProxyError(decision.code, decision.explain);

    const mode = this.env.state.mode;
    const why = methodBlock(mode, { method: req.method, hasBody, upgrade: req.upgrade !== null, overrides: overrideValues(req, METHOD_OVERRIDE_HEADERS) });
    if (why) return this.#blocked(req, modeBlock("method_not_allowed", why), target, protocol, "limited", hasBody, format);

    if (req.upgrade !== null && !this.env.tunnels.tryAcquire()) throw new ProxyError("too_many_tunnels");
    const addrs = decision.addresses;
    const port = target.port;
    if (this.env.log.enabled("debug")) this.env.log.debug("request allowed", { client: this.peer, host: target.host, method: req.method });
    this.#begin(req, {
      target,
      path,
      hostHeader: hostHeaderValue(target, inner ? 443 : 80),
      upgrade: req.upgrade,
      dialer: () => this.#dialTimed(addrs, port, inner?.upstreamTls()),
      poolKey: `${inner ? "tls|" : ""}${addrs.map((a) => a.host).join(",")}|${port}`,
    });
  }

  /** Absolute-form, or origin-form with a Host header (as the original proxied it). */
  #plainTarget(req: RequestHead): { target: Target; path: string } {
    try {
      if (req.target.startsWith("/") || req.target === "*") {
        if (req.host === null || req.host === "") throw new ProxyError("missing_host", "missing host: send an absolute-form URL or a Host header");
        // Host is ASCII (RFC 3986 reg-name); raw bytes there are not a name, whatever they decode to.
        if (!/^[\x21-\x7e]+$/.test(req.host)) throw new ProxyError("bad_target", "the Host header must be ASCII (use punycode for international names)");
        return { target: parseAuthority(req.host, 80), path: req.target };
      }
      const u = parseAbsoluteUrl(req.target);
      if (u.scheme === "https") throw new ProxyError("bad_target", "https:// URLs are proxied with CONNECT; point HTTPS_PROXY at this proxy");
      return { target: u.target, path: u.path };
    } catch (e) {
      throw e instanceof TargetError ? new ProxyError("bad_target", e.message) : e;
    }
  }

  /** Inside a MITM tunnel every request must address the tunnel's own target. */
  #innerTarget(req: RequestHead, inner: InnerTunnel): { target: Target; path: string } {
    const t = inner.target;
    if (req.method === "CONNECT") throw new ProxyError("connect_in_tunnel");
    let path = req.target;
    if (!path.startsWith("/") && path !== "*") {
      // An absolute-form target inside the tunnel is accepted only when it names the tunnel's target.
      let u;
      try {
        u = parseAbsoluteUrl(req.target);
      } catch (e) {
        throw e instanceof TargetError ? new ProxyError("bad_target", e.message) : e;
      }
      if (u.scheme !== "https" || !sameTarget(u.target, t)) throw this.#mismatch(t, req.target);
      path = u.path;
    }
    if (req.host !== null) {
      let h: Target | null = null;
      try {
        h = parseAuthority(req.host, 443);
      } catch {
        // unparsable Host: a mismatch like any other
      }
      if (!h || !sameTarget(h, t)) throw this.#mismatch(t, req.host);
    }
    return { target: t, path };
  }

  #mismatch(t: Target, got: string): ProxyError {
    // What the client sent may be a whole URL; its query string stays out of logs unless asked.
    const q = got.indexOf("?");
    const shown = q >= 0 && !this.env.state.config.np.mitm.log_query ? got.slice(0, q) : got;
    this.env.log.warn("MITM host mismatch", { client: this.peer, target: formatTarget(t), request: shown.slice(0, 200) });
    return new ProxyError("host_mismatch", `host mismatch: this tunnel is for ${formatTarget(t)}`);
  }

  #dialTimed(addrs: Extract<Decision, { verdict: "allow" }>["addresses"], port: number, tls: UpstreamTls | undefined): Promise<Conn> {
    const t0 = performance.now();
    return dial(addrs, port, { timeoutMs: this.env.state.config.np.limits.connect_timeout_ms, label: "upstream", ...(tls ? { tls } : {}) }).finally(() =>
      this.env.state.metrics.connectLatency.observe((performance.now() - t0) / 1000),
    );
  }

  #blocked(req: RequestHead, b: BlockInfo, target: Target, protocol: Protocol, mode: "limited" | null, hasBody: boolean, format: "json" | "text"): void {
    this.env.state.record({ host: target.host, port: target.port, reason: b.reason, client: this.peer, method: req.method, mode, protocol, explain: b.explain, hint: b.hint });
    // Never read the body of a blocked request: answer and close if it has one.
    const close = hasBody || req.minor === 0 || req.connection.has("close");
    this.client.write(format === "json" ? blockJson(b, target.host, close) : blockText(b, close));
    this.#afterLocalReply(close);
  }

  #afterLocalReply(close: boolean): void {
    if (close) {
      this.#phase = "done";
      this.client.close();
      return;
    }
    this.#ex = null;
    this.#nextRequest();
  }

  #begin(req: RequestHead, o: { target: Target | null; path: string; hostHeader: string; upgrade: string | null; dialer: () => Promise<Conn>; poolKey: string | null }): void {
    const reqBody: BodyReader = req.chunked ? new ChunkedReader("bad_request") : req.contentLength ? new LengthReader(req.contentLength) : NO_BODY;
    const ex: Exchange = {
      req,
      target: o.target,
      path: o.path,
      hostHeader: o.hostHeader,
      upgrade: o.upgrade,
      reqBody,
      dialer: o.dialer,
      poolKey: o.poolKey,
      up: null,
      reused: false,
      retried: false,
      headSent: false,
      bodyBytesSent: 0,
      pending: [],
      pendingBytes: 0,
      resBuf: new ByteQueue(),
      resScan: 0,
      interim: 0,
      holdsTunnel: o.upgrade !== null, // #dispatch acquired the slot for it
      res: null,
      resBody: null,
      started: false,
      closeAfter: req.minor === 0 || req.connection.has("close"),
      upDirty: false,
      waitMs: 0,
    };
    this.#ex = ex;
    this.env.state.metrics.requests.add({ protocol: this.inner ? "https" : "http", decision: "allow" });
    // Body bytes that arrived with the head.
    if (this.#buf.length > 0 && !reqBody.done) {
      const buf = this.#buf.take()!;
      const rest = this.#feedBody(ex, buf);
      if (rest) this.#buf.append(rest);
    }
    this.#flowControl();
    this.#connectUpstream(ex).catch((e) => this.#upstreamFailed(ex, e));
  }

  async #connectUpstream(ex: Exchange): Promise<void> {
    const spare = this.#spare;
    if (spare && ex.poolKey !== null && spare.key === ex.poolKey && !spare.conn.closed) {
      this.#spare = null;
      ex.reused = true;
      this.#attach(ex, spare.conn);
      return;
    }
    if (spare) {
      this.#spare = null;
      spare.conn.destroy();
    }
    const up = await ex.dialer();
    if (this.#ex !== ex || this.#phase !== "busy") {
      up.destroy();
      return;
    }
    this.#attach(ex, up);
  }

  #attach(ex: Exchange, up: Conn): void {
    ex.up = up;
    up.resume(); // a kept-alive upstream may have been paused for a slow client
    up.onWritable = () => this.#flowControl();
    up.onEnd = () => this.#onUpstreamGone(ex, undefined);
    up.onClose = (err) => this.#onUpstreamGone(ex, err);
    up.listen((chunk) => this.#onUpstreamData(ex, chunk));
    const head = upstreamRequestHead(ex.req, ex.path, ex.hostHeader, ex.upgrade);
    ex.headSent = true;
    const first = ex.pendingBytes > 0 ? Buffer.concat([head, ...ex.pending]) : head;
    ex.bodyBytesSent += ex.pendingBytes;
    ex.pending = [];
    ex.pendingBytes = 0;
    up.write(first);
    this.#flowControl();
  }

  /** Feed request-body bytes; returns what follows the body (the next request), if anything. */
  #feedBody(ex: Exchange, chunk: Buffer): Buffer | null {
    let end: number;
    try {
      end = ex.reqBody.feed(chunk);
    } catch (e) {
      this.#abortExchange(ex, e);
      return null;
    }
    const part = end === chunk.length ? chunk : chunk.subarray(0, end);
    if (part.length > 0) {
      if (ex.up && ex.headSent) {
        ex.bodyBytesSent += part.length;
        ex.up.write(part);
      } else {
        ex.pending.push(part);
        ex.pendingBytes += part.length;
      }
    }
    if (ex.reqBody.done && ex.res !== null && ex.resBody?.done) this.#finish(ex);
    return end < chunk.length ? chunk.subarray(end) : null;
  }

  // ------------------------------------------------------------------ responses

  #onUpstreamData(ex: Exchange, chunk: Buffer): void {
    if (this.#ex !== ex) return;
    ex.waitMs = 0;
    if (ex.res === null) {
      ex.resBuf.append(chunk);
      for (;;) {
        const buf = ex.resBuf.view();
        let end: number;
        let res: ResponseHead;
        try {
          end = findHeadEnd(buf, ex.resScan, this.#limits(), "response");
          if (end < 0) {
            ex.resScan = Math.max(0, buf.length - 3);
            return;
          }
          res = parseResponseHead(buf.subarray(0, end), this.#limits());
        } catch (e) {
          return this.#abortExchange(ex, e);
        }
        const rest = buf.subarray(end);
        ex.resBuf.clear();
        ex.resScan = 0;
        if (res.status === 101) {
          if (ex.upgrade === null) return this.#abortExchange(ex, new ProxyError("upstream_bad_response", "101 Switching Protocols to a request that did not ask to upgrade"));
          return this.#switchToTunnel(ex, res, rest);
        }
        if (res.status < 200) {
          // Interim responses are relayed, but a server cannot keep the exchange alive with them forever.
          if (++ex.interim > MAX_INTERIM) return this.#abortExchange(ex, new ProxyError("upstream_bad_response", `more than ${MAX_INTERIM} interim (1xx) responses`));
          ex.started = true;
          if (!this.client.write(clientResponseHead(res, { close: false, upgrade: null, framing: null }))) ex.up?.pause();
          if (rest.length === 0) return;
          ex.resBuf.append(rest);
          continue;
        }
        return this.#responseHead(ex, res, rest);
      }
    }
    this.#responseBody(ex, chunk);
  }

  #responseHead(ex: Exchange, res: ResponseHead, rest: Buffer): void {
    if (ex.upgrade !== null) {
      // The upstream declined the upgrade: an ordinary response; the tunnel slot is released.
      this.#releaseTunnel(ex);
      (ex as { upgrade: string | null }).upgrade = null;
    }
    const noBody = ex.req.method === "HEAD" || res.status === 204 || res.status === 304;
    let framing: Framing | null = null;
    let body: BodyReader;
    if (noBody) {
      body = NO_BODY;
    } else if (res.chunked) {
      if (ex.req.minor === 0) return this.#abortExchange(ex, new ProxyError("upstream_bad_response", "chunked response to an HTTP/1.0 request"));
      body = new ChunkedReader("upstream_bad_response");
      framing = { chunked: true, contentLength: null };
    } else if (res.contentLength !== null) {
      body = new LengthReader(res.contentLength);
      framing = { chunked: false, contentLength: res.contentLength };
    } else {
      body = new CloseDelimitedReader();
      ex.closeAfter = true;
    }
    if (res.minor === 0 || res.connection.has("close") || body instanceof CloseDelimitedReader) ex.upDirty = true;
    ex.res = res;
    ex.resBody = body;
    if (!ex.reqBody.done) ex.closeAfter = true; // answered before the request finished
    this.#responseBody(ex, rest, clientResponseHead(res, { close: ex.closeAfter, upgrade: null, framing }));
  }

  /** Pass on the response bytes that belong to its body (after `head`, in the same write, if given). */
  #responseBody(ex: Exchange, bytes: Buffer, head: Buffer | null = null): void {
    const body = ex.resBody!;
    let end: number;
    try {
      end = body.feed(bytes);
    } catch (e) {
      return this.#abortExchange(ex, e);
    }
    if (end < bytes.length) ex.upDirty = true; // bytes after the body: this upstream is not reusable
    const part = end === bytes.length ? bytes : bytes.subarray(0, end);
    let out = part;
    if (head) {
      ex.started = true;
      out = end > 0 ? Buffer.concat([head, part]) : head;
    }
    if (out.length > 0 && !this.client.write(out)) ex.up?.pause();
    if (body.done) this.#finish(ex);
  }

  #switchToTunnel(ex: Exchange, res: ResponseHead, rest: Buffer): void {
    const up = ex.up!;
    if (this.env.state.isLimited()) {
      // The mode changed while the upgrade was pending: a two-way channel must not open now.
      return this.#abortExchange(ex, new ProxyError("upstream_closed", "the proxy switched to limited mode before the upgrade completed"));
    }
    ex.holdsTunnel = false; // the relay owns the slot from here
    this.#ex = null;
    this.#phase = "tunnel";
    this.client.write(clientResponseHead(res, { close: false, upgrade: ex.upgrade, framing: null }));
    if (rest.length > 0) this.client.write(rest);
    this.#startRelay(up, this.#buf.take(), "upgrade");
  }

  #startRelay(up: Conn, toUpstream: Buffer | null, kind: "connect" | "upgrade"): void {
    // The relay takes over the client's callbacks, so nothing else would close a kept-alive upstream.
    this.#spare?.conn.destroy();
    this.#spare = null;
    this.env.state.metrics.tunnels.add({}, 1);
    this.#relay = new Relay(this.client, up, (r) => {
      this.env.relays.delete(r);
      this.env.tunnels.release();
      this.env.state.metrics.tunnels.add({}, -1);
      this.#phase = "done";
      this.env.log.debug("tunnel closed", { client: this.peer, kind, bytes_in: r.a.bytesIn, bytes_out: r.a.bytesOut });
    });
    this.env.relays.add(this.#relay);
    this.client.resume();
    this.#relay.start(toUpstream);
  }

  /** The response (and the request) are complete. */
  #finish(ex: Exchange): void {
    if (!ex.reqBody.done) return; // wait for the request body (see #feedBody)
    if (this.#ex !== ex) return;
    this.#ex = null;
    if (this.inner && this.env.state.config.np.mitm.inspect) this.#inspect(ex);
    const up = ex.up;
    if (up) {
      if (!ex.upDirty && !up.closed && ex.poolKey !== null) this.#keepSpare(up, ex.poolKey);
      else up.destroy();
    }
    if (ex.closeAfter || this.client.readEnded) {
      this.#phase = "done";
      this.client.close();
      return;
    }
    this.#nextRequest();
  }

  /** `mitm.inspect`: body sizes of a MITM'd exchange (never contents; no query string unless `log_query`). */
  #inspect(ex: Exchange): void {
    const m = this.env.state.config.np.mitm;
    const q = ex.path.indexOf("?");
    const path = m.log_query || q < 0 ? ex.path : ex.path.slice(0, q);
    const req = ex.reqBody.payload;
    const res = ex.resBody?.payload ?? 0;
    this.env.log.info("MITM inspected", {
      host: ex.hostHeader,
      method: ex.req.method,
      path,
      status: ex.res?.status,
      request_body_len: req,
      request_truncated: req > m.max_body_bytes,
      response_body_len: res,
      response_truncated: res > m.max_body_bytes,
    });
  }

  #nextRequest(): void {
    this.#phase = "idle";
    this.#ms = 0;
    this.client.resume();
    if (this.#buf.length > 0) this.#readHead();
  }

  #keepSpare(up: Conn, key: string): void {
    this.#spare = { conn: up, key };
    up.onWritable = () => {};
    const drop = () => {
      if (this.#spare?.conn === up) this.#spare = null;
      up.destroy();
    };
    up.onEnd = drop;
    up.onClose = drop;
    up.listen(drop); // an idle upstream must not talk
  }

  // ------------------------------------------------------------------ failures

  #onUpstreamGone(ex: Exchange, err: Error | undefined): void {
    if (this.#ex !== ex) return;
    if (ex.res === null) {
      const silent = !ex.started && ex.resBuf.length === 0;
      if (silent && ex.reused && !ex.retried && ex.bodyBytesSent === 0 && ex.reqBody.done && IDEMPOTENT.has(ex.req.method)) {
        // A kept-alive upstream closed while idle; send the request on a fresh connection once.
        ex.retried = true;
        ex.reused = false;
        const old = ex.up;
        if (old) {
          // Its close must not be taken for the fresh connection's.
          old.onEnd = old.onClose = () => {};
          old.destroy();
        }
        ex.up = null;
        ex.headSent = false;
        ex.dialer().then(
          (up) => (this.#ex === ex ? this.#attach(ex, up) : up.destroy()),
          (e) => this.#upstreamFailed(ex, e),
        );
        return;
      }
      const code: ErrorCode = err ? (isProxyError(err) ? err.code : "upstream_reset") : "upstream_closed";
      return this.#abortExchange(ex, new ProxyError(code, err ? `${ERRORS[code].message}: ${err.message}` : ERRORS[code].message));
    }
    if (ex.resBody instanceof CloseDelimitedReader && !err) {
      ex.resBody.done = true;
      ex.upDirty = true;
      ex.closeAfter = true;
      if (!ex.reqBody.done) {
        this.#ex = null;
        this.#phase = "done";
        this.client.close();
        return;
      }
      return this.#finish(ex);
    }
    if (ex.resBody?.done) return; // already finished
    // The response was cut short: the client must see a broken connection, not a complete body.
    this.env.log.warn("upstream closed mid-response", { client: this.peer, host: ex.target?.host, error: err?.message });
    this.#ex = null;
    this.#phase = "done";
    ex.up?.destroy(true);
    this.client.destroy(true);
  }

  /** Give back the tunnel slot a pending upgrade holds (exactly once). */
  #releaseTunnel(ex: Exchange): void {
    if (!ex.holdsTunnel) return;
    ex.holdsTunnel = false;
    this.env.tunnels.release();
  }

  #upstreamFailed(ex: Exchange, e: unknown): void {
    if (this.#ex !== ex) return;
    this.#abortExchange(ex, e);
  }

  /** Fail the current exchange: a 4xx/5xx if nothing was sent to the client yet, else a reset. */
  #abortExchange(ex: Exchange, e: unknown): void {
    if (this.#ex === ex) this.#ex = null;
    ex.up?.destroy(true);
    this.#releaseTunnel(ex);
    if (ex.started) {
      this.env.log.warn("exchange failed after the response started", { client: this.peer, error: (e as Error).message });
      this.#phase = "done";
      this.client.destroy(true);
      return;
    }
    this.#fatalFrom(e);
  }

  #fatalFrom(e: unknown): void {
    if (isProxyError(e)) return this.#fatal(e.code, e.message);
    this.env.log.error("internal error", { client: this.peer, error: (e as Error)?.stack ?? String(e) });
    this.#fatal("internal", "internal error");
  }

  /** Answer an error and close the connection (its state is no longer trustworthy). */
  #fatal(code: ErrorCode, message: string): void {
    if (this.#phase === "done" || this.client.closed) return;
    const ex = this.#ex;
    this.#ex = null;
    ex?.up?.destroy(true);
    this.#phase = "done";
    this.env.state.metrics.errors.add({ code });
    // Inside a MITM tunnel a message may quote a URL; keep it out of logs unless query logging is on.
    const quiet = this.inner !== null && !this.env.state.config.np.mitm.log_query;
    if (code !== "head_timeout" && code !== "bad_request") this.env.log.info("request failed", { client: this.peer, code, error: quiet ? undefined : message });
    this.client.write(errorReply(code, message, true));
    this.client.close();
  }

  // ------------------------------------------------------------------ CONNECT

  async #connect(req: RequestHead): Promise<void> {
    let target: Target;
    try {
      target = parseAuthority(req.target, null);
    } catch (e) {
      throw e instanceof TargetError ? new ProxyError("bad_target", e.message) : e;
    }
    if (req.chunked || (req.contentLength ?? 0) > 0) throw new ProxyError("bad_request", "a CONNECT request must not have a body");
    const decision = await this.env.state.evaluate(target);
    if (this.#phase !== "busy") return;
    if (decision.verdict === "block") return this.#connectBlocked(target, decision, null);
    if (decision.verdict === "dns_error") throw new ProxyError(decision.code, decision.explain);

    const mode = this.env.state.mode;
    const mitm = this.env.mitm;
    if (mode === "limited") {
      if (!mitm || !this.env.state.config.np.mitm.enabled) {
        return this.#connectBlocked(target, modeBlock("mitm_required", "limited mode allows HTTPS only through MITM, which is off"), "limited");
      }
      const rest = this.#buf.take();
      this.#phase = "tunnel";
      this.onTakeover?.();
      return mitm.intercept(this, target, decision, rest);
    }

    if (!this.env.tunnels.tryAcquire()) throw new ProxyError("too_many_tunnels");
    let up: Conn;
    try {
      up = await this.#dialTimed(decision.addresses, target.port, undefined);
    } catch (e) {
      this.env.tunnels.release();
      throw e;
    }
    if (this.#phase !== "busy" || this.env.state.isLimited()) {
      // Gone, or the mode turned limited while we dialed: no raw tunnel now.
      this.env.tunnels.release();
      up.destroy();
      if (this.#phase === "busy") this.#connectBlocked(target, modeBlock("mitm_required", "the proxy switched to limited mode while the tunnel was being set up"), "limited");
      return;
    }
    this.env.state.metrics.requests.add({ protocol: "http-connect", decision: "allow" });
    if (this.env.log.enabled("debug")) this.env.log.debug("CONNECT allowed", { client: this.peer, host: formatTarget(target) });
    this.#phase = "tunnel";
    this.client.write(CONNECT_ESTABLISHED);
    this.#startRelay(up, this.#buf.take(), "connect");
  }

  #connectBlocked(target: Target, b: BlockInfo, mode: "limited" | null): void {
    this.env.state.record({ host: target.host, port: target.port, reason: b.reason, client: this.peer, method: "CONNECT", mode, protocol: "http-connect", explain: b.explain, hint: b.hint });
    this.#phase = "done";
    this.client.write(blockText(b, true));
    this.client.close();
  }

  // ------------------------------------------------------------------ x-unix-socket

  async #unix(req: RequestHead, path: string): Promise<void> {
    if (path === "" || !/^[\x21-\x7e]+$/.test(path)) throw new ProxyError("bad_request", "invalid x-unix-socket header");
    const mode = this.env.state.mode;
    const hasBody = req.chunked || (req.contentLength ?? 0) > 0;
    const why = methodBlock(mode, { method: req.method, hasBody, upgrade: req.upgrade !== null, overrides: overrideValues(req, METHOD_OVERRIDE_HEADERS) });
    const unixTarget: Target = { kind: "domain", host: "unix-socket", port: 0 };
    if (why) return this.#unixBlocked(req, modeBlock("method_not_allowed", why), path, "limited", hasBody);
    if (process.platform !== "darwin") throw new ProxyError("unix_sockets_unsupported", "unix sockets unsupported: x-unix-socket works on macOS only");
    if (!unixSocketAllowed(path, this.env.state.config.policy.unixSockets)) {
      const hint = `the proxy's operator can add ${JSON.stringify(path)} to network_proxy.policy.allow_unix_sockets`;
      return this.#unixBlocked(req, { reason: "not_allowed", explain: `${path} is not in allow_unix_sockets`, hint }, path, null, hasBody);
    }
    let originPath = req.target;
    if (!originPath.startsWith("/") && originPath !== "*") {
      try {
        originPath = parseAbsoluteUrl(req.target).path;
      } catch {
        originPath = "/";
      }
    }
    this.#begin(req, {
      target: unixTarget,
      path: originPath,
      hostHeader: req.host ?? "localhost",
      upgrade: null,
      dialer: () => dialUnixSocket(path, this.env.state.config.np.limits.connect_timeout_ms),
      poolKey: null,
    });
  }

  #unixBlocked(req: RequestHead, b: BlockInfo, path: string, mode: "limited" | null, hasBody: boolean): void {
    this.env.state.record({ host: path, port: null, reason: b.reason, client: this.peer, method: req.method, mode, protocol: "unix-socket", explain: b.explain, hint: b.hint });
    const close = hasBody || req.minor === 0 || req.connection.has("close");
    this.client.write(blockJson(b, "unix-socket", close));
    this.#afterLocalReply(close);
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
      ex.up?.destroy(true);
      this.#releaseTunnel(ex);
      this.#phase = "done";
      this.client.close();
    }
    // Otherwise the response is still owed; #finish closes because readEnded is set.
  }

  #onClientClose(): void {
    this.#phase = "done";
    const ex = this.#ex;
    this.#ex = null;
    if (ex) {
      ex.up?.destroy(true);
      this.#releaseTunnel(ex);
    }
    this.#spare?.conn.destroy();
    this.#spare = null;
  }

  /** Called by the sweeper every `ms` milliseconds: enforce head, idle and response time-outs. */
  tick(ms: number): void {
    const l = this.env.state.config.np.limits;
    switch (this.#phase) {
      case "idle":
        this.#ms += ms;
        if (this.#ms >= (this.#firstRequest ? l.head_timeout_ms : l.idle_timeout_ms)) {
          this.#phase = "done";
          this.client.close();
        }
        return;
      case "head":
        this.#ms += ms;
        if (this.#ms >= l.head_timeout_ms) this.#fatal("head_timeout", `no complete request head within ${l.head_timeout_ms} ms`);
        return;
      case "busy": {
        const ex = this.#ex;
        if (!ex) return;
        if (!ex.reqBody.done) {
          // Uploading: the client must keep sending (a slow upload is fine, a stopped one is not).
          this.client.idleMs += ms;
          if (this.client.idleMs >= l.idle_timeout_ms) this.#abortExchange(ex, new ProxyError("body_timeout", `the request body stalled for ${l.idle_timeout_ms} ms`));
        } else if (ex.res === null) {
          if (!ex.headSent) return; // still connecting: bounded by connect_timeout_ms
          ex.waitMs += ms;
          if (ex.waitMs >= l.response_timeout_ms) this.#abortExchange(ex, new ProxyError("upstream_timeout", `no response from upstream within ${l.response_timeout_ms} ms`));
        } else if (ex.up) {
          // Streaming the response: give up when neither side has moved for response_timeout_ms.
          ex.up.idleMs += ms;
          this.client.idleMs += ms;
          if (Math.min(ex.up.idleMs, this.client.idleMs) >= l.response_timeout_ms) {
            this.#abortExchange(ex, new ProxyError("upstream_timeout", `the response stalled for ${l.response_timeout_ms} ms`));
          }
        }
        return;
      }
      case "tunnel": {
        const r = this.#relay;
        if (!r) return;
        r.a.idleMs += ms;
        r.b.idleMs += ms;
        if (r.idleMs >= l.tunnel_idle_timeout_ms) {
          this.env.log.info("closing idle tunnel", { client: this.peer, idle_ms: r.idleMs });
          r.close(false);
        }
        return;
      }
      case "done":
        return;
    }
  }

  /**
   * The mode just became limited: an exchange still in flight that limited mode would refuse
   * (a write, an upgrade, a body) is cut off, so read-only holds for traffic already flowing.
   */
  onLimited(): void {
    const ex = this.#ex;
    if (!ex || this.#phase !== "busy") return;
    const hasBody = ex.req.chunked || (ex.req.contentLength ?? 0) > 0;
    const why = methodBlock("limited", { method: ex.req.method, hasBody, upgrade: ex.upgrade !== null, overrides: overrideValues(ex.req, METHOD_OVERRIDE_HEADERS) });
    if (why) this.#abortExchange(ex, new ProxyError("upstream_closed", `the proxy switched to limited mode: ${why}`));
  }

  /** Stop: graceful (between requests) or forced. */
  shutdown(force: boolean): boolean {
    if (force) {
      this.#relay?.close(true);
      // Detach the exchange first: otherwise the upstream's close reads as "upstream closed"
      // and answers a 502 that blames the origin for what the proxy did.
      const ex = this.#ex;
      this.#ex = null;
      this.#phase = "done";
      ex?.up?.destroy(true);
      if (ex && !ex.started && !this.client.closed) {
        // Nothing of the response went out yet: say why, then close.
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

function sameTarget(a: Target, b: Target): boolean {
  return a.host === b.host && a.port === b.port;
}
