import { describe, expect, test } from "bun:test";
import * as x509 from "@peculiar/x509";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostAllowed } from "../../src/admin/server.ts";
import type { Resolver } from "../../src/policy/decide.ts";
import { parsePrometheus, sample, socks5Connect, type Samples } from "../helpers/ops.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy, type TestProxy } from "../helpers/proxy.ts";
import { curl, RawClient, rawRequest, type RawResponse } from "../helpers/raw.ts";
import { until } from "../helpers/until.ts";

/** A raw admin request, so the test controls Host and every other header. */
async function adminRaw(port: number, head: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await rawRequest(port, head);
  return { status: r.status, json: r.headers["content-type"] === "application/json" ? JSON.parse(r.body.toString()) : {} };
}

describe("endpoints (the seed's, with the original's shapes)", () => {
  test("GET /health, /config, /patterns", async () => {
    await using proxy = await startProxy([
      'network_proxy.policy.allowed_domains=["a.com", "*.b.com"]',
      'network_proxy.policy.denied_domains=["c.com"]',
      'network_proxy.admin_token="tok-1234567890abcdef"',
    ]);
    const health = await proxy.admin("/health");
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("ok");
    const config = (await (await proxy.admin("/config")).json()) as { network_proxy: Record<string, unknown> };
    expect(config.network_proxy["proxy_url"]).toBe(`http://127.0.0.1:${proxy.port}`); // the bound port, not the configured 0
    expect(config.network_proxy["admin_token"]).toBe("[redacted]");
    expect(JSON.stringify(config)).not.toContain("tok-1234567890abcdef");
    expect(config.network_proxy["mode"]).toBe("full");
    expect(await (await proxy.admin("/patterns")).json()).toEqual({ allowed: ["a.com", "*.b.com"], denied: ["c.com"], runtime: [] });
  });

  test("unknown paths 404 and wrong methods 405, always as JSON", async () => {
    await using proxy = await startProxy();
    const nf = await proxy.admin("/nope");
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ error: "not found: /nope", code: "admin_not_found" });
    const wrong = await proxy.admin("/health", { method: "POST" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET");
    expect((await wrong.json()) as object).toHaveProperty("error");
    expect((await proxy.admin("/mode")).status).toBe(405);
  });

  test("POST /mode switches the mode the proxy enforces; bad input is a JSON 400 or 413", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const post = async () => (await rawRequest(proxy.port, `POST ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`)).status;
    expect(await post()).toBe(200);
    const r = await proxy.admin("/mode", { method: "POST", body: JSON.stringify({ mode: "limited", extra: 1 }) });
    expect(await r.json()).toEqual({ status: "ok", mode: "limited" });
    expect(proxy.state.mode).toBe("limited");
    expect(await post()).toBe(403);
    expect(((await (await proxy.admin("/config")).json()) as { network_proxy: { mode: string } }).network_proxy.mode).toBe("limited");

    const bad: Array<[string, number]> = [
      ["", 400],
      ["{", 400],
      ['{"mode":"FULL"}', 400],
      ['{"nomode":1}', 400],
      ["null", 400],
      [JSON.stringify({ mode: "full", pad: "x".repeat(9000) }), 413],
    ];
    for (const [body, status] of bad) {
      const res = await proxy.admin("/mode", { method: "POST", body });
      expect(res.status).toBe(status);
      expect((await res.json()) as object).toHaveProperty("error");
    }
    expect(proxy.state.mode).toBe("limited");
    // Far past Bun's own body limit too, declared and streamed: still our JSON 413, then a close.
    const big = "x".repeat(200 * 1024);
    for (const headers of [{}, { "transfer-encoding": "chunked" }] as Array<Record<string, string>>) {
      const res = await proxy.admin("/mode", { method: "POST", body: big, headers });
      expect(res.status).toBe(413);
      expect(res.headers.get("connection")).toBe("close");
      expect(await res.json()).toEqual({ error: "body too large (limit 8192 bytes)", code: "admin_too_large" });
    }
  });
});

