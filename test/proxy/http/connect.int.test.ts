import { describe, expect, test } from "bun:test";
import type { DialAddr } from "../../../src/policy/decide.ts";
import { lateReplyOrigin, sendThenHalfClose } from "../../helpers/halfclose.ts";
import { HttpOrigin, RawOrigin } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { curl, RawClient, rawRequest } from "../../helpers/raw.ts";
import { freePort } from "../../helpers/ops.ts";

/** An echo origin: whatever a connection sends comes back. */
function echoOrigin(): RawOrigin {
  return new RawOrigin((c) => {
    c.socket.data.onData = (all) => {
      c.socket.write(all);
      c.socket.data.buf = Buffer.alloc(0);
    };
  });
}

describe("CONNECT tunnels", () => {
  test("curl -p through a CONNECT tunnel", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const r = await curl(["-p", "-x", proxy.url, origin.url("/echo?t=1")]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: "/echo?t=1" });
  });

  test("200 only after the upstream is connected; early data and both directions relayed", async () => {
    using origin = echoOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\nearly-bytes`);
    const head = await c.bytes("HTTP/1.1 200 Connection Established\r\n\r\n".length);
    expect(head.toString()).toBe("HTTP/1.1 200 Connection Established\r\n\r\n");
    expect((await c.bytes(11)).toString()).toBe("early-bytes");
    c.send("ping");
    expect((await c.bytes(4)).toString()).toBe("ping");
    expect(origin.connections).toBe(1);
    expect(proxy.state.metrics.tunnels.get()).toBe(1);
  });

  test("half-close: after the client's FIN the origin's late answer still comes back", async () => {
    using origin = lateReplyOrigin();
    const port = await origin.port;
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const established = "HTTP/1.1 200 Connection Established\r\n\r\n";
    const r = await sendThenHalfClose(proxy.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`, established.length, "question");
    expect(r.ack.toString()).toBe(established);
    expect(r.rest).toBe("late:question");
  });

  test("IPv6 literal targets in brackets", async () => {
    const l = Bun.listen({ hostname: "::1", port: 0, socket: { data: (s, d) => void s.write(d) } });
    try {
      await using proxy = await startProxy([ALLOW_LOOPBACK]);
      using c = await RawClient.connect(proxy.port);
      c.send(`CONNECT [::1]:${l.port} HTTP/1.1\r\n\r\nv6`);
      expect((await c.bytes(39)).toString()).toBe("HTTP/1.1 200 Connection Established\r\n\r\n");
      expect((await c.bytes(2)).toString()).toBe("v6");
    } finally {
      l.stop(true);
    }
  });

  test("blocked CONNECT: 403 text with the original's message, x-proxy-error, recorded, nothing dialed", async () => {
    using origin = echoOrigin();
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["allowed.test"]', 'network_proxy.policy.denied_domains=["evil.test"]']);
    const cases: Array<[string, string, string]> = [
      [`127.0.0.1:${origin.port}`, "blocked-by-allowlist", "Codex blocked this request: local/private addresses not allowed."],
      ["evil.test:443", "blocked-by-denylist", "Codex blocked this request: domain denied by policy."],
      ["other.test:443", "blocked-by-allowlist", "Codex blocked this request: domain not in allowlist."],
    ];
    for (const [authority, header, message] of cases) {
      const r = await rawRequest(proxy.port, `CONNECT ${authority} HTTP/1.1\r\n\r\n`);
      expect(r.status).toBe(403);
      expect(r.headers["x-proxy-error"]).toBe(header);
      expect(r.headers["content-type"]).toBe("text/plain");
      const [first, why] = r.body.toString().split("\n");
      expect(first).toBe(message);
      expect(why).toStartWith("Why: ");
    }
    expect(origin.connections).toBe(0);
    expect(proxy.state.blocked.since(0).map((e) => [e.method, e.protocol, e.mode])).toEqual([
      ["CONNECT", "http-connect", null],
      ["CONNECT", "http-connect", null],
      ["CONNECT", "http-connect", null],
    ]);
  });

  test("limited mode without MITM: mitm_required, after the target policy", async () => {
    using origin = echoOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.mode=limited"]);
    const r = await rawRequest(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect(r.status).toBe(403);
    expect(r.headers["x-proxy-error"]).toBe("blocked-by-mitm-required");
    expect(r.body.toString()).toBe(
      "Codex blocked this request: MITM required for limited HTTPS.\n" +
        "Why: limited mode allows HTTPS only through MITM, which is off\n" +
        "To allow it: limited mode inspects HTTPS; the proxy's operator can enable [network_proxy.mitm] (and clients must trust its CA)\n",
    );
    expect(proxy.state.blocked.since(0)[0]).toMatchObject({ reason: "mitm_required", mode: "limited", method: "CONNECT", protocol: "http-connect" });
    const other = await rawRequest(proxy.port, "CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n");
    expect(other.headers["x-proxy-error"]).toBe("blocked-by-allowlist");
    expect(origin.connections).toBe(0);
  });

  test("malformed CONNECT targets are 400 with the reason", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    for (const t of ["127.0.0.1", "[::1]", "2001:db8::1:443", "[example.com]:443", "a.com:0", "a.com:65979", "a.com:https", "user@a.com:443", "/path"]) {
      const r = await rawRequest(proxy.port, `CONNECT ${t} HTTP/1.1\r\n\r\n`);
      expect(`${t} ${r.status} ${r.headers["x-proxy-error"]}`).toBe(`${t} 400 bad-target`);
    }
  });

  test("upstream refused is 502 upstream-refused with the cause in the body", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const port = freePort(); // nothing listens there
    const r = await rawRequest(proxy.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
    expect(r.status).toBe(502);
    expect(r.headers["x-proxy-error"]).toBe("upstream-refused");
    expect(r.body.toString()).toContain(`connecting to 127.0.0.1:${port} failed: ECONNREFUSED`);
    const plain = await rawRequest(proxy.port, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(plain).toMatchObject({ status: 502, headers: { "x-proxy-error": "upstream-refused" } });
  });

  test("DNS failure of an allowed name is 502 dns-failed; a resolver time-out is 504 dns-timeout", async () => {
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["does-not-exist.invalid"]']);
    const r = await rawRequest(proxy.port, "CONNECT does-not-exist.invalid:443 HTTP/1.1\r\n\r\n");
    expect(r.status).toBe(502);
    expect(r.headers["x-proxy-error"]).toBe("dns-failed");
    expect(r.body.toString()).toContain("failing closed");
    const hang = () => new Promise<readonly DialAddr[]>(() => {});
    await using slow = await startProxy(['network_proxy.policy.allowed_domains=["slow.test"]', "network_proxy.limits.dns_timeout_ms=100"], { resolver: hang });
    const t = await rawRequest(slow.port, "GET http://slow.test/ HTTP/1.1\r\nHost: slow.test\r\n\r\n");
    expect(t.status).toBe(504);
    expect(t.headers["x-proxy-error"]).toBe("dns-timeout");
  });

  test("a name resolving to a private address is blocked even when allowlisted (pinned check)", async () => {
    using origin = echoOrigin();
    const resolver = async () => [{ kind: "ipv4", host: "127.0.0.1" }] as DialAddr[];
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["rebind.test"]'], { resolver });
    const r = await rawRequest(proxy.port, `CONNECT rebind.test:${origin.port} HTTP/1.1\r\n\r\n`);
    expect(r.status).toBe(403);
    expect(r.headers["x-proxy-error"]).toBe("blocked-by-allowlist");
    expect(origin.connections).toBe(0);
  });

  test("the dialer uses the vetted address, never the name", async () => {
    using origin = echoOrigin();
    let lookups = 0;
    const resolver = async () => {
      lookups++;
      return [{ kind: "ipv4", host: "127.0.0.1" }] as DialAddr[];
    };
    // allowlisting the CIDR makes the private answer acceptable; "pinned.invalid" itself never resolves
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["pinned.invalid", "127.0.0.0/8"]'], { resolver });
    using c = await RawClient.connect(proxy.port);
    c.send(`CONNECT pinned.invalid:${origin.port} HTTP/1.1\r\n\r\nx`);
    expect((await c.bytes(40)).toString()).toBe("HTTP/1.1 200 Connection Established\r\n\r\nx");
    expect(lookups).toBe(1);
  });
});
