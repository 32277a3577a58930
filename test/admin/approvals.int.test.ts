/**
 * Ask instead of refuse (`policy.on_unlisted = "ask"`) through the admin API: a request to a
 * host no list mentions waits while the operator answers, over HTTP, CONNECT and SOCKS5.
 * Targets are names (`*.test`, and one `.co.uk`) that the test resolver maps to 127.0.0.1, which the config
 * allows as a literal, so local-network protection stays on and only the name is unlisted.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Resolver } from "../../src/policy/decide.ts";
import type { PendingView, RuntimeRule } from "../../src/runtime/approvals.ts";
import { socks5Connect } from "../helpers/ops.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { startProxy, type ProxyOptions, type TestProxy } from "../helpers/proxy.ts";
import { curl, RawClient, rawRequest, type RawResponse } from "../helpers/raw.ts";
import { CountingTlsOrigin } from "../helpers/tls-origin.ts";
import { makeTestPki } from "../../scripts/lib/pki.ts";
import { EventReader } from "../helpers/sse.ts";
import { until } from "../helpers/until.ts";
import { SUBSCRIBER_QUEUE } from "../../src/runtime/events.ts";

const resolver: Resolver = async (name) => {
  if (name.endsWith(".test") || name === "shop.co.uk") return [{ kind: "ipv4", host: "127.0.0.1" }];
  throw new Error("no such name (test resolver)");
};

const ASK = ['network_proxy.policy.allowed_domains=["127.0.0.1"]', 'network_proxy.policy.on_unlisted="ask"'];

interface Asking extends AsyncDisposable {
  proxy: TestProxy;
  events: EventReader;
  /** The next pending event for `host`. */
  held(host: string): Promise<PendingView>;
  answer(id: number, body: Record<string, unknown>): Promise<Response>;
  runtime(): Promise<RuntimeRule[]>;
}

async function asking(extra: string[] = [], opts: ProxyOptions = {}): Promise<Asking> {
  // A config file says it all itself (persisted entries must not be hidden by -c lists).
  const proxy = await startProxy(opts.configText != null ? extra : [...ASK, ...extra], { resolver, ...opts });
  const events = await EventReader.open(`${proxy.adminUrl}/events`, { authorization: `Bearer ${proxy.token}` });
  await events.next("hello");
  return {
    proxy,
    events,
    held: (host) => events.next<PendingView>("pending", (p) => p.host === host),
    answer: (id, body) => proxy.admin(`/pending/${id}`, { method: "POST", body: JSON.stringify(body) }),
    runtime: async () => ((await (await proxy.admin("/patterns")).json()) as { runtime: RuntimeRule[] }).runtime,
    async [Symbol.asyncDispose]() {
      await events[Symbol.asyncDispose]();
      await proxy[Symbol.asyncDispose]();
    },
  };
}

