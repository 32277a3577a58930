/**
 * One forwarded request and its response: connect (or reuse a kept-alive upstream), send the
 * rewritten head and stream the request body by its framing, read the response head, stream its
 * body back by its framing. Its phase says where it is:
 *
 *   connecting -> waiting (head sent, no response head yet; interim 1xx relayed) -> streaming -> done
 *
 * The session (session.ts) owns the client connection and decides what happens next: the next
 * request, a close, an error answer or a tunnel (a 101 answer to an upgrade).
 */
import type { Lease } from "../slots.ts";
import { isProxyError, OUTCOMES, ProxyError, type ErrorCode } from "../../outcomes.ts";
import { ByteQueue } from "../bytes.ts";
import { basicAuth } from "../upstream.ts";
import type { Conn } from "../conn.ts";
import { ChunkedReader, CloseDelimitedReader, LengthReader, NO_BODY, type BodyReader } from "./chunked.ts";
import { findHeadEnd, parseResponseHead, type HeadLimits, type ResponseHead } from "./head.ts";
import type { ExchangeSpec } from "./exchange-spec.ts";
import type { PoolKey } from "./spare.ts";
import { asResponseHead, plainResponseHead } from "./plain-head.ts";
import { clientResponseHead, upstreamRequestHead, type Framing } from "./rewrite.ts";

/** Interim (1xx) responses accepted before a final one. */
const MAX_INTERIM = 16;
/** Methods that may be sent again on a fresh connection when a kept-alive one turns out closed (RFC 9110 9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export type ExchangePhase = "connecting" | "waiting" | "streaming" | "done";
export type { ExchangeSpec } from "./exchange-spec.ts";

/** What an exchange needs from the session that runs it. */
export interface ExchangeHost {
  readonly client: Conn;
  headLimits(): HeadLimits;
  /** A kept-alive upstream for this key, if the session holds one (it is handed over). */
  takeSpare(key: PoolKey): Conn | null;
  finished(ex: Exchange): void;
  failed(ex: Exchange, e: unknown): void;
  upgraded(ex: Exchange, res: ResponseHead, rest: Buffer): void;
  flowControl(): void;
}

export class Exchange {
  phase: ExchangePhase = "connecting";
  readonly reqBody: BodyReader;
  up: Conn | null = null;
  /** The upgrade still being asked for (cleared when the upstream answers without switching). */
  upgrade: string | null;
  lease: Lease | null;
  /** Bytes of the response (interim or final) already written to the client. */
  answered = false;
  /** Close the client connection after this exchange. */
  closeAfter: boolean;
  /** The upstream cannot be reused after this exchange. */
  upDirty = false;
  /** The response's status and framing; for a passed-on response (plain-head.ts) headers and reason are empty. */
  res: ResponseHead | null = null;
  resBody: BodyReader | null = null;
  /** Time waited for the response head (advanced by the sweeper, exchange-watch.ts). */
  waitMs = 0;
  #reused = false;
  #retried = false;
  #bodyBytesSent = 0;
  /** Body bytes read before the upstream was ready. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #resBuf = new ByteQueue();
  #resScan = 0;
  #interim = 0;

  constructor(
    readonly spec: ExchangeSpec,
    private readonly host: ExchangeHost,
  ) {
    const req = spec.req;
    this.reqBody = req.chunked ? new ChunkedReader("bad_request", spec.hook === null) : req.contentLength ? new LengthReader(req.contentLength) : NO_BODY;
    this.upgrade = spec.upgrade;
    this.lease = spec.lease;
    this.closeAfter = req.minor === 0 || req.connection.has("close");
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Connect (or take the kept-alive upstream, at once) and send the head; body bytes are fed as
   * they come. A failure fails the exchange.
   */
  connect(): void {
    const key = this.spec.poolKey;
    const spare = key !== null ? this.host.takeSpare(key) : null;
    if (spare) {
      this.#reused = true;
      try {
        this.#attach(spare);
      } catch (e) {
        this.fail(e);
      }
      return;
    }
    this.spec
      .dialer()
      .then(
        (up) => {
          if (this.phase === "done") up.destroy();
          else this.#attach(up);
        },
        (e) => this.fail(e),
      )
      .catch((e) => this.fail(e));
  }

  #attach(up: Conn): void {
    this.up = up;
    up.resume(); // a kept-alive upstream may have been paused for a slow client
    up.onWritable = () => this.host.flowControl();
    up.onEnd = () => this.#upstreamGone(undefined);
    up.onClose = (err) => this.#upstreamGone(err);
    up.listen((chunk) => this.#onUpstreamData(chunk));
    // To an HTTP upstream proxy: absolute form, with its credentials (never the client's).
    const via = up.forwardProxy;
    const target = via ? `http://${this.spec.hostHeader}${this.spec.path}` : this.spec.path;
    const head = upstreamRequestHead(this.spec.req, target, this.spec.hostHeader, this.upgrade, this.spec.hook, via ? basicAuth(via) : null);
    this.phase = "waiting";
    const first = this.#pendingBytes > 0 ? Buffer.concat([head, ...this.#pending]) : head;
    this.#bodyBytesSent += this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    up.write(first);
    this.host.flowControl();
  }