describe("GET /blocked", () => {
  test("does not empty on read; ?since=ID returns newer; ?drain=1 empties; ids increase", async () => {
    await using proxy = await startProxy();
    for (const h of ["a.test", "b.test", "c.test"]) await rawRequest(proxy.port, `GET http://${h}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    type Blocked = { blocked: Array<Record<string, unknown>>; dropped: number; last_id: number };
    const all = (await (await proxy.admin("/blocked")).json()) as Blocked;
    expect(all.blocked.map((e) => e["host"])).toEqual(["a.test", "b.test", "c.test"]);
    expect(all.blocked[0]).toMatchObject({
      id: 1,
      reason: "not_allowed",
      method: "GET",
      mode: null,
      protocol: "http",
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      timestamp: expect.any(Number),
    });
    const again = (await (await proxy.admin("/blocked")).json()) as Blocked;
    expect(again.blocked.length).toBe(3);
    const since = (await (await proxy.admin("/blocked?since=2")).json()) as Blocked;
    expect(since.blocked.map((e) => e["id"])).toEqual([3]);
    const drained = (await (await proxy.admin("/blocked?drain=1")).json()) as Blocked;
    expect(drained.blocked.length).toBe(3);
    expect(((await (await proxy.admin("/blocked")).json()) as Blocked).blocked).toEqual([]);
    expect((await proxy.admin("/blocked?since=abc")).status).toBe(400);
  });

  test("the ring is bounded and counts what it dropped", async () => {
    await using proxy = await startProxy(["network_proxy.max_blocked_events=5"]);
    using c = await RawClient.connect(proxy.port);
    for (let i = 0; i < 8; i++) {
      c.send(`GET http://h${i}.test/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.response();
    }
    const r = (await (await proxy.admin("/blocked")).json()) as { blocked: Array<{ host: string }>; dropped: number; last_id: number };
    expect(r.blocked.map((e) => e.host)).toEqual(["h3.test", "h4.test", "h5.test", "h6.test", "h7.test"]);
    expect(r.dropped).toBe(3);
    expect(r.last_id).toBe(8);
  });
});