const get = (port: number, host: string, originPort: number, method = "GET") =>
  rawRequest(port, `${method} http://${host}:${originPort}/echo HTTP/1.1\r\nHost: ${host}:${originPort}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);

/** The reason a 403 names in its status line (`403 Blocked by codex-network-proxy: host:port reason`). */
const reasonOf = (r: RawResponse) => r.head.split("\r\n")[0]!.split(" ").at(-1);

describe("HTTP requests wait for an answer", () => {
  test("allow_once lets the waiting request through and adds no rule; the next attempt is asked again, and deny_session refuses it and what follows", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const first = get(a.proxy.port, "held.test", origin.port);
    const p = await a.held("held.test");
    expect(p).toMatchObject({
      host: "held.test",
      port: origin.port,
      protocol: "http",
      method: "GET",
      waiting: 1,
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(Math.abs(p.first_seen - Date.now())).toBeLessThan(60_000);
    expect(((await (await a.proxy.admin("/pending")).json()) as { pending: PendingView[] }).pending).toEqual([p]);
    expect(origin.requests).toBe(0);

    const r = await a.answer(p.id, { decision: "allow_once" });
    expect(await r.json()).toEqual({ status: "answered", decision: "allow_once", pattern: `held.test:${origin.port}`, persisted: false });
    expect((await first).status).toBe(200);
    expect(origin.requests).toBe(1);
    expect(await a.events.next("answered", (e) => e["id"] === p.id)).toMatchObject({ decision: "allow_once" });
    expect(await a.runtime()).toEqual([]);
    expect(((await (await a.proxy.admin("/pending")).json()) as { pending: unknown[] }).pending).toEqual([]);

    // Once means once: the same target is asked about again.
    const second = get(a.proxy.port, "held.test", origin.port);
    const p2 = await a.held("held.test");
    expect(p2.id).not.toBe(p.id);
    expect(await (await a.answer(p2.id, { decision: "deny_session" })).json()).toMatchObject({ pattern: "held.test" });
    const refused = await second;
    expect(refused.status).toBe(403);
    expect(refused.headers["x-proxy-error"]).toBe("blocked-by-allowlist");
    expect(reasonOf(refused)).toBe("not_allowed");
    const [rule] = await a.runtime();
    expect(rule).toMatchObject({ list: "deny", pattern: "held.test", by: "api" });
    expect(Math.abs(rule!.at - Date.now())).toBeLessThan(60_000);
    // The deny rule answers at once from now on, on every port, with the deny reason.
    const third = await get(a.proxy.port, "held.test", origin.port + 1);
    expect([third.status, reasonOf(third)]).toEqual([403, "denied"]);
    expect(origin.requests).toBe(1);
    const blocked = (await (await a.proxy.admin("/blocked")).json()) as { blocked: Array<{ host: string; explain: string }> };
    expect(blocked.blocked.map((b) => b.explain)).toContain("the operator denied held.test for this session");
  });

  test("allow_session with a scope: later requests in scope go straight through until the rule is deleted", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const first = get(a.proxy.port, "api.held.test", origin.port);
    const p = await a.held("api.held.test");
    expect(await (await a.answer(p.id, { decision: "allow_session", scope: "*.parent" })).json()).toMatchObject({ pattern: "*.held.test" });
    expect((await first).status).toBe(200);
    const rules = await a.runtime();
    expect(rules).toEqual([{ id: expect.any(Number), list: "allow", pattern: "*.held.test", by: "api", at: expect.any(Number) }]);
    expect(await a.events.next("rules")).toEqual(rules as unknown as Record<string, unknown>);
    // Another name under the parent: no hold.
    expect((await get(a.proxy.port, "www.held.test", origin.port)).status).toBe(200);
    expect(a.events.events.filter((e) => e.type === "pending")).toHaveLength(1);

    const del = await a.proxy.admin(`/runtime-rules/${rules[0]!.id}`, { method: "DELETE" });
    expect(await del.json()).toEqual({ status: "deleted", id: rules[0]!.id });
    expect(await a.runtime()).toEqual([]);
    expect((await a.proxy.admin(`/runtime-rules/${rules[0]!.id}`, { method: "DELETE" })).status).toBe(404);
    const again = get(a.proxy.port, "www.held.test", origin.port);
    const p2 = await a.held("www.held.test");
    await a.answer(p2.id, { decision: "allow_once" });
    expect((await again).status).toBe(200);
  });

  test("nobody answers: after ask_timeout_ms the request gets the usual 403, and /blocked says why", async () => {
    using origin = new HttpOrigin();
    await using a = await asking(["network_proxy.policy.ask_timeout_ms=1000"]);
    const started = performance.now();
    const r = get(a.proxy.port, "slow.test", origin.port);
    const p = await a.held("slow.test");
    expect(await a.events.next("answered", (e) => e["id"] === p.id)).toMatchObject({ decision: "timeout" });
    const res = await r;
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect([res.status, res.headers["x-proxy-error"], reasonOf(res)]).toEqual([403, "blocked-by-allowlist", "not_allowed"]);
    const blocked = (await (await a.proxy.admin("/blocked")).json()) as { blocked: Array<{ host: string; reason: string; explain: string }> };
    expect(blocked.blocked.at(-1)).toMatchObject({ host: "slow.test", reason: "not_allowed" });
    expect(blocked.blocked.at(-1)!.explain).toContain("no one answered within 1000 ms (policy.ask_timeout_ms)");
    // Too late to answer.
    const late = await a.answer(p.id, { decision: "allow_once" });
    expect([late.status, ((await late.json()) as { code: string }).code]).toEqual([404, "admin_not_found"]);
    expect(origin.requests).toBe(0);
  });

  test("attempts at one host:port share an entry; past ask_max_pending other targets are refused at once with ask_queue_full", async () => {
    using origin = new HttpOrigin();
    await using a = await asking(["network_proxy.policy.ask_max_pending=1"]);
    const one = get(a.proxy.port, "busy.test", origin.port);
    const p = await a.held("busy.test");
    const two = get(a.proxy.port, "busy.test", origin.port);
    expect(await a.held("busy.test")).toMatchObject({ id: p.id, waiting: 2 });
    const full = await get(a.proxy.port, "other.test", origin.port);
    expect([full.status, full.headers["x-proxy-error"], reasonOf(full)]).toEqual([403, "blocked-by-allowlist", "ask_queue_full"]);
    expect(JSON.parse(full.body.toString())).toMatchObject({
      reason: "ask_queue_full",
      explain: "1 targets are already waiting for an answer (policy.ask_max_pending)",
    });
    await a.answer(p.id, { decision: "allow_session", scope: "host:port" });
    expect([(await one).status, (await two).status]).toEqual([200, 200]);
    expect(origin.requests).toBe(2);
    expect(await a.runtime()).toMatchObject([{ pattern: `busy.test:${origin.port}` }]);
  });

  test("only what nothing else refuses is held: denied names, local literals, methods limited mode refuses (reported as unlisted, the first check)", async () => {
    using origin = new HttpOrigin();
    await using a = await asking(['network_proxy.policy.denied_domains=["*.no.test"]', 'network_proxy.mode="limited"']);
    expect(reasonOf(await get(a.proxy.port, "x.no.test", origin.port))).toBe("denied");
    expect(reasonOf(await get(a.proxy.port, "127.0.0.2", origin.port))).toBe("not_allowed_local");
    const post = await get(a.proxy.port, "write.test", origin.port, "POST");
    expect([post.status, reasonOf(post)]).toEqual([403, "not_allowed"]);
    expect(a.events.events.filter((e) => e.type === "pending")).toEqual([]);
    // A GET in limited mode is a question.
    const ok = get(a.proxy.port, "read.test", origin.port);
    await a.answer((await a.held("read.test")).id, { decision: "allow_once" });
    expect((await ok).status).toBe(200);
  });

  test("an approval does not lift deny rules or the mode: the decision is made again when the answer comes", async () => {
    using origin = new HttpOrigin();
    await using a = await asking([], { configText: `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\non_unlisted = "ask"\n` });
    const waiting = get(a.proxy.port, "late.test", origin.port);
    const p = await a.held("late.test");
    writeFileSync(a.proxy.configPath, `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\ndenied_domains = ["late.test"]\non_unlisted = "ask"\n`);
    expect((await (await a.proxy.admin("/reload", { method: "POST" })).json()) as object).toMatchObject({ status: "reloaded" });
    await a.answer(p.id, { decision: "allow_session" });
    const r = await waiting;
    expect([r.status, reasonOf(r)]).toEqual([403, "denied"]);
    expect(origin.requests).toBe(0);
  });
});

describe("clients that leave while held", () => {
  test("HTTP, CONNECT and SOCKS5 clients that close leave their entry; the last one out ends it", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const http = await RawClient.connect(a.proxy.port);
    http.send(`GET http://left.test:${origin.port}/ HTTP/1.1\r\nHost: left.test\r\n\r\n`);
    const p = await a.held("left.test");
    const connect = await RawClient.connect(a.proxy.port);
    connect.send(`CONNECT left.test:${origin.port} HTTP/1.1\r\n\r\n`);
    await a.held("left.test");
    // SOCKS5 by hand, to keep the socket: greeting, then the request, then no reply yet.
    const socks = await RawClient.connect(a.proxy.socksPort);
    socks.send(Uint8Array.of(5, 1, 0));
    expect([...(await socks.bytes(2))]).toEqual([5, 0]);
    const name = new TextEncoder().encode("left.test");
    socks.send(Uint8Array.from([5, 1, 0, 3, name.length, ...name, origin.port >> 8, origin.port & 255]));
    const three = await a.held("left.test");
    expect(three).toMatchObject({ id: p.id, waiting: 3 });
    expect(three.attempts.map((x) => x.protocol)).toEqual(["http", "http-connect", "socks5"]);

    http.socket.terminate();
    expect(await a.held("left.test")).toMatchObject({ waiting: 2, protocol: "http-connect" });
    connect.socket.terminate();
    expect(await a.held("left.test")).toMatchObject({ waiting: 1, protocol: "socks5" });
    socks.socket.terminate();
    expect(await a.events.next("answered", (e) => e["id"] === p.id)).toMatchObject({ decision: "abandoned" });
    expect(a.proxy.state.approvals.pending).toEqual([]);
    expect(origin.requests).toBe(0);
    // Nothing of theirs is left counted.
    await until(() => a.proxy.server.ctx.sessions.size === 0, "the sessions to end");
  });
});