  /** Feed request-body bytes; returns what follows the body (the next request), if anything. */
  feedBody(chunk: Buffer): Buffer | null {
    let end: number;
    try {
      end = this.reqBody.feed(chunk);
    } catch (e) {
      this.fail(e);
      return null;
    }
    const part = end === chunk.length ? chunk : chunk.subarray(0, end);
    if (part.length > 0) {
      if (this.up && this.phase !== "connecting") {
        this.#bodyBytesSent += part.length;
        this.up.write(part);
      } else {
        this.#pending.push(part);
        this.#pendingBytes += part.length;
      }
    }
    if (this.reqBody.done && this.phase === "streaming" && this.resBody?.done) this.#finish();
    return end < chunk.length ? chunk.subarray(end) : null;
  }

  #onUpstreamData(chunk: Buffer): void {
    if (this.phase === "done") return;
    this.waitMs = 0;
    if (this.phase !== "waiting") return this.#responseBody(chunk);
    this.#resBuf.append(chunk);
    const limits = this.host.headLimits();
    for (;;) {
      const buf = this.#resBuf.view();
      let end: number;
      let res: ResponseHead;
      try {
        end = findHeadEnd(buf, this.#resScan, limits, "response");
        if (end < 0) {
          this.#resScan = Math.max(0, buf.length - 3);
          return;
        }
        const plain = this.#canPassOn() ? plainResponseHead(buf, end, limits.maxHeaders) : null;
        if (plain !== null) {
          this.#resBuf.clear();
          this.#resScan = 0;
          return this.#responseHead(asResponseHead(plain), buf, end, true);
        }
        res = parseResponseHead(buf, limits, end);
      } catch (e) {
        return this.fail(e);
      }
      this.#resBuf.clear();
      this.#resScan = 0;
      // A 407 through an HTTP upstream is the upstream refusing our credentials: ours to report,
      // not the client's to answer (it never sent any).
      const via = this.up?.forwardProxy;
      if (res.status === 407 && via) {
        const why = via.auth ? `the upstream proxy ${via.label} refused our credentials` : `the upstream proxy ${via.label} asks for credentials`;
        return this.fail(new ProxyError("upstream_proxy_auth_failed", why));
      }
      if (res.status === 101) {
        if (this.upgrade === null)
          return this.fail(new ProxyError("upstream_bad_response", "101 Switching Protocols to a request that did not ask to upgrade"));
        return this.host.upgraded(this, res, buf.subarray(end));
      }
      if (res.status < 200) {
        // Interim responses are relayed, but a server cannot keep the exchange alive with them forever.
        if (++this.#interim > MAX_INTERIM) return this.fail(new ProxyError("upstream_bad_response", `more than ${MAX_INTERIM} interim (1xx) responses`));
        this.answered = true;
        if (!this.host.client.write(clientResponseHead(res, { close: false, upgrade: null, framing: null }))) this.up?.pause();
        if (end === buf.length) return;
        this.#resBuf.append(buf.subarray(end));
        continue;
      }
      return this.#responseHead(res, buf, end, false);
    }
  }

  /**
   * The response head `res` is buf[0, from); its body starts at `from`. `passOn`: the upstream's
   * own head bytes go to the client as they are (a plain response), else a rewritten head.
   */
  #responseHead(res: ResponseHead, buf: Buffer, from: number, passOn: boolean): void {
    if (this.upgrade !== null) {
      // The upstream declined the upgrade: an ordinary response; the tunnel slot is released.
      this.upgrade = null;
      this.releaseLease();
    }
    const req = this.spec.req;
    const noBody = req.method === "HEAD" || res.status === 204 || res.status === 304;
    let framing: Framing | null = null;
    let body: BodyReader;
    if (noBody) {
      body = NO_BODY;
    } else if (res.chunked) {
      if (req.minor === 0) return this.fail(new ProxyError("upstream_bad_response", "chunked response to an HTTP/1.0 request"));
      body = new ChunkedReader("upstream_bad_response");
      framing = { chunked: true, contentLength: null };
    } else if (res.contentLength !== null) {
      body = new LengthReader(res.contentLength);
      framing = { chunked: false, contentLength: res.contentLength };
    } else {
      body = new CloseDelimitedReader();
      this.closeAfter = true;
    }
    if (res.minor === 0 || res.connection.has("close") || body instanceof CloseDelimitedReader) this.upDirty = true;
    this.res = res;
    this.resBody = body;
    this.phase = "streaming";
    if (!this.reqBody.done) this.closeAfter = true; // answered before the request finished
    this.#responseBody(buf, from, passOn ? null : clientResponseHead(res, { close: this.closeAfter, upgrade: null, framing }), true);
  }

