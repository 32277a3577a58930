/**
 * One client connection on the SOCKS5 listener: greeting -> (username/password) -> request ->
 * policy -> dial the vetted address -> success reply -> relay. The wire format lives in
 * codec.ts; the policy decision, dialing and relay are the ones the HTTP listener uses.
 */
import { ERRORS, isProxyError, ProxyError } from "../../errors.ts";
import { constantTimeEqual } from "../../timing.ts";
import { modeBlock, REASONS, type BlockInfo } from "../../policy/reasons.ts";
import { formatTarget, targetFromSocks, TargetError, type Target } from "../../policy/target.ts";
import type { Conn } from "../conn.ts";
import type { ProxyEnv, Session } from "../env.ts";
import { Relay } from "../relay.ts";
import { dial } from "../upstream.ts";
import { CMD, decodeAuth, decodeGreeting, decodeRequest, encodeAuthStatus, encodeMethod, encodeReply, METHOD, REPLY, SocksError } from "./codec.ts";

type Phase = "greeting" | "auth" | "request" | "connecting" | "tunnel" | "done";

/** More than this before the request is complete is not a SOCKS5 client. */
const MAX_HANDSHAKE = 1024;

export class Socks5Session implements Session {
  #phase: Phase = "greeting";
  #buf: Buffer | null = null;
  #ms = 0;
  #relay: Relay | null = null;

  constructor(
    readonly env: ProxyEnv,
    readonly client: Conn,
    readonly peer: string,
  ) {
    client.onEnd = () => this.#close();
    client.onClose = () => {
      this.#phase = "done";
    };
    client.listen((chunk) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === "tunnel" || this.#phase === "done") return;
    this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (this.#phase === "connecting") {
      if (this.#buf.length > 256 * 1024) this.client.pause();
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
      this.#fail("SOCKS5 handshake too long", p === "request" ? REPLY.GENERAL_FAILURE : null);
    }
  }

  #consume(n: number): void {
    const b = this.#buf!;
    this.#buf = n < b.length ? b.subarray(n) : null;
  }

  #credentials(): { user: string; pass: string } | null {
    const s = this.env.state.config.np.socks5;
    return s.username !== "" ? { user: s.username, pass: s.password } : null;
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
            return this.#fail(`${name} is not supported (only CONNECT)`, REPLY.COMMAND_NOT_SUPPORTED);
          }
          let target: Target;
          try {
            target = targetFromSocks(r.atyp, r.addr, r.port);
          } catch (e) {
            if (e instanceof TargetError) return this.#fail(`invalid target: ${e.message}`, ERRORS.bad_target.socks);
            throw e;
          }
          this.#phase = "connecting";
          this.client.pause();
          this.#connect(target).catch((e) => this.#failFrom(e));
          return;
        }
        default:
          return;
      }
    }
  }

  async #connect(target: Target): Promise<void> {
    const state = this.env.state;
    if (state.mode === "limited") {
      return this.#block(target, modeBlock("method_not_allowed", "SOCKS5 cannot show a method, so it is blocked in limited mode"), "limited");
    }
    const decision = await state.evaluate(target);
    if (this.#phase !== "connecting") return;
    if (decision.verdict === "block") return this.#block(target, decision, null);
    if (decision.verdict === "dns_error") throw new ProxyError(decision.code, decision.explain);
    if (!this.env.tunnels.tryAcquire()) throw new ProxyError("too_many_tunnels");
    let up: Conn;
    const t0 = performance.now();
    try {
      up = await dial(decision.addresses, target.port, { timeoutMs: state.config.np.limits.connect_timeout_ms, label: "upstream" });
    } catch (e) {
      this.env.tunnels.release();
      throw e;
    } finally {
      state.metrics.connectLatency.observe((performance.now() - t0) / 1000);
    }
    if (this.#phase !== "connecting" || state.isLimited()) {
      // Gone, or the mode turned limited while we dialed: no tunnel now.
      this.env.tunnels.release();
      up.destroy();
      if (this.#phase === "connecting") this.#block(target, modeBlock("method_not_allowed", "the proxy switched to limited mode while the tunnel was being set up"), "limited");
      return;
    }
    state.metrics.requests.add({ protocol: "socks5", decision: "allow" });
    state.metrics.tunnels.add({}, 1);
    if (this.env.log.enabled("debug")) this.env.log.debug("SOCKS allowed", { client: this.peer, host: formatTarget(target) });
    this.#phase = "tunnel";
    this.client.write(encodeReply(REPLY.SUCCEEDED));
    const early = this.#buf;
    this.#buf = null;
    this.#relay = new Relay(this.client, up, (r) => {
      this.env.relays.delete(r);
      this.env.tunnels.release();
      state.metrics.tunnels.add({}, -1);
      this.#phase = "done";
    });
    this.env.relays.add(this.#relay);
    this.client.resume();
    this.#relay.start(early);
  }

  #block(target: Target, b: BlockInfo, mode: "limited" | null): void {
    this.env.state.record({ host: target.host, port: target.port, reason: b.reason, client: this.peer, method: null, mode, protocol: "socks5", explain: b.explain, hint: b.hint });
    this.#reply(REASONS[b.reason].socksReply);
  }

  #failFrom(e: unknown): void {
    if (isProxyError(e)) {
      this.env.state.metrics.errors.add({ code: e.code });
      this.env.log.info("SOCKS request failed", { client: this.peer, code: e.code, error: e.message });
      return this.#reply(ERRORS[e.code].socks);
    }
    this.env.log.error("internal error", { client: this.peer, error: (e as Error)?.stack ?? String(e) });
    this.#reply(REPLY.GENERAL_FAILURE);
  }

  #fail(why: string, reply: number | null): void {
    this.env.log.debug("SOCKS handshake refused", { client: this.peer, why });
    if (reply === null) return this.#close();
    this.#reply(reply);
  }

  #reply(rep: number): void {
    if (this.#phase === "done") return;
    this.client.write(encodeReply(rep));
    this.#close();
  }

  #close(): void {
    if (this.#phase === "tunnel") return; // the relay owns the connection
    this.#phase = "done";
    this.client.close();
  }

  tick(ms: number): void {
    const l = this.env.state.config.np.limits;
    if (this.#phase === "greeting" || this.#phase === "auth" || this.#phase === "request") {
      this.#ms += ms;
      if (this.#ms >= l.head_timeout_ms) this.#fail(`handshake not completed within ${l.head_timeout_ms} ms`, this.#phase === "request" ? REPLY.TTL_EXPIRED : null);
    } else if (this.#phase === "tunnel" && this.#relay) {
      const r = this.#relay;
      r.a.idleMs += ms;
      r.b.idleMs += ms;
      if (r.idleMs >= l.tunnel_idle_timeout_ms) {
        this.env.log.info("closing idle tunnel", { client: this.peer, idle_ms: r.idleMs, protocol: "socks5" });
        r.close(false);
      }
    }
  }

  shutdown(force: boolean): boolean {
    if (force || this.#phase !== "tunnel") {
      this.#relay?.close(true);
      this.#phase = "done";
      this.client.destroy(force);
      return true;
    }
    return false;
  }
}
