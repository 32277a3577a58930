/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * sign in, watch requests arrive live, approve a held request and see the client's request
 * complete, switch the mode. Screenshots land in test-artifacts/dashboard/ (CI keeps them).
 *
 * Chromium's own background traffic (update checks, autofill, accounts) must not leave the
 * machine either: its proxy is a local listener that hangs up on everything. The page's own
 * requests are checked separately: every one goes to the admin listener.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { Resolver } from "../../src/policy/decide.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { rawRequest } from "../helpers/raw.ts";

const CHROMIUM = process.env["CHROMIUM"] ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SHOTS = join(import.meta.dir, "..", "..", "test-artifacts", "dashboard");

const resolver: Resolver = async (name) => {
  if (name.endsWith(".test")) return [{ kind: "ipv4", host: "127.0.0.1" }];
  throw new Error("no such name (test resolver)");
};

let browser: Browser;
const catchAll = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(s) {
      s.end();
    },
    data() {},
  },
});

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("no Chromium found: install Debian's chromium package (apt-get install chromium) or set CHROMIUM=/path/to/chrome");
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root in CI containers has no user namespaces for Chromium's sandbox.
    // Chromium itself never sends loopback through a proxy: only the rest meets the catch-all.
    args: [
      "--no-sandbox",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--proxy-server=http://127.0.0.1:${catchAll.port}`,
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  catchAll.stop(true);
});

interface Session {
  page: Page;
  errors: string[];
  /** Every URL the page asked for. */
  urls: string[];
}

async function open(proxy: TestProxy): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const urls: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(proxy.adminUrl);
  return { page, errors, urls };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForSelector("#status:text-is('live')");
}

const get = (proxy: TestProxy, host: string, port: number) =>
  rawRequest(proxy.port, `GET http://${host}:${port}/echo HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);

describe("the dashboard in Chromium", () => {
  test("sign in, watch traffic live, approve a held request, switch the mode", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["127.0.0.1"]', 'network_proxy.policy.on_unlisted="ask"'], { resolver });
    const { page, errors, urls } = await open(proxy);

    // Sign-in: the form first; a wrong token is refused with a message.
    await page.waitForSelector("#signin:not([hidden])");
    expect(await page.evaluate("document.activeElement.id")).toBe("token");
    await page.screenshot({ path: join(SHOTS, "01-sign-in.png") });
    await page.fill("#token", "not-the-token");
    await page.press("#token", "Enter");
    await page.waitForSelector("#signin-error:text-is('That is not the admin token.')");
    expect(errors).toEqual(["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]);
    errors.length = 0;
    await signIn(page, proxy.token!);
    expect(await page.textContent("#mode")).toBe("full");
    expect(await page.isVisible("#pending-empty")).toBe(true);
    expect(await page.isVisible("#stream-empty")).toBe(true);
    // The session lives in an HttpOnly cookie: script on the page cannot read it.
    expect(await page.evaluate("document.cookie")).toBe("");

    // Traffic shows up as it happens: an allowed request and a block (with its "to allow" hint).
    expect((await get(proxy, "127.0.0.1", origin.port)).status).toBe(200);
    expect((await get(proxy, "127.0.0.2", origin.port)).status).toBe(403);
    await page.waitForSelector(`#rows tr[data-target="127.0.0.1:${origin.port}"][data-decision="allow"]`);
    await page.waitForSelector(`#rows tr[data-target="127.0.0.2:${origin.port}"][data-decision="block"]`);
    expect(await page.textContent("#blocks")).toContain("To allow it:");
    await page.waitForSelector("#c-blocked:text-is('1')", { timeout: 5000 });

    // A request to an unlisted host waits; its card has the three answers.
    const held = get(proxy, "api.held.test", origin.port);
    const card = page.locator(".card[data-id]", { hasText: `api.held.test:${origin.port}` });
    await card.waitFor();
    expect(await card.locator("button").allTextContents()).toEqual(["Allow once", "Allow for session", "Deny for session"]);
    expect(await card.locator("select option").allTextContents()).toEqual(["api.held.test", `api.held.test:${origin.port}`, "*.held.test"]);
    await page.screenshot({ path: join(SHOTS, "02-pending.png") });
    expect(origin.requests).toBe(1);

    // Approve it from the keyboard: the client's request completes.
    await card.locator("button", { hasText: "Allow once" }).focus();
    await page.keyboard.press("Enter");
    const done = await held;
    expect(done.status).toBe(200);
    expect(JSON.parse(done.body.toString())).toMatchObject({ method: "GET", path: "/echo" });
    await card.waitFor({ state: "detached" });
    await page.waitForSelector(`#rows tr[data-target="api.held.test:${origin.port}"][data-decision="allow"]`);

    // Allow for the session, with the parent-domain scope: it becomes a runtime rule.
    const second = get(proxy, "www.held.test", origin.port);
    const card2 = page.locator(".card[data-id]", { hasText: `www.held.test:${origin.port}` });
    await card2.waitFor();
    await card2.locator("select").selectOption("*.parent");
    await card2.locator("button", { hasText: "Allow for session" }).click();
    expect((await second).status).toBe(200);
    expect(proxy.state.approvals.rules.map((r) => [r.list, r.pattern, r.by])).toEqual([["allow", "*.held.test", "dashboard"]]);
    const rule = page.locator("#rules .rule", { hasText: "*.held.test" });
    await rule.waitFor();
    expect(await rule.textContent()).toContain("dashboard");

    // One more, refused from the page (this moment is the README's screenshot).
    const third = get(proxy, "files.pypi.test", origin.port);
    const card3 = page.locator(".card[data-id]", { hasText: `files.pypi.test:${origin.port}` });
    await card3.waitFor();
    await page.waitForSelector("#c-allowed:text-is('3')", { timeout: 5000 });
    await page.screenshot({ path: join(SHOTS, "03-overview.png") });
    await card3.locator("button", { hasText: "Deny for session" }).click();
    expect((await third).status).toBe(403);
    await page.waitForSelector("#rules .rule:has-text('files.pypi.test')");

    // The filter hides what does not match.
    await page.fill("#f-host", "held");
    expect(await page.locator("#rows tr:not([hidden])").count()).toBe(2);
    await page.selectOption("#f-decision", "block");
    expect(await page.locator("#rows tr:not([hidden])").count()).toBe(0);
    await page.fill("#f-host", "");
    expect(await page.locator("#rows tr:not([hidden])").count()).toBe(2);
    await page.selectOption("#f-decision", "");

    // Removing the rule from the page removes it from the proxy.
    await rule.locator("button").click();
    await rule.waitFor({ state: "detached" });
    expect(proxy.state.approvals.rules.map((r) => r.pattern)).toEqual(["files.pypi.test"]);

    // The mode switch.
    await page.click("#mode-switch");
    await page.waitForSelector("#mode:text-is('limited')");
    expect(proxy.state.mode).toBe("limited");
    expect(await page.textContent("#mode-switch")).toBe("Switch to full");
    await page.screenshot({ path: join(SHOTS, "04-limited.png") });

    // Signing out returns to the form; the old cookie is dead.
    await page.click("#signout");
    await page.waitForSelector("#signin:not([hidden])");
    expect(errors).toEqual([]);
    expect(urls.length).toBeGreaterThan(5);
    expect(urls.filter((u) => !u.startsWith(`${proxy.adminUrl}/`))).toEqual([]);
  });
});
