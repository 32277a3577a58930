/**
 * The tunnel module: what it does for CONNECT, SOCKS5 and upgrades alike. A reload that revokes
 * a target closes every open tunnel and kept-alive upstream to it (and records each); a dial gives
 * up as soon as its client goes away, within one deadline for all the target's addresses, and is
 * counted while it lasts.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import type { DialAddr } from "../../src/policy/decide.ts";
import { blackholeAddresses } from "../helpers/blackhole.ts";
import { HttpOrigin, RawOrigin } from "../helpers/origin.ts";
import { socks5Connect } from "../helpers/ops.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { RawClient } from "../helpers/raw.ts";
import { until } from "../helpers/until.ts";

const policy = (allowed: string[], denied: string[] = []) =>
  `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(allowed)}\ndenied_domains = ${JSON.stringify(denied)}\n`;

/** An origin that echoes every byte it gets (a stand-in for anything spoken inside a tunnel). */
function echo(): RawOrigin {
  return new RawOrigin((c) => {
    c.socket.data.onData = (buf) => {
      c.socket.write(buf);
      c.socket.data.buf = Buffer.alloc(0);
    };
  });
}

/** An HTTP origin that keeps connections alive and answers every request with "ok". */
function keepAlive(): RawOrigin {
  return new RawOrigin((c) => {
    c.socket.data.onData = (buf) => {
      if (buf.indexOf("\r\n\r\n") < 0) return;
      c.socket.data.buf = Buffer.alloc(0);
      c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    };
  });
}

async function reload(proxy: TestProxy, text: string): Promise<void> {
  writeFileSync(proxy.configPath, text);
  const r = await proxy.admin("/reload", { method: "POST" });
  expect(r.status).toBe(200);
}

async function roundTrip(c: RawClient, text: string): Promise<void> {
  c.send(text);
  expect((await c.bytes(text.length)).toString()).toBe(text);
}

