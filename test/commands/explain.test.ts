import { describe, expect, test } from "bun:test";
import { buildConfig, type ConfigSource } from "../../src/config/load.ts";
import { explainOne } from "../../src/commands/explain.ts";
import { admit } from "../../src/policy/admission.ts";
import { NO_HOOKS } from "../../src/policy/hooks.ts";
import { judgeTarget, type DialAddr, type Resolver } from "../../src/policy/decide.ts";

const src: ConfigSource = { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] };

function config(toml: string) {
  const r = buildConfig(`[network_proxy]\n${toml}`, src);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}

/** A resolver that answers from a table and records what it was asked. */
function dns(table: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve: Resolver = async (name) => {
    asked.push(name);
    const a = table[name];
    if (!a) throw new Error("ENOTFOUND");
    return a.map((h): DialAddr => ({ kind: h.includes(":") ? "ipv6" : "ipv4", host: h }));
  };
  return { asked, resolve };
}

describe("explain", () => {
  const c = config('[network_proxy.policy]\nallowed_domains = ["**.example.com", "127.0.0.1"]\ndenied_domains = ["bad.example.com"]\n');

  test("an allowed name: the rule, the vetted addresses, the admission for each entry path", async () => {
    const d = dns({ "api.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"] });
    expect(await explainOne(c, "https://api.example.com/x?y", false, d.resolve)).toEqual([
      "https://api.example.com/x?y -> api.example.com:443 (domain)",
      '  ALLOW: allowed_domains entry "**.example.com" matches api.example.com:443; dialing 93.184.215.14, 2606:2800:21f:cb07:6820:80da:af6b:8b2c',
      "  would dial: 93.184.215.14:443, [2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443",
      "  route: directly",
      "  via CONNECT: ALLOW (a tunnel: the bytes inside are not inspected)",
      "  via SOCKS5: ALLOW (a tunnel: the bytes inside are not inspected)",
    ]);
  });

  test("blocks say why and what would allow them; names not allowed are never resolved", async () => {
    const d = dns({ "bad.example.com": ["93.184.215.14"], "other.org": ["93.184.215.14"], "rebind.example.com": ["10.0.0.7"] });
    const denied = await explainOne(c, "bad.example.com:443", false, d.resolve);
    expect(denied[1]).toBe("  BLOCK denied (HTTP 403, x-proxy-error: blocked-by-denylist)");
    const notAllowed = await explainOne(c, "http://other.org/", false, d.resolve);
    expect(notAllowed[1]).toBe("  BLOCK not_allowed (HTTP 403, x-proxy-error: blocked-by-allowlist)");
    expect(notAllowed[3]).toContain('to allow: the proxy\'s operator can add "other.org"');
    const local = await explainOne(c, "http://rebind.example.com/", false, d.resolve);
    expect(local[1]).toBe("  BLOCK not_allowed_local (HTTP 403, x-proxy-error: blocked-by-allowlist)");
    expect(local[2]).toContain("resolved to 10.0.0.7");
    expect(d.asked).toEqual(["rebind.example.com"]);
  });

  test("the proxy's own configured listeners are refused, like the running proxy does", async () => {
    for (const t of ["127.0.0.1:3128", "http://127.0.0.1:8080/mode", "127.0.0.1:8081"]) {
      expect((await explainOne(c, t, true))[1]).toBe("  BLOCK own_listener (HTTP 403, x-proxy-error: blocked-by-policy)");
    }
    expect((await explainOne(c, "127.0.0.1:9999", true))[1]).toBe('  ALLOW: allowed_domains entry "127.0.0.1" matches 127.0.0.1:9999');
    const moved = config('proxy_url = "127.0.0.1:4000"\nenable_socks5 = false\n[network_proxy.policy]\nallowed_domains = ["127.0.0.1"]\n');
    expect((await explainOne(moved, "127.0.0.1:4000", true))[1]).toContain("own_listener");
    expect((await explainOne(moved, "127.0.0.1:8081", true))[1]).toContain("ALLOW");
  });

  test("--no-dns, limited mode, and invalid targets", async () => {
    const d = dns({});
    expect(await explainOne(c, "https://api.example.com/", true, d.resolve)).toEqual([
      "https://api.example.com/ -> api.example.com:443 (domain)",
      '  ALLOW by name: allowed_domains entry "**.example.com" matches; each resolved address would still be checked (skipped: --no-dns)',
      "  via CONNECT: ALLOW (a tunnel: the bytes inside are not inspected)",
      "  via SOCKS5: ALLOW (a tunnel: the bytes inside are not inspected)",
    ]);
    expect(d.asked).toEqual([]);
    const limited = config('mode = "limited"\n[network_proxy.policy]\nallowed_domains = ["example.com"]\n');
    expect((await explainOne(limited, "https://example.com/", true)).slice(-2)).toEqual([
      "  via CONNECT: BLOCK mitm_required (x-proxy-error: blocked-by-mitm-required): limited mode allows HTTPS only through MITM, which is off",
      "  via SOCKS5: BLOCK method_not_allowed (x-proxy-error: blocked-by-method-policy): SOCKS5 cannot show a method, so it is blocked in limited mode",
    ]);
    expect((await explainOne(limited, "http://example.com/", true)).slice(-2)).toEqual([
      "  via HTTP proxy request (GET /): ALLOW (limited mode: GET, HEAD and OPTIONS only, no bodies, upgrades or method overrides)",
      "  via SOCKS5: BLOCK method_not_allowed (x-proxy-error: blocked-by-method-policy): SOCKS5 cannot show a method, so it is blocked in limited mode",
    ]);
    const mitm = config('mode = "limited"\n[network_proxy.mitm]\nenabled = true\n[network_proxy.policy]\nallowed_domains = ["example.com"]\n');
    expect((await explainOne(mitm, "https://example.com/", true)).slice(-3)).toEqual([
      "  via CONNECT: INTERCEPT: HTTPS is inspected (MITM), and each request inside an intercepted tunnel is judged again",
      "  via SOCKS5: BLOCK method_not_allowed (x-proxy-error: blocked-by-method-policy): SOCKS5 cannot show a method, so it is blocked in limited mode",
      "  via request inside an intercepted tunnel (GET /): ALLOW (limited mode: GET, HEAD and OPTIONS only, no bodies, upgrades or method overrides)",
    ]);
    expect((await explainOne(c, "http://exa mple.com/", true))[0]).toContain("invalid target");
  });
});