  /**
   * Whether a response could go to the client as the upstream wrote it (plain-head.ts): nothing
   * this exchange must add (Connection: close, upgrade headers) and a body that follows its head.
   */
  #canPassOn(): boolean {
    return !this.closeAfter && this.reqBody.done && this.upgrade === null && this.spec.req.method !== "HEAD";
  }

  /**
   * Pass on the response bytes of buf that belong to its body, which starts at `from`. Before it:
   * nothing (a later read, `from` 0), or the response head, which goes out in the same write:
   * `head` when it was rewritten, else buf's own bytes. `starts`: this write begins the answer.
   */
  #responseBody(buf: Buffer, from = 0, head: Buffer | null = null, starts = false): void {
    const body = this.resBody!;
    let end: number;
    try {
      end = body.feed(buf, from);
    } catch (e) {
      return this.fail(e);
    }
    if (end < buf.length) this.upDirty = true; // bytes after the body: this upstream is not reusable
    if (starts) this.answered = true;
    let out: Buffer;
    if (head !== null) out = end === from ? head : Buffer.concat([head, buf.subarray(from, end)]);
    else out = end === buf.length ? buf : buf.subarray(0, end);
    if (out.length > 0 && !this.host.client.write(out)) this.up?.pause();
    if (body.done) this.#finish();
  }

  /** The response (and the request) are complete. */
  #finish(): void {
    if (!this.reqBody.done || this.phase === "done") return; // the request body is still coming (feedBody finishes)
    this.phase = "done";
    this.host.finished(this);
  }

  #upstreamGone(err: Error | undefined): void {
    if (this.phase === "done") return;
    if (this.phase !== "streaming") {
      const silent = !this.answered && this.#resBuf.length === 0;
      if (silent && this.#reused && !this.#retried && this.#bodyBytesSent === 0 && this.reqBody.done && IDEMPOTENT.has(this.spec.req.method))
        return this.#retry();
      const code: ErrorCode = err ? (isProxyError(err) ? err.code : "upstream_reset") : "upstream_closed";
      return this.fail(new ProxyError(code, err ? `${OUTCOMES[code].message}: ${err.message}` : OUTCOMES[code].message));
    }
    if (this.resBody instanceof CloseDelimitedReader && !err) {
      this.resBody.done = true;
      this.upDirty = true;
      this.closeAfter = true;
      if (!this.reqBody.done) {
        // Answered in full before the request body ended: nothing more to forward.
        this.phase = "done";
        this.host.finished(this);
        return;
      }
      return this.#finish();
    }
    if (this.resBody?.done) return; // already finished
    // The response was cut short: the client must see a broken connection, not a complete body.
    this.fail(new ProxyError("upstream_reset", `the upstream closed in the middle of the response${err ? `: ${err.message}` : ""}`));
  }

  /** A kept-alive upstream closed while idle; send the request on a fresh connection once. */
  #retry(): void {
    this.#retried = true;
    this.#reused = false;
    const old = this.up;
    if (old) {
      // Its close must not be taken for the fresh connection's.
      old.onEnd = old.onClose = () => {};
      old.destroy();
    }
    this.up = null;
    this.phase = "connecting";
    this.spec.dialer().then(
      (up) => (this.phase === "connecting" ? this.#attach(up) : up.destroy()),
      (e) => this.fail(e),
    );
  }

  /** The upgrade went through: the upstream and the tunnel slot go to the tunnel. */
  handOver(): { up: Conn; lease: Lease } {
    this.phase = "done";
    const taken = { up: this.up!, lease: this.lease! };
    this.up = null;
    this.lease = null;
    return taken;
  }

  /** Give back the tunnel slot a pending upgrade holds (exactly once). */
  releaseLease(): void {
    this.lease?.release();
    this.lease = null;
  }

  /** Fail this exchange: the session answers it (nothing sent yet) or resets the client. */
  fail(e: unknown): void {
    if (this.phase === "done") return;
    this.phase = "done";
    this.up?.destroy(true);
    this.releaseLease();
    this.host.failed(this, e);
  }

  /** Drop the exchange without an answer (the client is gone, or the proxy is stopping). */
  drop(): void {
    this.phase = "done";
    this.up?.destroy(true);
    this.releaseLease();
  }

  /** Hand the upstream back after a complete exchange: reusable, or closed. */
  releaseUpstream(): Conn | null {
    const up = this.up;
    this.up = null;
    if (!up) return null;
    if (this.upDirty || up.closed) {
      up.destroy();
      return null;
    }
    return up;
  }
}
