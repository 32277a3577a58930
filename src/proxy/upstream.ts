/**
 * Through an upstream proxy: connect to it (TLS for https://), then open a tunnel to the target
 * with HTTP CONNECT (RFC 9110 section 9.3.6) or SOCKS5 CONNECT (RFC 1928, username and password
 * per RFC 1929), and, for the upstream leg of intercepted HTTPS, TLS to the origin inside it.
 * Only ever for a target the policy allowed; the upstream never changes that decision. Its
 * failures have their own codes (`upstream_proxy_*`), and its credentials go only to it.
 */
import { ipBytes } from "../policy/ip.ts";
import { ipaddrJs } from "../policy/ipaddr.ts";
import { isProxyError, ProxyError } from "../outcomes.ts";
import type { DialAddr, Resolver } from "../policy/decide.ts";
import type { UpstreamProxy } from "../policy/route.ts";
import { Conn, tlsConnHandlers } from "./conn.ts";
import { type ClientGone, dial, DialAbortedError, type UpstreamTls } from "./dial.ts";

export interface ThroughOptions {
  /** Deadline for everything (connect, handshakes), in ms. */
  readonly timeoutMs: number;
  readonly gone?: ClientGone | undefined;
  /** Resolves the upstream's own name (operator-configured: not subject to the policy). */
  readonly resolve: Resolver;
  /** Roots for an https:// upstream (the same public roots upstream TLS uses), plus its ca_file. */
  readonly roots: readonly string[];
}

/** Where to ask the upstream to connect: a name, or a vetted address. */
export interface Destination {
  readonly kind: "domain" | "ipv4" | "ipv6";
  readonly host: string;
  readonly port: number;
}

const MAX_CONNECT_REPLY = 16 * 1024;
const ALPN_HTTP11 = Buffer.from("\x08http/1.1", "latin1");

function proxyError(code: ConstructorParameters<typeof ProxyError>[0], message: string): ProxyError {
  return new ProxyError(code, message);
}

/** A connection to the upstream proxy itself. */
export async function dialProxy(up: UpstreamProxy, o: ThroughOptions): Promise<Conn> {
  let addrs: readonly DialAddr[];
  if (ipaddrJs().isValid(up.host)) addrs = [{ kind: up.host.includes(":") ? "ipv6" : "ipv4", host: up.host }];
  else {
    try {
      addrs = await o.resolve(up.host);
    } catch (e) {
      throw proxyError("upstream_proxy_unreachable", `cannot resolve the upstream proxy ${up.label}: ${(e as Error).message}`);
    }
  }
  const tls: UpstreamTls | undefined = up.scheme === "https" ? { serverName: up.host, ca: [...o.roots, ...up.ca] } : undefined;
  try {
    return await dial(addrs, up.port, { timeoutMs: o.timeoutMs, label: "upstream proxy", tls, gone: o.gone });
  } catch (e) {
    if (e instanceof DialAbortedError || !isProxyError(e)) throw e;
    if (e.code === "upstream_timeout" || e.code === "upstream_tls") throw proxyError(e.code, `the upstream proxy ${up.label}: ${e.message}`);
    throw proxyError("upstream_proxy_unreachable", `the upstream proxy ${up.label}: ${e.message}`);
  }
}

/** A tunnel to `to` through the upstream, ready for the client's bytes (or for `startTls`). */
export async function dialThrough(up: UpstreamProxy, to: Destination, o: ThroughOptions): Promise<Conn> {
  const deadline = performance.now() + o.timeoutMs;
  const conn = await dialProxy(up, o);
  const left = () => Math.max(1, deadline - performance.now());
  try {
    if (up.scheme === "socks5" || up.scheme === "socks5h") await socksConnect(conn, up, to, left, o.gone);
    else await httpConnect(conn, up, to, left(), o.gone);
    return conn;
  } catch (e) {
    conn.destroy(true);
    throw e;
  }
}

function authority(to: Destination): string {
  return to.kind === "ipv6" ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
}

