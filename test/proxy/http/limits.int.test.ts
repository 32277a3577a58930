import { describe, expect, test } from "bun:test";
import { HttpOrigin, RawOrigin } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { RawClient, rawRequest } from "../../helpers/raw.ts";
import { blackholePort } from "../../helpers/blackhole.ts";
import { until } from "../../helpers/until.ts";

describe("time-outs", () => {
  test("head time-out (slowloris): 408 and close", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.head_timeout_ms=300"]);
    using c = await RawClient.connect(proxy.port);
    c.send("GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const r = await c.response();
    expect(r.status).toBe(408);
    expect(r.headers["x-proxy-error"]).toBe("head-timeout");
    await c.closedPromise;
  });

  test("a connection that never sends anything is closed after the head time-out", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.head_timeout_ms=200"]);
    using c = await RawClient.connect(proxy.port);
    await c.closedPromise;
    expect(c.buffered.length).toBe(0);
  });

  test("idle keep-alive connections are closed after idle_timeout_ms", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.idle_timeout_ms=250"]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    const t0 = performance.now();
    await c.closedPromise;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
  });

  test("an upstream that never answers is 504 after response_timeout_ms", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.response_timeout_ms=300"]);
    const r = await rawRequest(proxy.port, `GET ${origin.url("/never")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.status).toBe(504);
    expect(r.headers["x-proxy-error"]).toBe("upstream-timeout");
    expect(r.body.toString()).toContain("no response from upstream within 300 ms");
  });

  test("an upstream that does not accept is 504 after connect_timeout_ms", async () => {
    const hole = await blackholePort();
    try {
      await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.connect_timeout_ms=300"]);
      const r = await rawRequest(proxy.port, `CONNECT 127.0.0.1:${hole.port} HTTP/1.1\r\n\r\n`);
      expect(r.status).toBe(504);
      expect(r.headers["x-proxy-error"]).toBe("upstream-timeout");
      expect(r.body.toString()).toContain("timed out after 300 ms");
    } finally {
      hole.stop();
    }
  });

  test("idle tunnels are closed after tunnel_idle_timeout_ms", async () => {
    using origin = new RawOrigin(() => {});
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.tunnel_idle_timeout_ms=300"]);
    using c = await RawClient.connect(proxy.port);
    c.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    await c.bytes(39);
    await c.closedPromise;
    expect(proxy.log).toContain("closing idle tunnel");
    expect(proxy.server.ctx.tunnels.slots.used).toBe(0);
  });
});

describe("caps", () => {
  test("max_connections: the connection over the cap gets 503 and a close", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.max_connections=2"]);
    using a = await RawClient.connect(proxy.port);
    using b = await RawClient.connect(proxy.port);
    using c = await RawClient.connect(proxy.port);
    const r = await c.response();
    expect(r.status).toBe(503);
    expect(r.headers["x-proxy-error"]).toBe("too-many-connections");
    await c.closedPromise;
    expect(a.closed || b.closed).toBe(false);
    a.socket.end();
    await until(() => proxy.server.ctx.connections < 2, "the proxy to see the close");
    // a slot is free again
    using d = await RawClient.connect(proxy.port);
    d.send("GET http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await d.response()).status).toBe(403);
  });

  test("max_tunnels: the tunnel over the cap gets 503", async () => {
    using origin = new RawOrigin(() => {});
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.max_tunnels=1"]);
    using a = await RawClient.connect(proxy.port);
    a.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    await a.bytes(39);
    const r = await rawRequest(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect(r.status).toBe(503);
    expect(r.headers["x-proxy-error"]).toBe("too-many-tunnels");
    a.socket.end();
    await until(() => proxy.server.ctx.tunnels.slots.used === 0, "the tunnel slot to be released");
    using b = await RawClient.connect(proxy.port);
    b.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect((await b.bytes(39)).toString()).toContain("200");
  });

  test("head size, request-line length and header count limits: 431, 414, 431", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.max_head_bytes=2048", "network_proxy.limits.max_headers=10"]);
    const big = await rawRequest(proxy.port, `GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`);
    expect(big).toMatchObject({ status: 431, headers: { "x-proxy-error": "head-too-large" } });
    const uri = await rawRequest(proxy.port, `GET http://127.0.0.1/${"a".repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(uri).toMatchObject({ status: 414, headers: { "x-proxy-error": "uri-too-long" } });
    const many = await rawRequest(proxy.port, `GET http://127.0.0.1/ HTTP/1.1\r\n${Array.from({ length: 11 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`);
    expect(many).toMatchObject({ status: 431 });
  });

  test("a client that sends an endless head without a line end is cut off at the cap", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.max_head_bytes=4096"]);
    using c = await RawClient.connect(proxy.port);
    for (let i = 0; i < 10 && !c.closed; i++) c.send("a".repeat(1024));
    const r = await c.response();
    expect(r.status).toBe(414);
  });
});

describe("connection slots", () => {
  test("a connection whose set-up throws gives its slot back and the failure is logged", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.max_connections=2"]);
    const env = proxy.server.ctx;
    const track = env.track.bind(env);
    let fail = 3;
    // The set-up step after the slot is taken throws for the next three connections.
    env.track = (s) => {
      if (fail-- > 0) throw new Error("set-up exploded");
      track(s);
    };
    for (let i = 0; i < 3; i++) {
      using c = await RawClient.connect(proxy.port);
      await c.closedPromise;
    }
    await until(() => env.connections === 0, "every slot to come back");
    expect(proxy.log).toContain('connection set-up failed listener="HTTP proxy" error="set-up exploded"');
    const r = await rawRequest(proxy.port, "GET http://not-allowed.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(r.status).toBe(403);
  });
});