describe("CONNECT and SOCKS5 wait the same way", () => {
  test("CONNECT: held, allowed, then the tunnel carries traffic; deleting the rule closes the tunnel", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    using c = await RawClient.connect(a.proxy.port);
    c.send(`CONNECT tunnel.test:${origin.port} HTTP/1.1\r\nHost: tunnel.test:${origin.port}\r\n\r\n`);
    const p = await a.held("tunnel.test");
    expect(p).toMatchObject({ protocol: "http-connect", method: "CONNECT", port: origin.port });
    expect(c.buffered.length).toBe(0);
    await a.answer(p.id, { decision: "allow_session", scope: "host" });
    expect((await c.response({ head: true })).status).toBe(200);
    c.send(`GET /echo HTTP/1.1\r\nHost: tunnel.test\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    // Revoking the runtime rule closes what it allowed, as a reload does.
    const [rule] = await a.runtime();
    await a.proxy.admin(`/runtime-rules/${rule!.id}`, { method: "DELETE" });
    await c.closedPromise;
  });

  test("CONNECT allowed once: the tunnel outlives a reload that does not deny it, and is closed by one that does", async () => {
    using origin = new HttpOrigin();
    const cfg = (denied: string[]) =>
      `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\ndenied_domains = ${JSON.stringify(denied)}\non_unlisted = "ask"\n`;
    await using a = await asking([], { configText: cfg([]) });
    using c = await RawClient.connect(a.proxy.port);
    c.send(`CONNECT once.test:${origin.port} HTTP/1.1\r\n\r\n`);
    await a.answer((await a.held("once.test")).id, { decision: "allow_once" });
    expect((await c.response({ head: true })).status).toBe(200);
    expect(await (await a.proxy.admin("/reload", { method: "POST" })).json()).toMatchObject({ status: "reloaded" });
    c.send(`GET /echo HTTP/1.1\r\nHost: once.test\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    writeFileSync(a.proxy.configPath, cfg(["once.test"]));
    expect(await (await a.proxy.admin("/reload", { method: "POST" })).json()).toMatchObject({ status: "reloaded" });
    await c.closedPromise;
  });

  test("CONNECT: held, denied (403); a switch to limited mode while held refuses the approved tunnel", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const denied = rawRequest(a.proxy.port, `CONNECT no.test:${origin.port} HTTP/1.1\r\n\r\n`, { head: true });
    await a.answer((await a.held("no.test")).id, { decision: "deny_session" });
    expect([(await denied).status, reasonOf(await denied)]).toEqual([403, "not_allowed"]);

    const later = rawRequest(a.proxy.port, `CONNECT mode.test:${origin.port} HTTP/1.1\r\n\r\n`, { head: true });
    const p = await a.held("mode.test");
    await a.proxy.admin("/mode", { method: "POST", body: JSON.stringify({ mode: "limited" }) });
    await a.answer(p.id, { decision: "allow_once" });
    const r = await later;
    expect(r.status).toBe(403);
    expect(reasonOf(r)).toBe("mitm_required");
  });

  test("SOCKS5: the reply waits for the answer: 0 when allowed (traffic flows), 2 when denied or timed out", async () => {
    using origin = new HttpOrigin();
    await using a = await asking(["network_proxy.policy.ask_timeout_ms=1000"]);
    const allowed = socks5Connect(a.proxy.socksPort, "socks.test", origin.port);
    const p = await a.held("socks.test");
    expect(p).toMatchObject({ protocol: "socks5", method: null });
    await a.answer(p.id, { decision: "allow_once" });
    const s = await allowed;
    using client = s.client;
    expect(s.reply).toBe(0);
    client.send(`GET /echo HTTP/1.1\r\nHost: socks.test\r\n\r\n`);
    expect((await client.response()).status).toBe(200);

    const denied = socks5Connect(a.proxy.socksPort, "nope.test", origin.port);
    await a.answer((await a.held("nope.test")).id, { decision: "deny_session" });
    const d = await denied;
    d.client[Symbol.dispose]();
    expect(d.reply).toBe(2);

    const timedOut = await socks5Connect(a.proxy.socksPort, "quiet.test", origin.port);
    timedOut.client[Symbol.dispose]();
    expect(timedOut.reply).toBe(2);
    expect(await a.events.next("answered", (e) => e["decision"] === "timeout")).toMatchObject({ decision: "timeout" });
  });
});

