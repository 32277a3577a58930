/**
 * When an upstream or a client fails in the middle of an exchange: each failure must end in a
 * clear error for the one connection affected and nothing else. Every test keeps a healthy
 * kept-alive client working across the failure.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { DialAddr } from "../../../src/policy/decide.ts";
import { ProxyProcess } from "../../helpers/cli.ts";
import { HttpOrigin, patternSha, RawOrigin, ScriptedOrigin, streamingOrigin } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { RawClient, rawRequest } from "../../helpers/raw.ts";
import { until } from "../../helpers/until.ts";
import { freePort } from "../../helpers/ops.ts";
import { bystander } from "../../helpers/bystander.ts";

describe("upstream faults", () => {
  test("refused: 502 upstream-refused", async () => {
    using healthy = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using b = await bystander(proxy, healthy);
    const port = freePort(); // nothing listens there
    expect(await rawRequest(proxy.port, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatchObject({
      status: 502,
      headers: { "x-proxy-error": "upstream-refused" },
    });
    await b.check();
  });

  test("reset in the middle of a body: the client sees a broken connection, never a short body passed off as complete", async () => {
    using healthy = new HttpOrigin();
    using bad = new ScriptedOrigin((_req, s) => {
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000));
      queueMicrotask(() => s.terminate());
      return null;
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using b = await bystander(proxy, healthy);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${bad.url("/")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await expect(c.response()).rejects.toThrow(/closed after \d+ of 100000 bytes/);
    await b.check();
  });

  test("stalls before answering (504) and in the middle of a body (cut off)", async () => {
    using healthy = new HttpOrigin();
    using stall = new ScriptedOrigin((req, s) => {
      if (req.target === "/mid") s.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial");
      return null;
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.response_timeout_ms=300"]);
    using b = await bystander(proxy, healthy);
    expect(await rawRequest(proxy.port, `GET ${stall.url("/before")} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatchObject({
      status: 504,
      headers: { "x-proxy-error": "upstream-timeout" },
    });
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${stall.url("/mid")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await expect(c.response()).rejects.toThrow(/closed after 7 of 100000 bytes/);
    expect(proxy.log).toContain("the response stalled for 300 ms");
    await b.check();
  });

  test("garbage and an oversized head: 502 upstream-bad-response", async () => {
    using healthy = new HttpOrigin();
    let n = 0;
    using bad = new ScriptedOrigin(() => (n++ === 0 ? "\x00\x01garbage\r\n\r\n" : `HTTP/1.1 200 OK\r\nX-Huge: ${"h".repeat(100_000)}\r\n\r\n`));
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using b = await bystander(proxy, healthy);
    for (let i = 0; i < 2; i++) {
      expect(await rawRequest(proxy.port, `GET ${bad.url(`/${i}`)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatchObject({
        status: 502,
        headers: { "x-proxy-error": "upstream-bad-response" },
      });
    }
    await b.check();
  });

  test("DNS that never answers: 504 dns-timeout after dns_timeout_ms", async () => {
    using healthy = new HttpOrigin();
    const resolver = (name: string): Promise<readonly DialAddr[]> => (name === "slow.test" ? new Promise(() => {}) : Promise.resolve([]));
    await using proxy = await startProxy(
      [ALLOW_LOOPBACK, 'network_proxy.policy.allowed_domains=["127.0.0.1", "slow.test"]', "network_proxy.limits.dns_timeout_ms=200"],
      { resolver },
    );
    using b = await bystander(proxy, healthy);
    expect(await rawRequest(proxy.port, "GET http://slow.test/ HTTP/1.1\r\nHost: x\r\n\r\n")).toMatchObject({
      status: 504,
      headers: { "x-proxy-error": "dns-timeout" },
    });
    await b.check();
  });
});

describe("client faults", () => {
  test("a client that disappears in the middle of an upload: the upstream connection is dropped too", async () => {
    using healthy = new HttpOrigin();
    using origin = new RawOrigin((c) => {
      c.socket.data.onData = () => {};
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using b = await bystander(proxy, healthy);
    const c = await RawClient.connect(proxy.port);
    c.send(`POST http://127.0.0.1:${origin.port}/up HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`);
    c.send(Buffer.alloc(1_000_000, 1));
    await until(() => origin.bytesReceived > 500_000, "the upload to reach the origin");
    c.socket.terminate();
    await until(() => origin.closes === 1, "the upstream connection to be dropped");
    expect(proxy.server.ctx.connections).toBe(1); // the bystander
    await b.check();
  });

  test("a client that stops sending its body: 408 body-timeout after idle_timeout_ms", async () => {
    using healthy = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.limits.idle_timeout_ms=300"]);
    const r = await rawRequest(proxy.port, `POST ${healthy.url("/echo")} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part`);
    expect(r.status).toBe(408);
    expect(r.headers["x-proxy-error"]).toBe("body-timeout");
    // (idle keep-alive connections are closed by the same time-out, so check others with a fresh one)
    expect((await rawRequest(proxy.port, `GET ${healthy.url("/echo")} HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(200);
  });

  test("a slow reader of a 1 GiB plain-HTTP download: bounded proxy memory, every byte delivered", async () => {
    const total = 1024 * 1024 * 1024;
    await using p = await ProxyProcess.start({ config: ['network_proxy.policy.allowed_domains=["127.0.0.1"]'] });
    const port = p.http;
    using origin = streamingOrigin(total, { head: `HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`, onRequest: true });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.proc.pid}/status`, "utf8"))![1]);
    const hasher = new Bun.CryptoHasher("sha256");
    let got = 0;
    let headSeen = false;
    const { promise, resolve } = Promise.withResolvers<void>();
    const s = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, d) {
          if (!headSeen) {
            const end = d.indexOf("\r\n\r\n");
            headSeen = true;
            d = d.subarray(end + 4);
          }
          got += d.length;
          hasher.update(d);
          if (got >= total) resolve();
        },
      },
    });
    s.write(`GET http://127.0.0.1:${origin.port}/big HTTP/1.1\r\nHost: x\r\n\r\n`);
    await until(() => got > 1_000_000, "the download to start");
    const before = rss();
    s.pause(); // the slow reader stops reading for a while
    await until(() => origin.state.blocked, "the origin to be backpressured", 20_000);
    const held = rss();
    s.resume();
    await promise;
    expect(hasher.digest("hex")).toBe(patternSha(total));
    expect(held - before).toBeLessThan(32 * 1024);
    s.end();
  }, 120_000);
});