/** `Basic base64(user:password)`, for Proxy-Authorization to the upstream. */
export function basicAuth(up: UpstreamProxy): string | null {
  return up.auth ? `Basic ${Buffer.from(`${up.auth.username}:${up.auth.password.reveal()}`).toString("base64")}` : null;
}

/**
 * Read from `conn` until `complete` says how many bytes make the reply (-1: not yet); what
 * follows is held for the connection's next owner.
 */
function readReply(conn: Conn, complete: (b: Buffer) => number, ms: number, gone: ClientGone | undefined, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, reply?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      gone?.listen(null);
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(proxyError("upstream_timeout", `no ${what} within the connect time-out`)), ms);
    gone?.listen(() => finish(new DialAbortedError("the client went away while connecting")));
    conn.onClose = () => finish(proxyError("upstream_proxy_unreachable", `the upstream proxy closed the connection before its ${what}`));
    conn.onEnd = conn.onClose;
    conn.listen((chunk) => {
      if (done) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let n: number;
      try {
        n = complete(buf);
      } catch (e) {
        return finish(e as Error);
      }
      if (n < 0) return;
      conn.hold(buf.subarray(n));
      conn.onClose = () => {};
      conn.onEnd = () => {};
      finish(null, buf.subarray(0, n));
    });
  });
}