describe("an intercepted tunnel allowed once", () => {
  test("limited mode with MITM: one allow_once for the CONNECT covers the requests inside it; the next tunnel asks again", async () => {
    const pki = await makeTestPki();
    using origin = new CountingTlsOrigin(await pki.issue(["secure.test"]));
    await using a = await asking(['network_proxy.mode="limited"', "network_proxy.mitm.enabled=true", `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`]);
    const url = `https://secure.test:${origin.port}`;
    // Two requests on one connection (curl reuses it): one question.
    const run = curl(["--cacert", a.proxy.state.config.np.mitm.ca_cert_path, "-x", a.proxy.url, "-s", `${url}/one`, `${url}/two`]);
    const p = await a.held("secure.test");
    expect(p).toMatchObject({ protocol: "http-connect", method: "CONNECT" });
    await a.answer(p.id, { decision: "allow_once" });
    const r = await run;
    expect([r.code, r.stdout]).toEqual([0, "TLS REACHEDTLS REACHED"]);
    expect(origin.requests.map((q) => q.head.split(" ")[1])).toEqual(["/one", "/two"]);
    expect(a.events.events.filter((e) => e.type === "pending")).toHaveLength(1);
    // Limited mode still judges each request inside: a write is refused.
    const write = curl([
      "--cacert",
      a.proxy.state.config.np.mitm.ca_cert_path,
      "-x",
      a.proxy.url,
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-X",
      "POST",
      "-d",
      "x",
      `${url}/w`,
    ]);
    await a.answer((await a.held("secure.test")).id, { decision: "allow_once" });
    expect((await write).stdout).toBe("403");
    expect(origin.requests).toHaveLength(2);
  });
});

