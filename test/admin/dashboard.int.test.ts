/**
 * The dashboard's page and sign-in, spoken to over HTTP the way browsers (and attackers' pages)
 * would: what the page is, how a session is made and ended, and which cross-site and
 * rebinding requests are refused. The page itself runs in Chromium in dashboard.browser.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { rawRequest } from "../helpers/raw.ts";

/** A raw request to the admin listener, with exactly these headers (Host defaults to the listener). */
async function send(proxy: TestProxy, method: string, path: string, headers: Record<string, string> = {}, body = "") {
  const all = { Host: `127.0.0.1:${proxy.adminPort}`, "Content-Length": String(Buffer.byteLength(body)), Connection: "close", ...headers };
  const head = Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const r = await rawRequest(proxy.adminPort, `${method} ${path} HTTP/1.1\r\n${head}\r\n${body}`);
  return { status: r.status, headers: r.headers, text: r.body.toString() };
}

/** A session: the cookie the browser would keep, and the header value the page would send. */
async function signIn(proxy: TestProxy): Promise<{ cookie: string; header: Record<string, string> }> {
  const r = await send(proxy, "POST", "/login", { "Content-Type": "application/json" }, JSON.stringify({ token: proxy.token }));
  expect(r.status).toBe(200);
  const set = r.headers["set-cookie"]!;
  expect(set).toMatch(/^cnp_admin=[A-Za-z0-9_-]{20,}; HttpOnly; SameSite=Strict; Path=\/$/);
  const { session } = JSON.parse(r.text) as { session: string };
  expect(session).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  const cookie = set.split(";")[0]!;
  expect(set).not.toContain(session);
  return { cookie, header: { Cookie: cookie, "x-codex-network-proxy": session } };
}

