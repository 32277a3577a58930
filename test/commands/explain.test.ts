import { describe, expect, test } from "bun:test";
import { buildConfig, type ConfigSource } from "../../src/config/load.ts";
import { explainOne } from "../../src/commands/explain.ts";
import type { DialAddr, Resolver } from "../../src/policy/decide.ts";

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
      "  via HTTP proxy request: ALLOW GET, HEAD and OPTIONS only (no bodies, upgrades or method overrides)",
      "  via SOCKS5: BLOCK method_not_allowed (x-proxy-error: blocked-by-method-policy): SOCKS5 cannot show a method, so it is blocked in limited mode",
    ]);
    const mitm = config('mode = "limited"\n[network_proxy.mitm]\nenabled = true\n[network_proxy.policy]\nallowed_domains = ["example.com"]\n');
    expect((await explainOne(mitm, "https://example.com/", true)).at(-2)).toBe(
      "  via CONNECT: INTERCEPT: HTTPS is inspected (MITM), and each request inside an intercepted tunnel is judged again: only GET, HEAD and OPTIONS",
    );
    expect((await explainOne(c, "http://exa mple.com/", true))[0]).toContain("invalid target");
  });
});
