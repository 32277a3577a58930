/**
 * The HTTP session's lifecycle under pressure: answers owed to a client that does not read, mode
 * switches while a request or an upgrade is in flight, half-closes, kept-alive upstreams that go
 * away or would outlive their client connection. Each test failed on the code before its fix.
 */
import { describe, expect, test } from "bun:test";
import { HIGH_WATER } from "../../../src/proxy/conn.ts";
import type { HttpSession } from "../../../src/proxy/http/session.ts";
import { HttpOrigin, RawOrigin, ScriptedOrigin } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { RawClient, rawRequest } from "../../helpers/raw.ts";
import { until } from "../../helpers/until.ts";

describe("HTTP session lifecycle", () => {
  test("pipelined blocked requests from a client that never reads: answers owed stay bounded, then all arrive", async () => {
    await using proxy = await startProxy(); // empty allowlist: everything is answered locally
    using c = await RawClient.connect(proxy.port);
    c.socket.pause(); // never read, for now
    const n = 20_000;
    const req = "GET http://x.test/ HTTP/1.1\r\nHost: x\r\n\r\n";
    let maxQueued = 0;
    const session = () => [...proxy.server.ctx.sessions][0] as HttpSession | undefined;
    for (let i = 0; i < n; i += 500) {
      c.send(req.repeat(500));
      await Bun.sleep(0);
      maxQueued = Math.max(maxQueued, session()?.client.queuedBytes ?? 0);
    }
    await until(() => (session()?.client.queuedBytes ?? 0) > HIGH_WATER, "the proxy to stop answering");
    const held = session()!.client.queuedBytes;
    expect(held).toBeLessThan(HIGH_WATER + 64 * 1024);
    expect(maxQueued).toBeLessThan(HIGH_WATER + 64 * 1024);
    c.socket.resume();
    let got = 0;
    while (got < n) {
      expect((await c.response()).status).toBe(403);
      got++;
    }
  }, 60_000);

  test("a mode switch to limited refuses an upgrade whose 101 arrives after it", async () => {
    let answer: (() => void) | null = null;
    using origin = new ScriptedOrigin((_req, s) => {
      answer = () => void s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      return null;
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/ws")} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    await until(() => answer !== null, "the upgrade to reach the origin");
    proxy.state.setMode("limited");
    answer!();
    const r = await c.response();
    expect(r.status).toBe(502);
    expect(r.body.toString()).toContain("switched to limited mode");
    expect(proxy.server.ctx.tunnels.slots.used).toBe(0);
    expect(proxy.server.ctx.tunnels.open.size).toBe(0);
  });

  test("a mode switch to limited cuts off an in-flight full-mode upload", async () => {
    using origin = new RawOrigin((c) => {
      c.socket.data.onData = () => {};
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`POST http://127.0.0.1:${origin.port}/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await until(() => origin.bytesReceived > 0, "the upload to start");
    proxy.state.setMode("limited");
    await until(() => origin.closes === 1, "the upstream to be cut off");
    const r = await c.response();
    expect(r.status).toBe(502);
  });

  test("a client that half-closes while its upgrade is pending gives the tunnel slot back", async () => {
    using origin = new ScriptedOrigin(() => null);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/ws")} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 10\r\n\r\n`);
    await until(() => proxy.server.ctx.tunnels.slots.used === 1, "the upgrade to take a tunnel slot");
    c.socket.shutdown();
    await until(() => proxy.server.ctx.tunnels.slots.used === 0, "the slot to be released");
    c[Symbol.dispose]();
  });

  test("a kept-alive upstream is closed when the client connection becomes a CONNECT tunnel", async () => {
    using tunnelTarget = new RawOrigin(() => {});
    using counting = new RawOrigin((c) => {
      c.socket.data.onData = (all) => {
        if (all.indexOf("\r\n\r\n") >= 0) c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        c.socket.data.buf = Buffer.alloc(0);
      };
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET http://127.0.0.1:${counting.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    c.send(`CONNECT 127.0.0.1:${tunnelTarget.port} HTTP/1.1\r\n\r\n`);
    await c.bytes(39);
    await until(() => counting.closes === 1, "the kept-alive upstream to be closed");
  });

  test("a kept-alive upstream that closes (FIN) instead of answering: GET is retried once on a fresh connection, POST is not", async () => {
    const served = new Set<number>();
    using origin = new ScriptedOrigin((req, s) => {
      if (served.has(req.connection)) {
        s.end(); // a second request on a kept-alive connection: close without answering
        return null;
      }
      served.add(req.connection);
      return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/1")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    c.send(`GET ${origin.url("/2")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200); // retried on connection 2
    expect(origin.connections).toBe(2);
    c.send(`POST ${origin.url("/3")} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    const post = await c.response();
    expect(post.status).toBe(502);
    expect(post.headers["x-proxy-error"]).toBe("upstream-closed");
    expect(origin.connections).toBe(2);
  });

  test("method overrides spelled with underscores are refused in limited mode", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.mode=limited"]);
    const r = await rawRequest(proxy.port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nX_HTTP_Method_Override: DELETE\r\n\r\n`);
    expect(r.status).toBe(403);
  });

  test("CONNECT followed at once by FIN: the tunnel closes instead of lingering", async () => {
    using origin = new RawOrigin(() => {});
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const c = await RawClient.connect(proxy.port);
    c.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    c.socket.shutdown();
    await until(() => origin.closes === 1 || origin.connections === 0, "the upstream side to close");
    await until(() => proxy.server.ctx.tunnels.slots.used === 0, "the tunnel slot to be released");
    c[Symbol.dispose]();
  });
});