async function httpConnect(conn: Conn, up: UpstreamProxy, to: Destination, ms: number, gone: ClientGone | undefined): Promise<void> {
  const a = authority(to);
  const auth = basicAuth(up);
  conn.write(Buffer.from(`CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`, "latin1"));
  const head = await readReply(
    conn,
    (b) => {
      const end = b.indexOf("\r\n\r\n");
      if (end >= 0) return end + 4;
      if (b.length > MAX_CONNECT_REPLY)
        throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} sent a CONNECT answer over ${MAX_CONNECT_REPLY} bytes`);
      return -1;
    },
    ms,
    gone,
    "answer to CONNECT",
  );
  const line = head.toString("latin1").split("\r\n", 1)[0]!;
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
  if (!m) throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} answered CONNECT with something that is not HTTP`);
  const status = Number(m[1]);
  if (status >= 200 && status < 300) return;
  const shown = line.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
  if (status === 407) {
    throw proxyError(
      "upstream_proxy_auth_failed",
      up.auth
        ? `the upstream proxy ${up.label} refused our credentials (${shown})`
        : `the upstream proxy ${up.label} asks for credentials (${shown}); set [network_proxy.upstream] username and password_env`,
    );
  }
  throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} refused CONNECT ${a}: ${shown}`);
}

const SOCKS_REPLY_ERRORS: Readonly<Record<number, [ConstructorParameters<typeof ProxyError>[0], string]>> = {
  1: ["upstream_proxy_refused", "general failure"],
  2: ["upstream_proxy_refused", "connection not allowed by its rules"],
  3: ["upstream_unreachable", "network unreachable"],
  4: ["upstream_host_unreachable", "host unreachable"],
  5: ["upstream_refused", "connection refused"],
  6: ["upstream_timeout", "TTL expired"],
  7: ["upstream_proxy_refused", "command not supported"],
  8: ["upstream_proxy_refused", "address type not supported"],
};

async function socksConnect(conn: Conn, up: UpstreamProxy, to: Destination, left: () => number, gone: ClientGone | undefined): Promise<void> {
  const exact = (n: number) => (b: Buffer) => (b.length >= n ? n : -1);
  conn.write(Uint8Array.of(5, 1, up.auth ? 2 : 0));
  const choice = await readReply(conn, exact(2), left(), gone, "SOCKS5 method choice");
  if (choice[0] !== 5) throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} does not speak SOCKS5`);
  if (choice[1] !== (up.auth ? 2 : 0)) {
    if (choice[1] === 0xff && up.auth)
      throw proxyError("upstream_proxy_auth_failed", `the upstream proxy ${up.label} refused username/password authentication`);
    if (choice[1] === 2 || choice[1] === 0xff) {
      throw proxyError(
        "upstream_proxy_auth_failed",
        `the upstream proxy ${up.label} asks for credentials; set [network_proxy.upstream] username and password_env`,
      );
    }
    throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} chose SOCKS5 method ${choice[1]}, which we did not offer`);
  }
  if (up.auth) {
    const user = Buffer.from(up.auth.username);
    const pass = Buffer.from(up.auth.password.reveal());
    if (user.length > 255 || pass.length > 255) throw proxyError("upstream_proxy_auth_failed", "SOCKS5 usernames and passwords are at most 255 bytes");
    conn.write(Buffer.concat([Uint8Array.of(1, user.length), user, Uint8Array.of(pass.length), pass]));
    const status = await readReply(conn, exact(2), left(), gone, "SOCKS5 authentication answer");
    if (status[1] !== 0) throw proxyError("upstream_proxy_auth_failed", `the upstream proxy ${up.label} refused our credentials`);
  }
  conn.write(socksConnectRequest(to));
  const reply = await readReply(
    conn,
    (b) => {
      if (b.length < 5) return -1;
      const len = b[3] === 1 ? 10 : b[3] === 4 ? 22 : b[3] === 3 ? 7 + b[4]! : 0;
      if (len === 0) throw proxyError("upstream_proxy_refused", `the upstream proxy ${up.label} sent a malformed SOCKS5 reply`);
      return b.length >= len ? len : -1;
    },
    left(),
    gone,
    "SOCKS5 reply",
  );
  const rep = reply[1]!;
  if (rep === 0) return;
  const [code, why] = SOCKS_REPLY_ERRORS[rep] ?? ["upstream_proxy_refused", `reply ${rep}`];
  throw proxyError(code, `the upstream proxy ${up.label} could not connect to ${authority(to)}: ${why}`);
}

/** TLS to the origin inside a tunnel through the upstream, verified like a direct connection. */
export function startTls(raw: Conn, tls: UpstreamTls, ms: number): Promise<Conn> {
  const sock = raw.sock!;
  const conn = new Conn("upstream");
  conn.remote = raw.remote;
  // The raw side now carries ciphertext: nothing of it is for anyone but the TLS layer.
  raw.onData = () => {};
  raw.onEnd = () => {};
  const [, tlsSock] = sock.upgradeTLS<Conn>({
    data: conn,
    tls: { serverName: tls.serverName, ca: [...tls.ca], rejectUnauthorized: true, ALPNProtocols: ALPN_HTTP11 },
    socket: tlsConnHandlers,
  });
  conn.sock = tlsSock;
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      conn.destroy(true);
      raw.destroy(true);
      reject(proxyError("upstream_tls", `TLS to ${tls.serverName} through the upstream proxy ${why}`));
    };
    const timer = setTimeout(() => fail("did not complete within the connect time-out"), ms);
    raw.onClose = () => conn.destroy(true);
    conn.onHandshake = (ok, err) => {
      conn.onHandshake = null;
      clearTimeout(timer);
      if (ok && err === null) return resolve(conn);
      fail(`failed verification: ${err?.message ?? "not authorized"}`);
    };
    conn.onClose = (err) => fail(`failed: ${err?.message ?? "connection closed during the handshake"}`);
  });
}

/**
 * A SOCKS5 CONNECT request for `to`, written into one buffer: version 5, CONNECT, reserved, the
 * address type and address (a name with its length byte, or 4 or 16 address bytes), the port.
 */
export function socksConnectRequest(to: Destination): Buffer {
  const name = to.kind === "domain";
  const host = name ? Buffer.from(to.host, "latin1") : ipBytes(to.kind, to.host);
  const req = Buffer.allocUnsafe(6 + (name ? 1 : 0) + host.length);
  req[0] = 5;
  req[1] = 1;
  req[2] = 0;
  req[3] = name ? 3 : to.kind === "ipv4" ? 1 : 4;
  let at = 4;
  if (name) req[at++] = host.length;
  req.set(host, at);
  at += host.length;
  req[at] = to.port >> 8;
  req[at + 1] = to.port & 255;
  return req;
}