describe("answers and their checks", () => {
  test("bad answers are refused with a message; answers need the token", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const waiting = get(a.proxy.port, "q.test", origin.port);
    const p = await a.held("q.test");
    const bad = async (body: unknown) => {
      const r = await a.proxy.admin(`/pending/${p.id}`, { method: "POST", body: JSON.stringify(body) });
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    expect(await bad({ decision: "allow" })).toEqual([400, "decision must be one of allow_once, allow_session, deny_session"]);
    expect(await bad({ decision: "allow_session", scope: "world" })).toEqual([400, "scope must be one of host, host:port, *.parent"]);
    expect(await bad({ decision: "allow_session", persist: "yes" })).toEqual([400, "persist must be true or false"]);
    expect(await bad({ decision: "allow_once", persist: true })).toEqual([400, "allow_once cannot be persisted; use allow_session"]);
    expect((await a.proxy.admin(`/pending/${p.id}`, { method: "POST", body: "{}", auth: false })).status).toBe(401);
    expect((await a.proxy.admin("/pending/999999", { method: "POST", body: JSON.stringify({ decision: "allow_once" }) })).status).toBe(404);
    expect((await a.proxy.admin("/pending/x1", { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`${a.proxy.adminUrl}/events`)).status).toBe(401);
    await a.answer(p.id, { decision: "allow_once" });
    expect((await waiting).status).toBe(200);
  });

  test('"persist": true appends the entry to the config file, keeping every comment and byte; the reload makes it a config rule', async () => {
    using origin = new HttpOrigin();
    const text = [
      "# The proxy for the build agent. Keep this file tidy.",
      "[network_proxy]",
      'mode = "full"   # full: every method',
      "",
      "[network_proxy.policy]",
      'on_unlisted = "ask"',
      "allowed_domains = [",
      '  "127.0.0.1",   # the test origin, by address',
      "  # more below, reviewed by hand",
      "]",
      'denied_domains = ["*.evil.test"] # never',
      "",
    ].join("\n");
    await using a = await asking([], { configText: text });
    const waiting = get(a.proxy.port, "keep.test", origin.port);
    const r = await a.answer((await a.held("keep.test")).id, { decision: "allow_session", persist: true });
    expect(await r.json()).toEqual({ status: "answered", decision: "allow_session", pattern: "keep.test", persisted: true });
    expect((await waiting).status).toBe(200);
    expect(readFileSync(a.proxy.configPath, "utf8")).toBe(text.replace('"127.0.0.1",', '"127.0.0.1", "keep.test"'));
    expect(((await (await a.proxy.admin("/patterns")).json()) as { allowed: string[] }).allowed).toEqual(["127.0.0.1", "keep.test"]);

    // A deny persists to the deny list.
    const no = get(a.proxy.port, "bad.test", origin.port);
    await a.answer((await a.held("bad.test")).id, { decision: "deny_session", persist: true });
    expect((await no).status).toBe(403);
    expect(readFileSync(a.proxy.configPath, "utf8")).toContain('denied_domains = ["*.evil.test", "bad.test"] # never');
  });

  test("a symlinked config file stays a link: the entry lands in the file it points to, whose mode is kept", async () => {
    using origin = new HttpOrigin();
    const text = `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\non_unlisted = "ask"\n`;
    await using a = await asking([], { configText: text });
    const real = join(dirname(a.proxy.configPath), "dotfiles-config.toml");
    writeFileSync(real, text, { mode: 0o640 });
    chmodSync(real, 0o640);
    rmSync(a.proxy.configPath);
    symlinkSync(real, a.proxy.configPath);
    const waiting = get(a.proxy.port, "linked.test", origin.port);
    await a.answer((await a.held("linked.test")).id, { decision: "allow_session", persist: true });
    expect((await waiting).status).toBe(200);
    expect(lstatSync(a.proxy.configPath).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, "utf8")).toBe(text.replace('"127.0.0.1"]', '"127.0.0.1", "linked.test"]'));
    expect(statSync(real).mode & 0o777).toBe(0o640);
    expect(readdirSync(dirname(real)).filter((f) => f.includes(".tmp."))).toEqual([]);
  });

  test("*.parent that would be a public suffix is refused, and the request keeps waiting for a better answer", async () => {
    using origin = new HttpOrigin();
    await using a = await asking();
    const waiting = get(a.proxy.port, "shop.co.uk", origin.port);
    const p = await a.held("shop.co.uk");
    expect(p.scopes).toEqual({ host: "shop.co.uk", "host:port": `shop.co.uk:${origin.port}`, "*.parent": null });
    const r = await a.answer(p.id, { decision: "allow_session", scope: "*.parent" });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toContain("public suffix");
    expect(await a.runtime()).toEqual([]);
    await a.answer(p.id, { decision: "allow_session", scope: "host" });
    expect((await waiting).status).toBe(200);
  });

  test("a file the edit cannot handle is left alone; the answer stands and the error says what to add by hand", async () => {
    using origin = new HttpOrigin();
    const text = `network_proxy = { policy = { allowed_domains = ["127.0.0.1"], on_unlisted = "ask" } }\n`;
    await using a = await asking([], { configText: text });
    const waiting = get(a.proxy.port, "odd.test", origin.port);
    const r = await a.answer((await a.held("odd.test")).id, { decision: "allow_session", persist: true });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: string; pattern: string };
    expect(body.error).toMatch(/^answered, but not persisted: .*add "odd\.test" to allowed_domains yourself/);
    expect(body.pattern).toBe("odd.test");
    expect((await waiting).status).toBe(200);
    expect(readFileSync(a.proxy.configPath, "utf8")).toBe(text);
  });
});