describe("the page", () => {
  test("GET / is one self-contained page whose only script is the one its policy names by hash", async () => {
    await using proxy = await startProxy();
    const r = await send(proxy, "GET", "/");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.headers["x-frame-options"]).toBe("DENY");
    const csp = r.headers["content-security-policy"]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const scripts = [...r.text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const hash = createHash("sha256").update(scripts[0]!).digest("base64");
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    // Nothing loads from anywhere: no external URLs at all.
    expect(r.text).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(r.text).not.toMatch(/@import|url\(/);
    // The page is public (it holds nothing); the data behind it is not.
    expect((await send(proxy, "GET", "/events")).status).toBe(401);
    expect(JSON.parse((await send(proxy, "GET", "/session")).text)).toEqual({ signed_in: false, auth: true });
  });
});

describe("sign-in", () => {
  test("a wrong token makes no session; the right one makes an HttpOnly SameSite=Strict cookie that reads the API and, with the page header, changes it", async () => {
    await using proxy = await startProxy();
    const wrong = await send(proxy, "POST", "/login", { "Content-Type": "application/json" }, JSON.stringify({ token: "nope" }));
    expect([wrong.status, wrong.headers["set-cookie"]]).toEqual([401, undefined]);
    expect((await send(proxy, "POST", "/login", { "Content-Type": "application/json" }, "{}")).status).toBe(401);

    const { cookie, header } = await signIn(proxy);
    expect(JSON.parse((await send(proxy, "GET", "/session", header)).text)).toEqual({ signed_in: true, auth: true });
    expect((await send(proxy, "GET", "/blocked?drain=1", header)).status).toBe(200);
    const mode = JSON.stringify({ mode: "limited" });
    const json = { "Content-Type": "application/json" };
    // Either half alone does nothing: the cookie without the header value, or the value without the cookie.
    expect((await send(proxy, "POST", "/mode", { Cookie: cookie, ...json }, mode)).status).toBe(401);
    expect((await send(proxy, "POST", "/mode", { Cookie: cookie, "x-codex-network-proxy": "1", ...json }, mode)).status).toBe(401);
    expect((await send(proxy, "POST", "/mode", { "x-codex-network-proxy": header["x-codex-network-proxy"]!, ...json }, mode)).status).toBe(401);
    expect((await send(proxy, "GET", "/blocked?drain=1", { Cookie: cookie })).status).toBe(401);
    expect(JSON.parse((await send(proxy, "GET", "/session", { Cookie: cookie })).text)).toEqual({ signed_in: false, auth: true });
    expect(proxy.state.mode).toBe("full");
    expect((await send(proxy, "POST", "/mode", { ...header, ...json }, mode)).status).toBe(200);
    expect(proxy.state.mode).toBe("limited");

    // Signing out ends the session.
    expect((await send(proxy, "POST", "/logout", header, "{}")).headers["set-cookie"]).toContain("Max-Age=0");
    expect((await send(proxy, "GET", "/blocked?drain=1", header)).status).toBe(401);
  });

  test("a new admin token ends every session", async () => {
    await using proxy = await startProxy([], { configText: 'network_proxy.admin_token = "first-token-1234567890"\n' });
    const { header } = await signIn(proxy);
    const limited = () => send(proxy, "POST", "/mode", { ...header, "Content-Type": "application/json" }, '{"mode":"limited"}');
    expect((await limited()).status).toBe(200);
    writeFileSync(proxy.configPath, 'network_proxy.admin_token = "second-token-1234567890"\n');
    expect((await proxy.admin("/reload", { method: "POST", headers: { authorization: "Bearer first-token-1234567890" } })).status).toBe(200);
    expect((await limited()).status).toBe(401);
    expect((await send(proxy, "GET", "/blocked?drain=1", header)).status).toBe(401);
  });

  test("a cookie seen by another local port is useless without the page's value; a decoy cookie does not hide the real one", async () => {
    await using proxy = await startProxy();
    const { cookie, header } = await signIn(proxy);
    // Browsers send 127.0.0.1's cookies to every port on it: a local dev server gets the cookie
    // (never the header value, which lives in the admin origin's sessionStorage) and replays it.
    const replay = { Cookie: cookie, "x-codex-network-proxy": "guess", "Content-Type": "application/json" };
    expect((await send(proxy, "POST", "/mode", replay, '{"mode":"limited"}')).status).toBe(401);
    expect((await send(proxy, "GET", "/blocked?drain=1", { Cookie: cookie, "x-codex-network-proxy": "" })).status).toBe(401);
    // That server can also set a cookie of the same name for a longer path, sent first: ignored.
    const tossed = { ...header, Cookie: `cnp_admin=decoy; ${cookie}`, "Content-Type": "application/json" };
    expect((await send(proxy, "POST", "/mode", tossed, '{"mode":"limited"}')).status).toBe(200);
    expect(proxy.state.mode).toBe("limited");
  });
});

describe("CSRF and rebinding", () => {
  test("a cross-site form POST, a cross-site text/plain fetch and a DNS-rebound Host are refused, cookie or not", async () => {
    await using proxy = await startProxy();
    const { cookie, header } = await signIn(proxy);
    const body = "mode=limited";
    // A form on another site: the browser sends the Origin (and Sec-Fetch-Site) of that site.
    const form = await send(
      proxy,
      "POST",
      "/mode",
      { Cookie: cookie, Origin: "http://evil.example", "Content-Type": "application/x-www-form-urlencoded" },
      body,
    );
    expect(form.status).toBe(403);
    const formFetchMeta = await send(
      proxy,
      "POST",
      "/mode",
      { Cookie: cookie, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded" },
      body,
    );
    expect(formFetchMeta.status).toBe(403);
    // A "simple" fetch (text/plain, no custom header, so no preflight) from another site.
    const plain = await send(proxy, "POST", "/mode", { Cookie: cookie, Origin: "http://evil.example", "Content-Type": "text/plain" }, '{"mode":"limited"}');
    expect(plain.status).toBe(403);
    // The same without any Origin (an old browser, a stripped header): the cookie alone is not enough.
    const bare = await send(proxy, "POST", "/mode", { Cookie: cookie, "Content-Type": "text/plain" }, '{"mode":"limited"}');
    expect(bare.status).toBe(401);
    // A page on evil.example whose name now resolves to 127.0.0.1: same-origin to the browser, so
    // it could send headers; the Host names evil.example, which is refused before anything else
    // (here even with a whole session).
    const rebound = await send(
      proxy,
      "POST",
      "/mode",
      {
        ...header,
        Host: `evil.example:${proxy.adminPort}`,
        Origin: `http://evil.example:${proxy.adminPort}`,
        "Content-Type": "application/json",
      },
      '{"mode":"limited"}',
    );
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.text).code).toBe("admin_forbidden");
    expect((await send(proxy, "GET", "/", { Host: `evil.example:${proxy.adminPort}` })).status).toBe(403);
    expect((await send(proxy, "POST", "/login", { Host: `evil.example:${proxy.adminPort}` }, JSON.stringify({ token: proxy.token }))).status).toBe(403);
    expect(proxy.state.mode).toBe("full");
  });
});