describe("safety", () => {
  test("POSTs need the bearer token; it is created 0600 beside the config file", async () => {
    await using proxy = await startProxy();
    const path = join(proxy.configPath, "..", "network_proxy", "admin.token");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8").trim()).toBe(proxy.token!);
    const none = await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}', auth: false });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    // The 401 says where the token is (never the token itself).
    expect(await none.json()).toEqual({
      error: `missing or wrong bearer token; send Authorization: Bearer <token>, the token in the file ${path}`,
      code: "admin_unauthorized",
    });
    const wrong = await proxy.admin("/reload", { method: "POST", headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    const almost = await proxy.admin("/reload", { method: "POST", headers: { authorization: `Bearer ${proxy.token!.slice(0, -1)}` } });
    expect(almost.status).toBe(401);
    expect(proxy.state.mode).toBe("full");
    expect((await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}' })).status).toBe(200);
    // GETs stay open for debugging
    expect((await proxy.admin("/health", { auth: false })).status).toBe(200);
  });

  test("admin_token from the config; dangerously_disable_admin_auth turns auth off", async () => {
    await using withToken = await startProxy(['network_proxy.admin_token="0123456789abcdef-xyz"']);
    const where = (await (await withToken.admin("/reload", { method: "POST", auth: false })).json()) as { error: string };
    expect(where.error).toBe("missing or wrong bearer token; send Authorization: Bearer <token>, the token set by network_proxy.admin_token (a -c override)");
    expect(
      (await withToken.admin("/mode", { method: "POST", body: '{"mode":"full"}', headers: { authorization: "Bearer 0123456789abcdef-xyz" } })).status,
    ).toBe(200);
    await using open = await startProxy(["network_proxy.dangerously_disable_admin_auth=true"]);
    expect(open.token).toBeNull();
    expect((await open.admin("/mode", { method: "POST", body: '{"mode":"limited"}', auth: false })).status).toBe(200);
  });

  test("a token file others can read is refused at start-up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cnp-tok-"));
    const { loadOrCreateToken } = await import("../../src/admin/token.ts");
    const path = join(dir, "network_proxy/admin.token");
    loadOrCreateToken(path);
    chmodSync(path, 0o644);
    expect(() => loadOrCreateToken(path)).toThrow("lets other users read it; fix with: chmod 600");
  });

  test("Host must be a loopback literal or localhost with the admin port (no DNS rebinding)", async () => {
    await using proxy = await startProxy();
    const p = proxy.adminPort;
    const cases: Array<[string, number]> = [
      [`127.0.0.1:${p}`, 200],
      [`localhost:${p}`, 200],
      [`LOCALHOST:${p}`, 200],
      [`127.0.0.2:${p}`, 200],
      [`[::1]:${p}`, 200],
      [`evil.example:${p}`, 403],
      [`127.0.0.1.nip.io:${p}`, 403],
      [`127.0.0.1:${p + 1}`, 403],
      ["127.0.0.1", 403],
      [`10.0.0.1:${p}`, 403],
    ];
    for (const [host, status] of cases) {
      const r = await adminRaw(p, `GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      expect(`${host} -> ${r.status}`).toBe(`${host} -> ${status}`);
    }
  });

  test("cross-site Origin or Sec-Fetch-Site is refused", async () => {
    await using proxy = await startProxy(["network_proxy.dangerously_disable_admin_auth=true"]);
    const p = proxy.adminPort;
    const h = `Host: 127.0.0.1:${p}\r\nContent-Type: application/json\r\nContent-Length: 17\r\n`;
    const body = '{"mode":"limited"}'.slice(0, 17);
    expect((await adminRaw(p, `POST /mode HTTP/1.1\r\n${h}Origin: http://evil.example\r\n\r\n${body}`)).status).toBe(403);
    expect((await adminRaw(p, `POST /mode HTTP/1.1\r\n${h}Origin: null\r\n\r\n${body}`)).status).toBe(403);
    expect((await adminRaw(p, `POST /mode HTTP/1.1\r\n${h}Sec-Fetch-Site: cross-site\r\n\r\n${body}`)).status).toBe(403);
    expect(proxy.state.mode).toBe("full");
    expect(
      (await adminRaw(p, `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nOrigin: http://localhost:${p}\r\nSec-Fetch-Site: same-origin\r\n\r\n`)).status,
    ).toBe(200);
  });

  test("hostAllowed with a dangerous wildcard bind accepts literals, never names", () => {
    expect(hostAllowed("192.168.1.5:8080", { host: "0.0.0.0", port: 8080 })).toBe(true);
    expect(hostAllowed("attacker.test:8080", { host: "0.0.0.0", port: 8080 })).toBe(false);
    expect(hostAllowed("192.168.1.5:8080", { host: "192.168.1.5", port: 8080 })).toBe(true);
    expect(hostAllowed("192.168.1.6:8080", { host: "192.168.1.5", port: 8080 })).toBe(false);
  });

  test("the proxy never reaches its own admin API, even with everything allowed", async () => {
    await using proxy = await startProxy([
      'network_proxy.policy.allowed_domains=["*", "127.0.0.1", "localhost"]',
      "network_proxy.policy.allow_local_binding=true",
    ]);
    const p = proxy.adminPort;
    const viaHttp = await rawRequest(
      proxy.port,
      `POST http://127.0.0.1:${p}/mode HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Length: 17\r\n\r\n{"mode":"limited"}`.slice(0, -1),
    );
    expect(viaHttp.status).toBe(403);
    expect(JSON.parse(viaHttp.body.toString())).toMatchObject({ reason: "own_listener" });
    const viaConnect = await rawRequest(proxy.port, `CONNECT localhost:${p} HTTP/1.1\r\n\r\n`);
    expect(viaConnect.status).toBe(403);
    const viaSpelling = await rawRequest(proxy.port, `GET http://2130706433:${p}/health HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(viaSpelling.status).toBe(403);
    expect(proxy.state.mode).toBe("full");
  });

  test("the proxy never reaches its own listeners through SOCKS5 either: reply 0x02, recorded as own_listener", async () => {
    await using proxy = await startProxy([
      'network_proxy.policy.allowed_domains=["*", "127.0.0.1", "localhost"]',
      "network_proxy.policy.allow_local_binding=true",
    ]);
    const p = proxy.adminPort;
    const targets: Array<[string, number]> = [
      ["127.0.0.1", p],
      ["localhost", p],
      ["0.0.0.0", p],
      ["127.0.0.1", proxy.port],
      ["127.0.0.1", proxy.socksPort],
    ];
    for (const [host, port] of targets) {
      const r = await socks5Connect(proxy.socksPort, host, port);
      r.client[Symbol.dispose]();
      expect(`${host}:${port} -> method ${r.method} reply ${r.reply}`).toBe(`${host}:${port} -> method 0 reply 2`);
    }
    // A real client, trying to flip the mode with the right token: refused the same way.
    const viaCurl = await curl([
      "--socks5-hostname",
      `127.0.0.1:${proxy.socksPort}`,
      "-X",
      "POST",
      "-H",
      `Authorization: Bearer ${proxy.token}`,
      "-d",
      '{"mode":"limited"}',
      `http://localhost:${p}/mode`,
    ]);
    expect(viaCurl.code).toBe(97);
    expect(viaCurl.stderr).toContain(`Can't complete SOCKS5 connection to localhost. (2)`);
    expect(proxy.state.mode).toBe("full");

    const { blocked } = (await (await proxy.admin("/blocked")).json()) as { blocked: Array<Record<string, unknown>> };
    expect(blocked.map((e) => [e["host"], e["port"], e["reason"], e["protocol"], e["method"]])).toEqual([
      ...targets.map(([host, port]) => [host, port, "own_listener", "socks5", null]),
      ["localhost", p, "own_listener", "socks5", null],
    ]);
    expect(blocked[0]!["explain"]).toBe(`127.0.0.1:${p} is one of this proxy's own listeners`);
    const m = parsePrometheus(await (await proxy.admin("/metrics")).text());
    expect(sample(m, "cnp_blocks_total", { reason: "own_listener" })).toBe(targets.length + 1);
    expect(sample(m, "cnp_requests_total", { decision: "block", protocol: "socks5" })).toBe(targets.length + 1);
    expect(sample(m, "cnp_requests_total", { decision: "allow", protocol: "socks5" })).toBe(0);
  });
});