describe("the event stream", () => {
  test("a reader that stops reading costs at most its queue: the oldest events are dropped and it is told how many", async () => {
    await using proxy = await startProxy(ASK, { resolver });
    const { connect } = await import("node:net");
    const sock = connect(proxy.adminPort, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${proxy.adminPort}\r\nAuthorization: Bearer ${proxy.token}\r\n\r\n`);
    sock.pause();
    await until(() => proxy.state.events.subscribers.size === 1, "the stream to open");
    // 40 MB of events while nobody reads.
    const pad = "x".repeat(10_000);
    const published = 4000;
    for (let i = 0; i < published; i++) {
      proxy.state.events.publish({ type: "decision", data: { i, pad } });
      if (i % 100 === 99) await new Promise((r) => setImmediate(r)); // let the server flush what it can
    }
    const [sub] = proxy.state.events.subscribers;
    expect(sub!.queued).toBeLessThanOrEqual(SUBSCRIBER_QUEUE);
    // Now read everything that was kept: the last event arrives, after a note of how many were dropped.
    let text = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (text += d));
    sock.resume();
    await until(() => text.includes(`"i":${published - 1},`), "the last event", 10_000);
    sock.destroy();
    const dropped = [...text.matchAll(/event: dropped\r?\ndata: (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    const received = text.match(/event: decision/g)?.length ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(received + dropped).toBe(published);
    // What was kept in flight is bounded: the queue plus what the socket buffers took.
    expect(received).toBeLessThan(published / 2);
  });
});

describe("stopping", () => {
  test("a reload that turns asking off refuses what is held, saying why", async () => {
    using origin = new HttpOrigin();
    await using a = await asking([], { configText: `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\non_unlisted = "ask"\n` });
    const waiting = get(a.proxy.port, "held.test", origin.port);
    await a.held("held.test");
    writeFileSync(a.proxy.configPath, `[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n`);
    expect(await (await a.proxy.admin("/reload", { method: "POST" })).json()).toMatchObject({ changes: ['policy.on_unlisted: "ask" -> "deny"'] });
    const r = await waiting;
    expect([r.status, JSON.parse(r.body.toString()).explain]).toEqual([403, 'policy.on_unlisted is no longer "ask"']);
  });

  test("a request still held when the proxy stops is refused at once, and event streams end", async () => {
    using origin = new HttpOrigin();
    const a = await asking();
    const waiting = get(a.proxy.port, "held.test", origin.port);
    await a.held("held.test");
    const stopped = a.proxy.server.stop(30_000);
    const r = await waiting;
    expect([r.status, reasonOf(r)]).toEqual([403, "not_allowed"]);
    expect(JSON.parse(r.body.toString()).explain).toBe("the proxy is stopping; nobody answered");
    await stopped;
    await a.events.next("answered", (e) => e["decision"] === "shutdown");
    await a.events[Symbol.asyncDispose]();
    expect(a.events.ended).toBe(true);
  });
});