describe("every hint is a change that alone allows the target", () => {
  const policies: Array<{ allow: string[]; deny?: string[]; local?: boolean }> = [
    { allow: [] },
    { allow: ["example.com"] },
    { allow: ["*"] },
    { allow: ["**.example.com", "**.localhost"] },
    { allow: ["localhost:1"] },
    { allow: ["*"], local: true },
    { allow: ["example.com"], local: true },
    { allow: ["*"], deny: ["127.0.0.1"] },
    { allow: ["**.example.com"], deny: ["10.0.0.8"] },
  ];
  const targets = [
    "http://localhost:9000/",
    "http://dev.localhost:9000/",
    "127.0.0.1:9000",
    "[::1]:9000",
    "http://10.0.0.5/",
    "http://192.168.1.4:8443/",
    "api.example.com",
    "http://sub.a.example.org/",
    "rebind.example.com",
    "mixed.example.com:8443",
    "denied-addr.example.com",
    "8.8.8.8:53",
    "127.0.0.1:3128", // the proxy's own listener: nothing may allow it
    "localhost:8080",
  ];
  const table = {
    "api.example.com": ["93.184.215.14"],
    "sub.a.example.org": ["93.184.215.15"],
    "rebind.example.com": ["10.0.0.7", "10.0.0.9"],
    "mixed.example.com": ["93.184.215.16", "192.168.7.7"],
    "denied-addr.example.com": ["10.0.0.7", "10.0.0.8"],
  };
  const toml = (p: { allow: string[]; deny?: string[]; local?: boolean }) =>
    `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(p.allow)}\ndenied_domains = ${JSON.stringify(p.deny ?? [])}\nallow_local_binding = ${p.local === true}\n`;

  test("applied one at a time, each alternative turns BLOCK into ALLOW (explained again); own listeners and denials get none", async () => {
    const d = dns(table);
    let checked = 0;
    let chained = 0;
    const noHint: string[] = [];
    for (const policy of policies) {
      for (const t of targets) {
        const before = await explainOne(config(toml(policy)), t, false, d.resolve);
        if (!before[1]!.startsWith("  BLOCK")) continue;
        const line = before.find((l) => l.startsWith("  to allow: "));
        if (!line) {
          noHint.push(`${t} ${before[1]!.trim().split(" ")[1]}${policy.deny ? ` deny=${policy.deny}` : ""}`);
          continue;
        }
        // "add "a" and "b" to ...allowed_domains" or "set ...allow_local_binding = true", joined by ", or ".
        const ways = (l: string) => l.slice("  to allow: the proxy's operator can ".length).split(", or ");
        const apply = (p: typeof policy, way: string) =>
          way.startsWith("set ") ? { ...p, local: true } : { ...p, allow: [...p.allow, ...[...way.matchAll(/"([^"]+)"/g)].map((m) => m[1]!)] };
        for (const way of ways(line)) {
          expect(way).toMatch(/^(add ("[^"]+"( and )?)+ to network_proxy\.policy\.allowed_domains|set network_proxy\.policy\.allow_local_binding = true)$/);
          const applied = apply(policy, way);
          const after = await explainOne(config(toml(applied)), t, false, d.resolve);
          const what = `${JSON.stringify(policy)} ${t} + ${way}`;
          checked++;
          if (after[1]!.startsWith("  ALLOW")) continue;
          // The one thing a hint cannot know: a name that is not allowed is never resolved, so
          // its addresses are judged only once it is. Then the new block's hint must be enough.
          expect(`${what}: ${before[1]!.trim()} -> ${after[1]!.trim()}`).toContain(
            "BLOCK not_allowed (HTTP 403, x-proxy-error: blocked-by-allowlist) -> BLOCK not_allowed_local",
          );
          expect((await explainOne(config(toml(applied)), t, true))[1]).toStartWith("  ALLOW by name");
          const next = after.find((l) => l.startsWith("  to allow: "))!;
          for (const second of ways(next)) {
            const last = await explainOne(config(toml(apply(applied, second))), t, false, d.resolve);
            expect(`${what} + ${second}: ${last[1]!.trim()}`).toContain(": ALLOW");
          }
          chained++;
        }
      }
    }
    expect(checked).toBeGreaterThan(60);
    expect(chained).toBeGreaterThan(0);
    // The only blocks without a hint: our own listeners, what a denylist entry refuses, and
    // localhost names while 127.0.0.1 is denied (no list change alone would let them through).
    expect(noHint.filter((n) => !/own_listener|denied/.test(n))).toEqual([
      "http://localhost:9000/ not_allowed_local deny=127.0.0.1",
      "http://dev.localhost:9000/ not_allowed_local deny=127.0.0.1",
    ]);
    // Both own-listener targets under every policy, except 127.0.0.1:3128 where 127.0.0.1 is denied (deny wins).
    expect(noHint.filter((n) => n.includes("own_listener")).length).toBe(policies.length * 2 - 1);
  });

  test("the loopback case users met: allow_local_binding is offered only where an allowlist entry already matches", async () => {
    const only = await explainOne(config(toml({ allow: ["example.com"] })), "http://127.0.0.1:9000/", true);
    expect(only.at(-1)).toBe('  to allow: the proxy\'s operator can add "127.0.0.1:9000" to network_proxy.policy.allowed_domains');
    const star = await explainOne(config(toml({ allow: ["*"] })), "http://127.0.0.1:9000/", true);
    expect(star.at(-1)).toBe(
      '  to allow: the proxy\'s operator can add "127.0.0.1:9000" to network_proxy.policy.allowed_domains, or set network_proxy.policy.allow_local_binding = true',
    );
    const own = await explainOne(config(toml({ allow: ["example.com"] })), "http://127.0.0.1:8080/health", true);
    expect(own.slice(1)).toEqual([
      "  BLOCK own_listener (HTTP 403, x-proxy-error: blocked-by-policy)",
      "  why: 127.0.0.1:8080 is one of this proxy's own listeners",
    ]);
  });
});

describe("the hint and the entry path", () => {
  test("a list change is not offered when the entry path would refuse the request in this mode anyway", () => {
    const c = config('mode = "limited"\n[network_proxy.policy]\nallowed_domains = ["example.com"]\n');
    const d = judgeTarget(c.policy, { kind: "domain", host: "other.org", port: 443 }, { self: [] });
    if (d.verdict !== "block") throw new Error("expected a block");
    expect(d.hint).toContain('add "other.org"');
    const facts = { mode: "limited" as const, mitm: false, hooks: NO_HOOKS, plaintextInjection: false };
    expect(admit("socks5", d, null, facts)).toMatchObject({ verdict: "block", block: { reason: "not_allowed", hint: null } });
    expect(admit("connect", d, null, facts)).toMatchObject({ verdict: "block", block: { reason: "not_allowed", hint: null } });
    const get = { method: "GET", hasBody: false, upgrade: false, overrides: [], path: "/", headers: [] };
    expect(admit("http", d, get, facts)).toMatchObject({ verdict: "block", block: { hint: d.hint } });
    expect(admit("http", d, { ...get, method: "POST" }, facts)).toMatchObject({ verdict: "block", block: { hint: null } });
  });
});

describe("explain and the upstream proxy", () => {
  test("the route a target takes: the upstream, or directly (no_proxy, loopback); by name when the upstream resolves", async () => {
    const c = config(
      '[network_proxy.policy]\nallowed_domains = ["**.example.com", "127.0.0.1"]\n[network_proxy.upstream]\nurl = "http://proxy.corp.example:3128"\nno_proxy = ["internal.example.com"]\nresolve = "upstream"\n',
    );
    const d = dns({ "internal.example.com": ["93.184.215.14"] });
    expect((await explainOne(c, "https://api.example.com/", false, d.resolve)).slice(1, 4)).toEqual([
      '  ALLOW: allowed_domains entry "**.example.com" matches api.example.com:443; not resolved here (the upstream proxy resolves it)',
      '  would dial: nothing here: the upstream proxy resolves the name (upstream.resolve = "upstream")',
      "  route: through the upstream proxy http://proxy.corp.example:3128",
    ]);
    expect((await explainOne(c, "https://internal.example.com/", false, d.resolve))[3]).toBe("  route: directly");
    expect((await explainOne(c, "http://127.0.0.1:8000/", false, d.resolve))[3]).toBe("  route: directly");
    expect(d.asked).toEqual(["internal.example.com"]);
  });
});