describe("reload", () => {
  const cfg = (allowed: string[], extra = "") => `[network_proxy]\n${extra}\n[network_proxy.policy]\nallowed_domains = ${JSON.stringify(allowed)}\n`;

  test("POST /reload applies the file; a broken file keeps the old policy in force and lists every problem", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([], { configText: cfg(["127.0.0.1"]) });
    const get = async () => (await rawRequest(proxy.port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\n\r\n`)).status;
    expect(await get()).toBe(200);
    writeFileSync(proxy.configPath, cfg(["example.com"]));
    const ok = await proxy.admin("/reload", { method: "POST" });
    expect(await ok.json()).toEqual({ status: "reloaded", changes: ["added to allowed_domains: example.com", "removed from allowed_domains: 127.0.0.1"] });
    expect(await get()).toBe(403);
    writeFileSync(proxy.configPath, cfg(["127.0.0.1"], 'mode = "FULL"') + '[network_proxy.limits]\nmax_headers = "x"\n');
    const bad = await proxy.admin("/reload", { method: "POST" });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: string; problems: string[] };
    expect(body.error).toContain("previous config stays in force");
    expect(body.problems.length).toBe(2);
    expect(await get()).toBe(403); // still the old (example.com) policy, still serving
    writeFileSync(proxy.configPath, "[network_proxy\n");
    const syntax = (await (await proxy.admin("/reload", { method: "POST" })).json()) as { problems: string[] };
    expect(syntax.problems[0]).toContain(":1:");
    expect(proxy.state.metrics.reloads.get({ result: "failure" })).toBe(2);
  });

  test("/config shows the bound listeners; a reload that moves one keeps it and says a restart is needed", async () => {
    await using proxy = await startProxy([], { configText: cfg(["127.0.0.1"]) });
    const view = async () => ((await (await proxy.admin("/config")).json()) as { network_proxy: Record<string, unknown> }).network_proxy;
    const socksUrl = `http://127.0.0.1:${proxy.socksPort}`;
    expect(await view()).toMatchObject({ proxy_url: `http://127.0.0.1:${proxy.port}`, socks_url: socksUrl, enable_socks5: true });
    writeFileSync(proxy.configPath, cfg(["127.0.0.1", "example.com"], "enable_socks5 = false"));
    const r = (await (await proxy.admin("/reload", { method: "POST" })).json()) as { changes: string[] };
    expect(r.changes).toEqual([
      "added to allowed_domains: example.com",
      `socks_url 127.0.0.1:0 -> off takes effect at the next restart (still listening on 127.0.0.1:${proxy.socksPort})`,
    ]);
    expect(await view()).toMatchObject({ socks_url: socksUrl, enable_socks5: true });
    expect(proxy.state.config.np.policy.allowed_domains).toContain("example.com"); // the rest applied
    expect(proxy.log).toContain("config change: socks_url");
  });

  test("a reload lists every effective change, MITM and the CA included, in its answer and the log; secrets only by name", async () => {
    await using proxy = await startProxy([], { configText: cfg(["a.test"]) });
    const reload = async (text: string) => {
      writeFileSync(proxy.configPath, text);
      const r = await proxy.admin("/reload", { method: "POST" });
      expect(r.status).toBe(200);
      return ((await r.json()) as { changes: string[] }).changes;
    };
    const ca = join(proxy.configPath, "..", "network_proxy/mitm/ca.pem");
    const fp = () =>
      new Bun.CryptoHasher("sha256")
        .update(new x509.X509Certificate(readFileSync(ca, "utf8")).rawData)
        .digest("hex")
        .toUpperCase();
    const on = cfg(["a.test"], 'mode = "limited"\nadmin_token = "tok-aaaaaaaaaaaaaaaaaaaa"\n[network_proxy.mitm]\nenabled = true');
    const first = await reload(on);
    const shown = fp().match(/../g)!.join(":");
    expect(first).toEqual(['mode: "full" -> "limited"', "admin_token changed", "mitm.enabled: false -> true", `MITM CA loaded: ${ca} (sha256 ${shown})`]);
    // The same paths, a new CA behind them: no key moved, and the reload still says so.
    rmSync(join(ca, ".."), { recursive: true });
    const replaced = await reload(on.replace("[network_proxy.mitm]", "[network_proxy.limits]\nmax_headers = 50\n[network_proxy.mitm]"));
    expect(replaced).toEqual(["limits.max_headers: 100 -> 50", `MITM CA replaced: ${ca} (sha256 ${shown} -> ${fp().match(/../g)!.join(":")})`]);
    const off = await reload(cfg(["a.test"], 'mode = "limited"\nadmin_token = "tok-aaaaaaaaaaaaaaaaaaaa"\n[network_proxy.mitm]\nenabled = false'));
    expect(off).toEqual(["mitm.enabled: true -> false", "limits.max_headers: 50 -> 100"]);
    for (const c of [...first, ...replaced, ...off]) expect(proxy.log).toContain(`config change: ${c}`);
    expect(proxy.log).not.toContain("tok-aaaa");
  });

  test("a runtime mode survives reloads that do not change the file's mode; a changed file mode wins", async () => {
    await using proxy = await startProxy([], { configText: cfg([], 'mode = "full"') });
    await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}' });
    writeFileSync(proxy.configPath, cfg(["a.com"], 'mode = "full"'));
    await proxy.admin("/reload", { method: "POST" });
    expect(proxy.state.mode).toBe("limited");
    writeFileSync(proxy.configPath, cfg(["a.com"], 'mode = "limited"'));
    await proxy.admin("/reload", { method: "POST" });
    expect(proxy.state.mode).toBe("limited");
    writeFileSync(proxy.configPath, cfg(["a.com"], 'mode = "full"'));
    await proxy.admin("/reload", { method: "POST" });
    expect(proxy.state.mode).toBe("full");
  });

  test("editing the config file reloads it without a request (watched, debounced)", async () => {
    await using proxy = await startProxy([], { configText: cfg(["a.test"]), watch: true });
    writeFileSync(proxy.configPath + ".tmp", cfg(["a.test", "b.test"]));
    require("node:fs").renameSync(proxy.configPath + ".tmp", proxy.configPath); // editors replace files
    await until(() => proxy.state.config.np.policy.allowed_domains.includes("b.test"), "the watched reload");
    expect(proxy.log).toContain("config change: added to allowed_domains: b.test");
    writeFileSync(proxy.configPath, "garbage = [");
    await until(() => proxy.log.includes("config reload failed; keeping the previous config"), "the failed reload to be logged");
    expect(proxy.state.config.np.policy.allowed_domains).toEqual(["a.test", "b.test"]);
  });
});