describe("a reload that revokes a target closes what is open to it", () => {
  test("CONNECT, SOCKS5 and WebSocket tunnels, each recorded as closed by reload", async () => {
    using origin = echo();
    using ws = new HttpOrigin();
    await using proxy = await startProxy([], { configText: policy(["127.0.0.1", "localhost"]) });
    using connect = await RawClient.connect(proxy.port);
    connect.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect((await connect.response({ head: true })).status).toBe(200);
    await roundTrip(connect, "through CONNECT");
    const s = await socks5Connect(proxy.socksPort, "localhost", origin.port);
    using socks = s.client;
    expect(s.reply).toBe(0);
    await roundTrip(socks, "through SOCKS5");
    using upgrade = await RawClient.connect(proxy.port);
    upgrade.send(
      `GET http://127.0.0.1:${ws.port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${ws.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    expect((await upgrade.response()).status).toBe(101);
    expect(proxy.server.ctx.tunnels.open.size).toBe(3);

    // 127.0.0.1 stays allowed as a name target only through "localhost"; the literal is revoked.
    await reload(proxy, policy(["localhost"], ["127.0.0.1"]));
    await Promise.all([connect.closedPromise, socks.closedPromise, upgrade.closedPromise]);
    await until(() => proxy.server.ctx.tunnels.open.size === 0 && proxy.server.ctx.tunnels.slots.used === 0, "every tunnel and slot to go");
    const events = proxy.state.blocked.since(0).map((e) => [e.protocol, e.host, e.reason, e.explain.startsWith("closed by reload: ")]);
    expect(events).toEqual([
      ["http-connect", "127.0.0.1", "denied", true],
      ["socks5", "localhost", "denied", true],
      ["http", "127.0.0.1", "denied", true],
    ]);
    expect(proxy.log).toContain("closed tunnels the new policy blocks count=3");
  });

  test("a tunnel the new policy still allows stays open", async () => {
    using origin = echo();
    await using proxy = await startProxy([], { configText: policy(["127.0.0.1", "other.test"]) });
    using c = await RawClient.connect(proxy.port);
    c.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect((await c.response({ head: true })).status).toBe(200);
    await reload(proxy, policy(["127.0.0.1"]));
    await roundTrip(c, "still here");
    expect(proxy.state.blocked.since(0)).toEqual([]);
  });

  test("a kept-alive upstream to a revoked target is closed, and the next request on the connection is judged again", async () => {
    using origin = keepAlive();
    await using proxy = await startProxy([], { configText: policy(["127.0.0.1"]) });
    using c = await RawClient.connect(proxy.port);
    const get = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
    c.send(get);
    expect((await c.response()).status).toBe(200);
    expect(origin.connections - origin.closes).toBe(1); // kept alive for the next request
    await reload(proxy, policy(["localhost"]));
    await until(() => origin.closes === 1, "the kept-alive upstream to close");
    c.send(get);
    expect((await c.response()).status).toBe(403);
  });
});

describe("dials", () => {
  /** A name that resolves to 16 addresses, all black-holed: each connect attempt hangs. */
  const HOLES = 16;

  test("a client that leaves while its target's 16 black-holed addresses are being tried frees its slot at once", async () => {
    const hole = await blackholeAddresses(HOLES);
    using ok = echo();
    try {
      const resolver = async (name: string): Promise<DialAddr[]> => {
        if (name !== "hole.test") throw new Error("ENOTFOUND");
        return hole.addresses.map((host) => ({ kind: "ipv4", host }));
      };
      const config = [
        'network_proxy.policy.allowed_domains=["hole.test", "127.0.0.0/8"]',
        "network_proxy.limits.max_tunnels=4",
        "network_proxy.limits.connect_timeout_ms=60000",
      ];
      await using proxy = await startProxy(config, { resolver });
      const ctx = proxy.server.ctx;
      const waiting: RawClient[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await RawClient.connect(proxy.port);
        waiting.push(c);
        c.send(`CONNECT hole.test:${hole.port} HTTP/1.1\r\n\r\n`);
      }
      await until(() => ctx.tunnels.pendingDials === 4 && ctx.tunnels.slots.used === 4, "four dials to hang");
      expect((await (await proxy.admin("/metrics")).text()).match(/^cnp_(pending_dials|tunnel_slots) 4$/gm)).toEqual([
        "cnp_tunnel_slots 4",
        "cnp_pending_dials 4",
      ]);
      // Every client leaves: their dials are cancelled and their slots come back, long before connect_timeout_ms.
      for (const c of waiting) c[Symbol.dispose]();
      await until(() => ctx.tunnels.pendingDials === 0 && ctx.tunnels.slots.used === 0, "the dials to be cancelled");
      using c = await RawClient.connect(proxy.port);
      c.send(`CONNECT 127.0.0.1:${ok.port} HTTP/1.1\r\n\r\n`);
      expect((await c.response({ head: true })).status).toBe(200);
      const m = await (await proxy.admin("/metrics")).text();
      expect(m).toContain("cnp_pending_dials 0");
      expect(m).toContain("cnp_tunnel_slots 1");
    } finally {
      hole.stop();
    }
  });

  test("connect_timeout_ms bounds the whole connect, not each address", async () => {
    const hole = await blackholeAddresses(HOLES);
    try {
      const resolver = async (): Promise<DialAddr[]> => hole.addresses.map((host) => ({ kind: "ipv4", host }));
      await using proxy = await startProxy(
        ['network_proxy.policy.allowed_domains=["hole.test", "127.0.0.0/8"]', "network_proxy.limits.connect_timeout_ms=700"],
        { resolver },
      );
      using c = await RawClient.connect(proxy.port);
      c.send(`CONNECT hole.test:${hole.port} HTTP/1.1\r\n\r\n`);
      const r = await c.response();
      expect(r.status).toBe(504);
      expect(r.headers["x-proxy-error"]).toBe("upstream-timeout");
      expect(r.body.toString()).toContain(`connecting to ${HOLES} addresses of port ${hole.port} timed out after 700 ms`);
    } finally {
      hole.stop();
    }
  });
});
