import { describe, expect, test } from "bun:test";
import { Approvals, MAX_WAITERS_PER_TARGET, scopePattern, type Answer, type ApprovalEvent } from "../../src/runtime/approvals.ts";
import { ClientGone } from "../../src/proxy/dial.ts";
import { parseAuthority } from "../../src/policy/target.ts";

const t = (s: string) => parseAuthority(s, 443);
const info = (client = "127.0.0.1:1") => ({ protocol: "http", method: "GET", client });

function approvals(maxPending = 4) {
  const events: ApprovalEvent[] = [];
  const a = new Approvals(() => ({ timeoutMs: 60_000, maxPending }));
  a.listeners.push((e) => events.push(e));
  return { a, events };
}

describe("scopePattern", () => {
  test("host and host:port for every target; *.parent only where it is a real parent", () => {
    expect(scopePattern(t("api.example.com:8443"), "host")).toBe("api.example.com");
    expect(scopePattern(t("api.example.com:8443"), "host:port")).toBe("api.example.com:8443");
    expect(scopePattern(t("a.b.example.com"), "*.parent")).toBe("*.b.example.com");
    expect(scopePattern(t("[2001:db8::1]:443"), "host")).toBe("[2001:db8::1]");
    expect(scopePattern(t("[2001:db8::1]:443"), "host:port")).toBe("[2001:db8::1]:443");
    // Not offered: a name right under a top-level domain, addresses, public registry suffixes.
    for (const target of ["example.com", "93.184.216.34", "[2001:db8::1]:443", "a.co.uk", "shop.com.au", "x.ac.jp"]) {
      expect(scopePattern(t(target), "*.parent")).toBeNull();
    }
    expect(scopePattern(t("www.bbc.co.uk"), "*.parent")).toBe("*.bbc.co.uk");
  });
});

describe("Approvals", () => {
  test("attempts at one target share an entry that lists each; past the cap they are refused", async () => {
    const { a } = approvals();
    const held: Array<Promise<Answer> | "full"> = [];
    for (let i = 0; i < MAX_WAITERS_PER_TARGET; i++) held.push(a.ask(t("x.example"), info(`127.0.0.1:${i}`)));
    expect(held.every((h) => h !== "full")).toBe(true);
    expect(a.ask(t("x.example"), info())).toBe("full");
    const [p] = a.pending;
    expect(p!.waiting).toBe(MAX_WAITERS_PER_TARGET);
    expect(p!.attempts).toHaveLength(MAX_WAITERS_PER_TARGET);
    expect(p!.client).toBe("127.0.0.1:0");
    expect(a.answer(p!.id, "allow_once", "host", "api")).toEqual({ pattern: "x.example:443" });
    for (const h of held) expect((await h) as Answer).toMatchObject({ kind: "allow" });
  });

  test("a client that goes away leaves the entry; the last one leaving ends it", async () => {
    const { a, events } = approvals();
    const g1 = new ClientGone();
    const g2 = new ClientGone();
    const one = a.ask(t("y.example"), info("c1"), g1) as Promise<Answer>;
    const two = a.ask(t("y.example"), info("c2"), g2) as Promise<Answer>;
    g1.set();
    expect(await one).toEqual({ kind: "gone" });
    expect(a.pending[0]).toMatchObject({ waiting: 1, client: "c2", attempts: [info("c2")] });
    g2.set();
    expect(await two).toEqual({ kind: "gone" });
    expect(a.pending).toEqual([]);
    expect(events.at(-1)).toMatchObject({ kind: "answered", decision: "abandoned" });
    // An attempt whose client is already gone is not held at all.
    expect(await (a.ask(t("z.example"), info(), g1) as Promise<Answer>)).toEqual({ kind: "gone" });
    expect(a.pending).toEqual([]);
  });

  test("the listener is given back once answered, for the dial that follows", async () => {
    const { a } = approvals();
    const g = new ClientGone();
    const held = a.ask(t("w.example"), info(), g) as Promise<Answer>;
    a.answer(a.pending[0]!.id, "allow_session", "host", "api");
    await held;
    let called = false;
    g.listen(() => (called = true));
    g.set();
    expect(called).toBe(true);
  });

  test("*.parent is refused where it is not offered, and the entry stays held", () => {
    const { a } = approvals();
    void a.ask(t("a.co.uk"), info());
    const id = a.pending[0]!.id;
    expect(a.answer(id, "allow_session", "*.parent", "api")).toEqual({ refused: expect.stringContaining("public suffix") });
    expect(a.pending).toHaveLength(1);
    expect(a.rules).toEqual([]);
  });

  test("after close, held attempts are refused and new ones are refused at once; a non-final close keeps asking", async () => {
    const { a } = approvals();
    const before = a.ask(t("v.example"), info()) as Promise<Answer>;
    a.close("no longer asking", false);
    expect(await before).toEqual({ kind: "deny", why: "no longer asking" });
    expect(a.ask(t("v.example"), info())).toBeInstanceOf(Promise);
    a.close();
    expect(await (a.ask(t("u.example"), info()) as Promise<Answer>)).toEqual({ kind: "deny", why: "the proxy is stopping; nobody answered" });
    expect(a.pending).toEqual([]);
  });
});
