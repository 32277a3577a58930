/**
 * One client connection on the SOCKS5 listener: greeting -> (username/password) -> request, and
 * then the typed target goes to the shared tunnel code (tunnel.ts), which asks the gate, dials
 * and relays exactly as for CONNECT. This file only speaks the protocol; the wire format lives
 * in codec.ts.
 */
import { OUTCOMES, SOCKS_REPLY } from "../../outcomes.ts";
import { targetFromSocks, TargetError, type Target } from "../../policy/target.ts";
import { constantTimeEqual } from "../../secret-compare.ts";
import type { Conn } from "../conn.ts";
import type { ProxyContext, Session } from "../context.ts";
import { ClientGone } from "../dial.ts";
import { openTunnel } from "../tunnel.ts";
import { CMD, decodeAuth, decodeGreeting, decodeRequest, encodeAuthStatus, encodeMethod, encodeReply, METHOD, SocksError } from "./codec.ts";

type Phase = "greeting" | "auth" | "request" | "connecting" | "tunnel" | "done";

/** More than this before the request is complete is not a SOCKS5 client. */
const MAX_HANDSHAKE = 1024;
/** Early data held while the tunnel is being set up before the client is paused. */
const MAX_EARLY = 256 * 1024;

export class Socks5Session implements Session {
  #phase: Phase = "greeting";
  #buf: Buffer | null = null;
  #ms = 0;
  /** Set when the client goes away: the dial in flight stops. */
  readonly #gone = new ClientGone();

  constructor(
    readonly ctx: ProxyContext,
    readonly client: Conn,
    readonly peer: string,
  ) {
    client.onEnd = () => this.#close();
    client.onClose = () => {
      this.#phase = "done";
      this.#gone.set();
    };
    client.listen((chunk) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === "tunnel" || this.#phase === "done") return;
    this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (this.#phase === "connecting") {
      if (this.#buf.length > MAX_EARLY) this.client.pause();
      return; // early data, sent on once the tunnel is up
    }
    try {
      this.#advance();
    } catch (e) {
      if (e instanceof SocksError) return this.#fail(e.message, e.reply);
      throw e;
    }
    // Parse first, then cap: data a client sends right behind its request (in the same write)
    // is early tunnel data, not part of the handshake. What is still unparsed here is one
    // incomplete message, and none is longer than 513 bytes.
    const p = this.#phase;
    if ((p === "greeting" || p === "auth" || p === "request") && this.#buf && this.#buf.length > MAX_HANDSHAKE) {
      // Only a request has a reply format; earlier messages are answered by closing.
      this.#fail("SOCKS5 handshake too long", p === "request" ? SOCKS_REPLY.GENERAL_FAILURE : null);
    }
  }

  #consume(n: number): void {
    const b = this.#buf!;
    this.#buf = n < b.length ? b.subarray(n) : null;
  }

  #credentials(): { user: string; pass: string } | null {
    const a = this.ctx.state.config.proxyAuth;
    return a ? { user: a.username, pass: a.password } : null;
  }

  #advance(): void {
    for (;;) {
      const buf = this.#buf;
      if (!buf) return;
      switch (this.#phase) {
        case "greeting": {
          const g = decodeGreeting(buf);
          if (!g) return;
          this.#consume(g.consumed);
          const want = this.#credentials() ? METHOD.USER_PASS : METHOD.NO_AUTH;
          if (!g.methods.includes(want)) {
            this.client.write(encodeMethod(METHOD.NO_ACCEPTABLE));
            const why = want === METHOD.USER_PASS ? "username/password authentication is required" : "the client does not offer NO AUTH";
            return this.#fail(why, null);
          }
          this.client.write(encodeMethod(want));
          this.#phase = want === METHOD.USER_PASS ? "auth" : "request";
          continue;
        }
        case "auth": {
          const a = decodeAuth(buf);
          if (!a) return;
          this.#consume(a.consumed);
          const creds = this.#credentials()!;
          // Both comparisons always run, so timing does not tell which one failed.
          const userOk = constantTimeEqual(a.username, Buffer.from(creds.user));
          const passOk = constantTimeEqual(a.password, Buffer.from(creds.pass));
          this.client.write(encodeAuthStatus(userOk && passOk));
          if (!(userOk && passOk)) return this.#fail("wrong SOCKS5 username or password", null);
          this.#phase = "request";
          continue;
        }
        case "request": {
          const r = decodeRequest(buf);
          if (!r) return;
          this.#consume(r.consumed);
          if (r.cmd !== CMD.CONNECT) {
            const name = r.cmd === CMD.BIND ? "BIND" : r.cmd === CMD.UDP_ASSOCIATE ? "UDP ASSOCIATE" : `command 0x${r.cmd.toString(16)}`;
            return this.#fail(`${name} is not supported (only CONNECT)`, SOCKS_REPLY.COMMAND_NOT_SUPPORTED);
          }
          let target: Target;
          try {
            target = targetFromSocks(r.atyp, r.addr, r.port);
          } catch (e) {
            if (e instanceof TargetError) return this.#fail(`invalid target: ${e.message}`, OUTCOMES.bad_target.socks);
            throw e;
          }
          this.#phase = "connecting";
          this.client.pause();
          this.#connect(target).catch((e) => {
            this.ctx.log.error("internal error", { client: this.peer, error: (e as Error)?.stack ?? String(e) });
            this.#reply(SOCKS_REPLY.GENERAL_FAILURE);
          });
          return;
        }
        default:
          return;
      }
    }
  }

  #connect(target: Target): Promise<void> {
    return openTunnel(this.ctx, {
      entry: "socks5",
      client: this.client,
      peer: this.peer,
      target,
      gone: this.#gone,
      early: () => {
        const early = this.#buf;
        this.#buf = null;
        return early;
      },
      answers: {
        established: () => {
          this.#phase = "tunnel";
          this.client.write(encodeReply(SOCKS_REPLY.SUCCEEDED));
          return SOCKS_REPLY.SUCCEEDED;
        },
        blocked: (b) => this.#reply(OUTCOMES[b.reason].socks),
        failed: (e) => this.#reply(OUTCOMES[e.code].socks),
      },
    });
  }

  #fail(why: string, reply: number | null): void {
    this.ctx.log.debug("SOCKS handshake refused", { client: this.peer, why });
    if (reply === null) return this.#close();
    this.#reply(reply);
  }

  #reply(rep: number): void {
    if (this.#phase === "done") return;
    this.client.write(encodeReply(rep));
    this.#close();
  }

  #close(): void {
    if (this.#phase === "tunnel") return; // the tunnel owns the connection
    this.#phase = "done";
    this.client.close();
  }

  tick(ms: number): void {
    const l = this.ctx.limits();
    if (this.#phase === "greeting" || this.#phase === "auth" || this.#phase === "request") {
      this.#ms += ms;
      if (this.#ms >= l.head_timeout_ms)
        this.#fail(`handshake not completed within ${l.head_timeout_ms} ms`, this.#phase === "request" ? SOCKS_REPLY.TTL_EXPIRED : null);
    }
  }

  shutdown(force: boolean): boolean {
    if (force || this.#phase !== "tunnel") {
      this.#phase = "done";
      this.client.destroy(force);
      return true;
    }
    return false;
  }
}
