import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpOrigin, pattern, patternSha, ScriptedOrigin, sha256, type EchoReply } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { curl, RawClient, rawRequest } from "../../helpers/raw.ts";

describe("plain HTTP forwarding", () => {
  test("curl through the proxy: origin-form upstream, Host rewritten, hop-by-hop headers removed", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const r = await curl([
      "-x",
      proxy.url,
      "-H",
      "Connection: keep-alive, X-Secret, X_Other, y_token",
      "-H",
      "X-Secret: leak",
      "-H",
      "X_Other: leak",
      "-H",
      "Y-Token: leak",
      "-H",
      "Proxy-Authorization: Basic dTpw",
      "-H",
      "Proxy_Authorization: Basic dTpw",
      "-H",
      "Keep-Alive: timeout=5",
      "-H",
      "TE: trailers",
      "-H",
      "X-Kept: yes",
      origin.url("/echo?q=1"),
    ]);
    expect(r.code).toBe(0);
    const echo = JSON.parse(r.stdout) as EchoReply;
    expect(echo.method).toBe("GET");
    expect(echo.path).toBe("/echo?q=1");
    expect(echo.headers["host"]).toBe(`127.0.0.1:${origin.port}`);
    expect(echo.headers["x-kept"]).toBe("yes");
    // Names in Connection and header names fold `_` to `-` alike (servers treat them as one).
    for (const h of ["x-secret", "x_other", "y-token", "proxy-authorization", "proxy_authorization", "keep-alive", "te", "proxy-connection"])
      expect(echo.headers[h]).toBeUndefined();
  });

  test("absolute-form authority wins over a mismatching Host header (catalogue D37)", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const res = await rawRequest(proxy.port, `GET http://127.0.0.1:${origin.port}/echo HTTP/1.1\r\nHost: evil.example\r\n\r\n`);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body.toString()) as EchoReply).headers["host"]).toBe(`127.0.0.1:${origin.port}`);
  });

  test("origin-form with a Host header is proxied like the original does", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const res = await rawRequest(proxy.port, `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(await rawRequest(proxy.port, "GET /echo HTTP/1.1\r\n\r\n")).toMatchObject({ status: 400, headers: { "x-proxy-error": "bad-request" } });
  });

  test("keep-alive: many requests on one client connection reuse one upstream connection", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    for (let i = 0; i < 5; i++) {
      c.send(`GET ${origin.url(`/echo?i=${i}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const res = await c.response();
      expect(res.status).toBe(200);
      expect((JSON.parse(res.body.toString()) as EchoReply).path).toBe(`/echo?i=${i}`);
    }
    expect(origin.requests).toBe(5);
    expect(origin.clientPorts.size).toBe(1);
  });

  test("pipelined requests are judged one by one and answered in order", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(
      `GET ${origin.url("/echo?n=1")} HTTP/1.1\r\nHost: a\r\n\r\n` +
        `GET http://10.1.2.3/ HTTP/1.1\r\nHost: b\r\n\r\n` +
        `POST ${origin.url("/echo?n=3")} HTTP/1.1\r\nHost: c\r\nContent-Length: 5\r\n\r\nhello` +
        `GET ${origin.url("/echo?n=4")} HTTP/1.1\r\nHost: d\r\n\r\n`,
    );
    const r1 = await c.response();
    const r2 = await c.response();
    const r3 = await c.response();
    const r4 = await c.response();
    expect((JSON.parse(r1.body.toString()) as EchoReply).path).toBe("/echo?n=1");
    expect(r2.status).toBe(403);
    expect(JSON.parse(r2.body.toString())).toMatchObject({ status: "blocked", host: "10.1.2.3", reason: "not_allowed_local" });
    expect(JSON.parse(r3.body.toString())).toMatchObject({ method: "POST", path: "/echo?n=3", bodyLength: 5 });
    expect((JSON.parse(r4.body.toString()) as EchoReply).path).toBe("/echo?n=4");
    expect(origin.requests).toBe(3);
  });

  test("fixed and chunked request bodies arrive intact (curl uploads)", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const dir = mkdtempSync(join(tmpdir(), "cnp-body-"));
    const data = pattern(7, 3 * 1024 * 1024 + 17);
    writeFileSync(join(dir, "body"), data);
    const fixed = await curl(["-x", proxy.url, "--data-binary", `@${join(dir, "body")}`, origin.url("/echo")]);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ method: "POST", bodyLength: data.length, bodySha256: sha256(data) });
    const chunked = await curl(["-x", proxy.url, "-H", "Transfer-Encoding: chunked", "--data-binary", `@${join(dir, "body")}`, origin.url("/echo")]);
    expect(JSON.parse(chunked.stdout)).toMatchObject({ bodyLength: data.length, bodySha256: sha256(data) });
  });

  test("fixed and streamed response bodies arrive intact", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    for (const size of [0, 1, 250, 251, 65_536, 1_048_577]) {
      c.send(`GET ${origin.url(`/bytes/${size}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const fixed = await c.response();
      expect(fixed.headers["content-length"]).toBe(String(size));
      expect(sha256(fixed.body)).toBe(patternSha(size));
      c.send(`GET ${origin.url(`/chunked/${size}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(sha256((await c.response()).body)).toBe(patternSha(size));
    }
  });

  test("chunked responses (extensions, trailers, odd splits) are relayed byte for byte", async () => {
    const chunked = "5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\n\r\n";
    using origin = new ScriptedOrigin(() => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    for (let i = 0; i < 3; i++) {
      c.send(`GET ${origin.url("/")} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      expect(r.headers["transfer-encoding"]).toBe("chunked");
      expect(r.body.toString()).toBe("hello 0123456789");
    }
    expect(origin.connections).toBe(1);
  });

  test("a request sent one byte at a time is parsed correctly", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    const req = `POST ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n`;
    for (const ch of req) {
      c.send(ch);
      await Bun.sleep(0);
    }
    expect(JSON.parse((await c.response()).body.toString())).toMatchObject({ bodyLength: 5, bodySha256: sha256("abcde") });
  });

  test("HEAD, 204 and 304 are framed without a body, and the connection stays usable", async () => {
    using origin = new ScriptedOrigin((req) => {
      if (req.method === "HEAD") return "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
      if (req.target === "/204") return "HTTP/1.1 204 No Content\r\n\r\n";
      if (req.target === "/304") return "HTTP/1.1 304 Not Modified\r\nContent-Length: 77\r\nETag: x\r\n\r\n";
      return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`HEAD ${origin.url("/")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const head = await c.response({ head: true });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("1000");
    c.send(`GET ${origin.url("/204")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(204);
    c.send(`GET ${origin.url("/304")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const nm = await c.response();
    expect(nm.status).toBe(304);
    expect(nm.headers["content-length"]).toBe("77");
    c.send(`GET ${origin.url("/after")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).body.toString()).toBe("ok");
    expect(c.buffered.length).toBe(0);
    expect(origin.connections).toBe(1);
  });

  test("HTTP/1.0 clients get a response and a close", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/bytes/5")} HTTP/1.0\r\n\r\n`);
    const r = await c.response();
    expect(r.body).toEqual(pattern(0, 5));
    expect(r.headers["connection"]).toBe("close");
    await c.closedPromise;
  });

  test("Expect: 100-continue is relayed", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const dir = mkdtempSync(join(tmpdir(), "cnp-body-"));
    writeFileSync(join(dir, "body"), pattern(0, 2 * 1024 * 1024));
    const r = await curl([
      "-x",
      proxy.url,
      "-H",
      "Expect: 100-continue",
      "--expect100-timeout",
      "10",
      "--data-binary",
      `@${join(dir, "body")}`,
      origin.url("/echo"),
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ bodyLength: 2 * 1024 * 1024 });
  });
});

describe("real clients", () => {
  test("Bun fetch with proxy", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const res = await fetch(origin.url("/echo?from=bun"), { proxy: proxy.url, method: "POST", body: "x".repeat(1000) });
    expect(await res.json()).toMatchObject({ method: "POST", path: "/echo?from=bun", bodyLength: 1000 });
    const blocked = await fetch("http://10.9.9.9/", { proxy: proxy.url });
    expect(blocked.status).toBe(403);
    expect(blocked.headers.get("x-proxy-error")).toBe("blocked-by-allowlist");
  });

  test("Node fetch through undici's EnvHttpProxyAgent", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const script = `
      const { EnvHttpProxyAgent, fetch } = require("undici");
      const agent = new EnvHttpProxyAgent();
      (async () => {
        const ok = await fetch(process.argv[1], { dispatcher: agent });
        // undici tunnels plain http:// through CONNECT too, so a block surfaces as a failed tunnel.
        const blocked = await fetch("http://10.9.9.9/", { dispatcher: agent }).then(() => "not blocked", (e) => String(e.cause?.cause?.message ?? e));
        console.log(JSON.stringify({ ok: ok.status, echo: await ok.json(), blocked }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const p = Bun.spawn(["node", "-e", script, origin.url("/echo?from=node")], {
      env: { ...process.env, HTTP_PROXY: proxy.url, http_proxy: proxy.url, NO_PROXY: "" },
      cwd: join(import.meta.dir, "../../.."),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r).toMatchObject({ ok: 200, blocked: "Proxy response (403) !== 200 when HTTP Tunneling", echo: { path: "/echo?from=node" } });
  });
});

describe("blocks", () => {
  test("each reason: status, x-proxy-error, the original's JSON keys plus an explanation, and a record", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([
      'network_proxy.policy.allowed_domains=["127.0.0.1", "allowed.test"]',
      'network_proxy.policy.denied_domains=["denied.test"]',
    ]);
    const cases: Array<[string, number, string, object]> = [
      ["http://not-listed.test/", 403, "blocked-by-allowlist", { status: "blocked", host: "not-listed.test", reason: "not_allowed" }],
      ["http://192.168.1.1/", 403, "blocked-by-allowlist", { status: "blocked", host: "192.168.1.1", reason: "not_allowed_local" }],
      ["http://denied.test/", 403, "blocked-by-denylist", { status: "blocked", host: "denied.test", reason: "denied" }],
      [`http://127.0.0.1:${proxy.port}/`, 403, "blocked-by-policy", { status: "blocked", host: "127.0.0.1", reason: "own_listener" }],
    ];
    for (const [url, status, header, body] of cases) {
      const res = await rawRequest(proxy.port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.status).toBe(status);
      expect(res.headers["x-proxy-error"]).toBe(header);
      expect(res.headers["content-type"]).toBe("application/json");
      const json = JSON.parse(res.body.toString());
      expect(json).toMatchObject(body);
      expect(Object.keys(json).slice(0, 4)).toEqual(["status", "host", "reason", "explain"]);
      expect(typeof json.explain).toBe("string");
    }
    const hinted = JSON.parse((await rawRequest(proxy.port, "GET http://not-listed.test/ HTTP/1.1\r\nHost: x\r\n\r\n")).body.toString());
    expect(hinted).toEqual({
      status: "blocked",
      host: "not-listed.test",
      reason: "not_allowed",
      explain: "not-listed.test:80 matches no allowed_domains entry",
      hint: 'the proxy\'s operator can add "not-listed.test" to network_proxy.policy.allowed_domains',
    });
    const sub = JSON.parse((await rawRequest(proxy.port, "GET http://api.not-listed.test/ HTTP/1.1\r\nHost: x\r\n\r\n")).body.toString());
    expect(sub.hint).toBe(
      'the proxy\'s operator can add "api.not-listed.test" to network_proxy.policy.allowed_domains, or add "**.not-listed.test" to network_proxy.policy.allowed_domains',
    );
    const events = proxy.state.blocked.since(0);
    expect(events.map((e) => [e.host, e.reason, e.method, e.mode, e.protocol])).toEqual([
      ["not-listed.test", "not_allowed", "GET", null, "http"],
      ["192.168.1.1", "not_allowed_local", "GET", null, "http"],
      ["denied.test", "denied", "GET", null, "http"],
      ["127.0.0.1", "own_listener", "GET", null, "http"],
      ["not-listed.test", "not_allowed", "GET", null, "http"],
      ["api.not-listed.test", "not_allowed", "GET", null, "http"],
    ]);
    expect(events[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(origin.requests).toBe(0);
    expect(proxy.log).toMatch(
      /WARN {2}decision protocol=http client=127\.0\.0\.1:\d+ method=GET target=not-listed\.test:80 decision=block reason=not_allowed rule=null route=null status=403 /,
    );
  });

  test("limited mode: only GET/HEAD/OPTIONS, target policy first, no upgrades, overrides or bodies", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, "network_proxy.mode=limited"]);
    const u = origin.url("/echo");
    const ok = await rawRequest(proxy.port, `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(ok.status).toBe(200);
    const blockedReqs = [
      `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`,
      `DELETE ${u} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `get ${u} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET ${u} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      `GET ${u} HTTP/1.1\r\nHost: x\r\nX-HTTP-Method-Override: DELETE\r\n\r\n`,
      `GET ${u} HTTP/1.1\r\nHost: x\r\nX-Method-Override: PUT\r\n\r\n`,
      `OPTIONS ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\ndata`,
      `GET ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    ];
    for (const r of blockedReqs) {
      const res = await rawRequest(proxy.port, r);
      expect(res.status).toBe(403);
      expect(res.headers["x-proxy-error"]).toBe("blocked-by-method-policy");
      expect(JSON.parse(res.body.toString())).toMatchObject({ reason: "method_not_allowed" });
    }
    // A POST to a host that is not allowed reports the target, not the method (codex 3.2 order).
    const order = await rawRequest(proxy.port, "POST http://other.test/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    expect(JSON.parse(order.body.toString())).toMatchObject({ reason: "not_allowed" });
    expect(origin.requests).toBe(1);
    const methodEvents = proxy.state.blocked.since(0).filter((e) => e.reason === "method_not_allowed");
    expect(methodEvents.length).toBe(blockedReqs.length);
    expect(methodEvents.every((e) => e.mode === "limited" && e.protocol === "http")).toBe(true);
  });

  test("a blocked request with a body is answered and the connection closed; without a body it stays open", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using a = await RawClient.connect(proxy.port);
    a.send("POST http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial");
    const r = await a.response();
    expect(r.status).toBe(403);
    expect(r.headers["connection"]).toBe("close");
    await a.closedPromise;
    using b = await RawClient.connect(proxy.port);
    b.send("GET http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await b.response()).status).toBe(403);
    b.send("GET http://10.0.0.2/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await b.response()).status).toBe(403);
  });
});

describe("upgrades", () => {
  test("WebSocket through HTTP_PROXY in full mode: 101 and a two-way byte relay", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(
      `GET ${origin.url("/ws")} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const r = await c.response();
    expect(r.status).toBe(101);
    expect(r.headers["upgrade"]?.toLowerCase()).toBe("websocket");
    expect(r.headers["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    c.send(wsFrame("hello"));
    const frame = await c.bytes(2 + "echo:hello".length);
    expect(frame[0]).toBe(0x81);
    expect(frame.subarray(2).toString()).toBe("echo:hello");
    expect(proxy.server.ctx.tunnels.slots.used).toBe(1);
  });

  test("an upgrade the origin declines is an ordinary response and frees the tunnel slot", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(proxy.server.ctx.tunnels.slots.used).toBe(0);
  });
});

/** A masked client text frame (RFC 6455). */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}