describe("GET /metrics", () => {
  test("moves when traffic flows", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const metric = async (name: string) => {
      const text = await (await proxy.admin("/metrics")).text();
      const line = text.split("\n").find((l) => l.startsWith(name + " ") || (l.startsWith(name + "{") && l.includes(name)));
      return line ? Number(line.split(" ").at(-1)) : 0;
    };
    const text0 = await (await proxy.admin("/metrics")).text();
    expect(text0).toContain("# TYPE cnp_requests_total counter");
    await rawRequest(proxy.port, `GET ${origin.url("/bytes/5000")} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await rawRequest(proxy.port, "GET http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => proxy.server.ctx.connections === 0, "connections to close");
    const text = await (await proxy.admin("/metrics")).text();
    expect(text).toContain('cnp_requests_total{decision="allow",protocol="http"} 1');
    expect(text).toContain('cnp_blocks_total{reason="not_allowed_local"} 1');
    expect(await metric('cnp_bytes_total{direction="out"}')).toBeGreaterThan(5000);
    expect(await metric("cnp_upstream_connect_seconds_count")).toBe(1);
    // The gauge's HELP line is always there; the sample is what must be right.
    expect(sample(parsePrometheus(text), "cnp_active_connections", { listener: "http" })).toBe(0);
  });

  const scrape = async (proxy: TestProxy): Promise<Samples> => parsePrometheus(await (await proxy.admin("/metrics")).text());
  /** Bytes of a response as they came off the wire. */
  const wireLength = (r: RawResponse) => Buffer.byteLength(r.head, "latin1") + 4 + r.body.length;

  test("sample values follow traffic: requests by protocol and decision, blocks by reason, exact bytes, open connections and tunnels", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const closed = () => until(() => proxy.server.ctx.connections === 0 && proxy.server.ctx.tunnels.open.size === 0, "connections to close");
    const m0 = await scrape(proxy);
    for (const [name, labels] of [
      ["cnp_requests_total", { decision: "allow", protocol: "http" }],
      ["cnp_bytes_total", { direction: "in" }],
      ["cnp_bytes_total", { direction: "out" }],
      ["cnp_active_connections", { listener: "http" }],
      ["cnp_active_tunnels", {}],
    ] as const) {
      expect(sample(m0, name, labels)).toBe(0);
    }

    // Plain HTTP: one allowed, one local address, one name not on the list.
    let sentIn = 0;
    let sentOut = 0;
    const exchange = async (req: string) => {
      const r = await rawRequest(proxy.port, req);
      sentIn += req.length;
      sentOut += wireLength(r);
      return r;
    };
    expect((await exchange(`GET ${origin.url("/bytes/5000")} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).body.length).toBe(5000);
    expect((await exchange("GET http://10.0.0.1/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).status).toBe(403);
    expect((await exchange("GET http://nope.test/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).status).toBe(403);
    await closed();
    const m1 = await scrape(proxy);
    expect(sample(m1, "cnp_requests_total", { decision: "allow", protocol: "http" })).toBe(1);
    expect(sample(m1, "cnp_requests_total", { decision: "block", protocol: "http" })).toBe(2);
    expect(sample(m1, "cnp_blocks_total", { reason: "not_allowed_local" })).toBe(1);
    expect(sample(m1, "cnp_blocks_total", { reason: "not_allowed" })).toBe(1);
    expect(sample(m1, "cnp_bytes_total", { direction: "in" })).toBe(sentIn);
    expect(sample(m1, "cnp_bytes_total", { direction: "out" })).toBe(sentOut);
    expect(sample(m1, "cnp_upstream_connect_seconds_count")).toBe(1);
    expect(sample(m1, "cnp_active_connections", { listener: "http" })).toBe(0);

    // A kept-alive client connection counts while it is open.
    {
      using c = await RawClient.connect(proxy.port);
      const req = `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\n\r\n`;
      c.send(req);
      const r = await c.response();
      sentIn += req.length;
      sentOut += wireLength(r);
      expect(sample(await scrape(proxy), "cnp_active_connections", { listener: "http" })).toBe(1);
    }
    await closed();
    expect(sample(await scrape(proxy), "cnp_active_connections", { listener: "http" })).toBe(0);

    // A CONNECT tunnel: open connection and tunnel while it lasts, both back to 0 after.
    {
      using c = await RawClient.connect(proxy.port);
      const connect = `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
      c.send(connect);
      const established = await c.response({ head: true });
      expect(established.status).toBe(200);
      const inner = "GET /bytes/3000 HTTP/1.1\r\nHost: x\r\n\r\n";
      c.send(inner);
      const r = await c.response();
      expect(r.body.length).toBe(3000);
      sentIn += connect.length + inner.length;
      sentOut += Buffer.byteLength(established.head, "latin1") + 4 + wireLength(r);
      const open = await scrape(proxy);
      expect(sample(open, "cnp_requests_total", { decision: "allow", protocol: "http-connect" })).toBe(1);
      expect(sample(open, "cnp_active_tunnels")).toBe(1);
      expect(sample(open, "cnp_active_connections", { listener: "http" })).toBe(1);
    }
    await closed();
    const m2 = await scrape(proxy);
    expect(sample(m2, "cnp_active_tunnels")).toBe(0);
    expect(sample(m2, "cnp_active_connections", { listener: "http" })).toBe(0);
    expect(sample(m2, "cnp_bytes_total", { direction: "in" })).toBe(sentIn);
    expect(sample(m2, "cnp_bytes_total", { direction: "out" })).toBe(sentOut);

    // SOCKS5: an allowed tunnel (counted on its own listener), then a blocked one.
    {
      const ok = await socks5Connect(proxy.socksPort, "127.0.0.1", origin.port);
      using c = ok.client;
      expect(ok.reply).toBe(0);
      expect(c.closed).toBe(false);
      const open = await scrape(proxy);
      expect(sample(open, "cnp_requests_total", { decision: "allow", protocol: "socks5" })).toBe(1);
      expect(sample(open, "cnp_active_tunnels")).toBe(1);
      expect(sample(open, "cnp_active_connections", { listener: "socks5" })).toBe(1);
      expect(sample(open, "cnp_active_connections", { listener: "http" })).toBe(0);
    }
    {
      const no = await socks5Connect(proxy.socksPort, "10.0.0.1", 80);
      using c = no.client;
      expect(no.reply).toBe(2);
      await c.closedPromise; // the proxy closes after the refusal
    }
    await closed();
    const m3 = await scrape(proxy);
    expect(sample(m3, "cnp_requests_total", { decision: "block", protocol: "socks5" })).toBe(1);
    expect(sample(m3, "cnp_blocks_total", { reason: "not_allowed_local" })).toBe(2);
    expect(sample(m3, "cnp_active_tunnels")).toBe(0);
    expect(sample(m3, "cnp_active_connections", { listener: "socks5" })).toBe(0);
    expect(sample(m3, "cnp_upstream_connect_seconds_count")).toBe(4); // HTTP x2, CONNECT, SOCKS5
    expect(sample(m3, "cnp_upstream_connect_seconds_bucket", { le: "+Inf" })).toBe(4);
  });

  test("the DNS histogram observes every lookup of an allowed name (success or failure), never localhost or a blocked name", async () => {
    using origin = new HttpOrigin();
    const looked: string[] = [];
    const resolver: Resolver = async (name) => {
      looked.push(name);
      if (name === "origin.test") return [{ kind: "ipv4", host: "127.0.0.1" }];
      throw new Error("no such name (test resolver)");
    };
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["127.0.0.1", "localhost", "origin.test", "missing.test"]'], { resolver });
    const get = async (host: string) =>
      (await rawRequest(proxy.port, `GET http://${host}:${origin.port}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).status;
    const dns = async () => {
      const m = await scrape(proxy);
      return {
        count: sample(m, "cnp_dns_seconds_count"),
        inf: sample(m, "cnp_dns_seconds_bucket", { le: "+Inf" }),
        le10: sample(m, "cnp_dns_seconds_bucket", { le: "10" }),
        sum: sample(m, "cnp_dns_seconds_sum"),
      };
    };
    expect(await dns()).toEqual({ count: 0, inf: 0, le10: 0, sum: 0 });
    // localhost is loopback by definition (RFC 6761) and never looked up; a blocked name is never looked up.
    expect(await get("localhost")).toBe(200);
    expect(await get("blocked.test")).toBe(403);
    expect((await dns()).count).toBe(0);
    expect(looked).toEqual([]);

    expect(await get("origin.test")).toBe(200);
    const one = await dns();
    expect(one).toMatchObject({ count: 1, inf: 1, le10: 1 });
    expect(one.sum).toBeGreaterThan(0);
    // With one observation (= the sum), each bucket holds it exactly when sum <= le.
    for (const [k, v] of await scrape(proxy)) {
      const le = /^cnp_dns_seconds_bucket\{le="([^"]+)"\}$/.exec(k)?.[1];
      if (le !== undefined) expect(`${k} ${v}`).toBe(`${k} ${one.sum <= (le === "+Inf" ? Infinity : Number(le)) ? 1 : 0}`);
    }
    expect(await get("missing.test")).toBe(502);
    const two = await dns();
    expect(two).toMatchObject({ count: 2, inf: 2, le10: 2 });
    expect(two.sum).toBeGreaterThanOrEqual(one.sum);
    expect(looked).toEqual(["origin.test", "missing.test"]);
    expect(sample(await scrape(proxy), "cnp_errors_total", { code: "dns_failed" })).toBe(1);
    // Buckets are cumulative: never decreasing with le.
    const buckets = [...(await scrape(proxy)).entries()].filter(([k]) => k.startsWith("cnp_dns_seconds_bucket")).map(([, v]) => v);
    expect(buckets.length).toBe(15);
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
  });

  test("reload counters: a good file counts a success, a broken one a failure", async () => {
    const cfg = (allowed: string[]) => `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(allowed)}\n`;
    await using proxy = await startProxy([], { configText: cfg(["a.test"]) });
    const reloads = async () => {
      const m = await scrape(proxy);
      return { success: sample(m, "cnp_config_reloads_total", { result: "success" }), failure: sample(m, "cnp_config_reloads_total", { result: "failure" }) };
    };
    expect(await reloads()).toEqual({ success: 0, failure: 0 });
    writeFileSync(proxy.configPath, cfg(["b.test"]));
    expect((await proxy.admin("/reload", { method: "POST" })).status).toBe(200);
    expect(await reloads()).toEqual({ success: 1, failure: 0 });
    writeFileSync(proxy.configPath, "[network_proxy\n");
    expect((await proxy.admin("/reload", { method: "POST" })).status).toBe(400);
    expect(await reloads()).toEqual({ success: 1, failure: 1 });
    writeFileSync(proxy.configPath, '[network_proxy]\nmode = "FULL"\n');
    expect((await proxy.admin("/reload", { method: "POST" })).status).toBe(400);
    writeFileSync(proxy.configPath, cfg(["c.test"]));
    expect((await proxy.admin("/reload", { method: "POST" })).status).toBe(200);
    expect(await reloads()).toEqual({ success: 2, failure: 2 });
    // A refused (unauthenticated) reload is not a reload.
    expect((await proxy.admin("/reload", { method: "POST", auth: false })).status).toBe(401);
    expect(await reloads()).toEqual({ success: 2, failure: 2 });
  });
});

describe("auth across reloads and on the audit trail", () => {
  test("dropping admin_token on reload falls back to the token file, never to no auth", async () => {
    const cfg = (tok: string) => `[network_proxy]\nadmin_token = "${tok}"\n`;
    await using proxy = await startProxy([], { configText: cfg("start-token-0123456789") });
    expect((await proxy.admin("/mode", { method: "POST", body: '{"mode":"full"}', headers: { authorization: "Bearer start-token-0123456789" } })).status).toBe(
      200,
    );
    writeFileSync(proxy.configPath, cfg(""));
    expect((await proxy.admin("/reload", { method: "POST", headers: { authorization: "Bearer start-token-0123456789" } })).status).toBe(200);
    expect((await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}', auth: false })).status).toBe(401);
    const fileToken = (await Bun.file(join(proxy.configPath, "..", "network_proxy/admin.token")).text()).trim();
    expect(proxy.token).toBe(fileToken);
    expect((await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}' })).status).toBe(200);
  });
  test("draining /blocked needs the token; reading does not", async () => {
    await using proxy = await startProxy();
    await rawRequest(proxy.port, "GET http://x.test/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await proxy.admin("/blocked?drain=1", { auth: false })).status).toBe(401);
    expect((await proxy.admin("/blocked", { auth: false })).status).toBe(200);
    expect(proxy.state.blocked.since(0).length).toBe(1);
    expect((await proxy.admin("/blocked?drain=1", { headers: { authorization: `Bearer ${proxy.token}` } })).status).toBe(200);
  });
});
