import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { compilePolicy, parsePattern, PatternError, type ListName } from "../../src/policy/rules.ts";
import { canonicalHost, type Target } from "../../src/policy/target.ts";

function allow(...patterns: string[]) {
  const { policy, problems } = compilePolicy({ allowed_domains: patterns, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
  expect(problems).toEqual([]);
  return policy.allow;
}

function t(host: string, port = 443): Target {
  const h = canonicalHost(host, { bareIpv6: true });
  return { ...h, port };
}

describe("pattern semantics (codex V1.x table)", () => {
  const hosts = ["openai.com", "api.openai.com", "a.b.openai.com", "evilopenai.com"];
  test.each([
    ["*.openai.com", [false, true, true, false]],
    ["**.openai.com", [true, true, true, false]],
    ["openai.com", [true, false, false, false]],
    ["*", [true, true, true, true]],
    ["OpenAI.COM.", [true, false, false, false]],
    ["*.Example.COM.", null],
  ] as const)("%s", (pattern, expected) => {
    if (!expected) return;
    const set = allow(pattern);
    expect(hosts.map((h) => set.match(t(h)) !== null)).toEqual([...expected]);
  });

  test("a * inside a label matches within that label only (fixes W5)", () => {
    const set = allow("region*.v2.argotunnel.com");
    expect(set.match(t("region1.v2.argotunnel.com"))).not.toBeNull();
    expect(set.match(t("region.v2.argotunnel.com"))).not.toBeNull();
    expect(set.match(t("xregion1.v2.argotunnel.com"))).toBeNull();
    expect(set.match(t("foo.region1.v2.argotunnel.com"))).toBeNull();
    expect(set.match(t("region1.evil.v2.argotunnel.com"))).toBeNull();
  });

  test("a * label in the middle is exactly one label", () => {
    const set = allow("api.*.example.com");
    expect(set.match(t("api.eu.example.com"))).not.toBeNull();
    expect(set.match(t("api.a.b.example.com"))).toBeNull();
    expect(set.match(t("api.example.com"))).toBeNull();
  });

  test("suffix tricks do not match (catalogue B18-B19)", () => {
    const set = allow("allowed.com", "**.api.github.com");
    for (const h of ["allowed.com.evil.com", "evil-allowed.com", "evilallowed.com", "apiXgithubYcom", "api.github.com.evil.com"]) {
      expect(set.match(t(h))).toBeNull();
    }
    expect(set.match(t("api.github.com"))).not.toBeNull();
  });

  test("Unicode patterns are canonicalized like targets", () => {
    const set = allow("bücher.example");
    expect(set.match(t("xn--bcher-kva.example"))).not.toBeNull();
    expect(set.match(t("BÜCHER.example."))).not.toBeNull();
  });

  test("host:port rules apply to that port only (W14)", () => {
    const set = allow("example.com:443", "[::1]:8080", "*.svc.test:8443", "*:22");
    expect(set.match(t("example.com", 443))).not.toBeNull();
    expect(set.match(t("example.com", 80))).toBeNull();
    expect(set.match(t("::1", 8080))).not.toBeNull();
    expect(set.match(t("::1", 8081))).toBeNull();
    expect(set.match(t("a.svc.test", 8443))).not.toBeNull();
    expect(set.match(t("a.svc.test", 443))).toBeNull();
    expect(set.match(t("anything.test", 22))?.raw).toBe("*:22");
  });

  test("IP literals and CIDRs (IPv4 spellings canonicalized)", () => {
    const set = allow("10.0.0.0/8", "fd00::/8", "192.168.1.7", "[2001:db8::5]", "::1");
    expect(set.match(t("10.200.3.4"))?.raw).toBe("10.0.0.0/8");
    expect(set.match(t("11.0.0.1"))).toBeNull();
    expect(set.match(t("fdab::1"))?.raw).toBe("fd00::/8");
    expect(set.match(t("fe00::1"))).toBeNull();
    expect(set.match(t("192.168.1.7"))?.raw).toBe("192.168.1.7");
    expect(set.match(t("192.168.1.8"))).toBeNull();
    expect(set.match(t("2001:db8::5"))).not.toBeNull();
    expect(set.match(t("::1"))).not.toBeNull();
    // Name wildcards never match IPs; `*` does (public IPs; see decide tests for local ones).
    expect(allow("*.example.com").match(t("10.0.0.1"))).toBeNull();
  });
});

describe("invalid patterns are config errors naming the entry", () => {
  test.each([
    ["", "allowed_domains", "empty pattern"],
    ["*", "denied_domains", 'global wildcard "*" is not supported in denied_domains'],
    ["exa?ple.com", "allowed_domains", "not supported"],
    ["{a,b}.com", "allowed_domains", "not supported"],
    ["[", "allowed_domains", "unterminated"],
    ["[example.com]", "allowed_domains", "brackets are only for IPv6"],
    ["example.com:0", "allowed_domains", "invalid port"],
    ["example.com:007", "allowed_domains", "invalid port"],
    ["evil.com:443.allowed.com", "allowed_domains", "invalid port"],
    ["*.10.0.0.1", "allowed_domains", "wildcards do not apply to IP addresses"],
    ["10.0.0.1/8", "allowed_domains", "did you mean 10.0.0.0/8"],
    ["10.0.0.0/33", "allowed_domains", "more than 32"],
    ["10.0.0.0/8:443", "allowed_domains", "ports cannot be combined"],
    ["::ffff:0:0/96", "denied_domains", "IPv4-mapped"],
    ["::/0", "allowed_domains", "IPv4-mapped"],
    ["fd00::1/8", "allowed_domains", "did you mean fd00::/8"],
    ["a..b.com", "allowed_domains", "empty label"],
    ["*.a%b.com", "allowed_domains", "contains"],
    ["fe80::1%lo0", "allowed_domains", "zone ids"],
  ])("%j in %s", (raw, list, message) => {
    expect(() => parsePattern(raw, list as ListName)).toThrow(PatternError);
    expect(() => parsePattern(raw, list as ListName)).toThrow(message);
  });

  test("compilePolicy reports every bad entry with its index", () => {
    const { problems } = compilePolicy({
      allowed_domains: ["ok.com", "bad..com", "*.ok.com", "[nope]"],
      denied_domains: ["*"],
      allow_unix_sockets: [],
      allow_local_binding: false,
    });
    expect(problems.map((p) => p.key)).toEqual([
      "network_proxy.policy.allowed_domains[1]",
      "network_proxy.policy.allowed_domains[3]",
      "network_proxy.policy.denied_domains[0]",
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the indexed matcher agrees with a slow, obviously-correct reference matcher.

function refMatch(pattern: string, host: string, kind: Target["kind"], port: number): boolean {
  let p = pattern;
  let pport: number | null = null;
  const m = /^(.*):(\d+)$/.exec(p);
  if (m && !p.includes("/") && (p.startsWith("[") || !m[1]!.includes(":"))) {
    p = m[1]!;
    pport = Number(m[2]);
  }
  if (pport !== null && pport !== port) return false;
  if (p === "*") return true;
  if (p.startsWith("[")) p = p.slice(1, -1);
  if (p.includes("/")) {
    if (kind === "domain") return false;
    const [net, bits] = ipaddr.parseCIDR(p);
    const addr = ipaddr.parse(host);
    return addr.kind() === net.kind() && addr.match(net, bits);
  }
  if (ipaddr.isValid(p) && (p.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(p))) {
    return kind !== "domain" && ipaddr.parse(p).toNormalizedString() === ipaddr.parse(host).toNormalizedString();
  }
  if (kind !== "domain") return false;
  let lead = "";
  if (p.startsWith("**.")) {
    lead = "(?:[^.]+\\.)*";
    p = p.slice(3);
  } else if (p.startsWith("*.")) {
    lead = "(?:[^.]+\\.)+";
    p = p.slice(2);
  }
  const body = p
    .toLowerCase()
    .split("")
    .map((c) => (c === "*" ? "[^.]*" : c.replace(/[.\\^$+?()[\]{}|-]/g, "\\$&")))
    .join("");
  return new RegExp(`^${lead}${body}$`).test(host);
}

describe("property: indexed matcher == reference matcher", () => {
  const label = fc.constantFrom("a", "b", "ab", "ba", "x1", "com", "net");
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join("."));
  const globLabel = fc.constantFrom("a*", "*b", "x*", "*", "a*b");
  const port = fc.constantFrom(80, 443, 8080);
  const ip = fc.constantFrom("10.0.0.1", "10.1.2.3", "192.168.0.1", "8.8.8.8", "::1", "fd00::1", "2001:db8::1");
  const cidr = fc.constantFrom("10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "fd00::/8", "2001:db8::/32", "0.0.0.0/0");
  const namePattern = fc
    .tuple(fc.constantFrom("", "*.", "**."), fc.array(fc.oneof(label, globLabel), { minLength: 0, maxLength: 1 }), name)
    .map(([lead, globs, rest]) => lead + [...globs, rest].join("."));
  const pattern = fc
    .tuple(fc.oneof({ weight: 6, arbitrary: namePattern }, ip.map((i) => (i.includes(":") ? `[${i}]` : i)), cidr, fc.constant("*")), fc.option(port, { nil: null }))
    .map(([p, pt]) => (pt === null || p.includes("/") ? p : `${p}:${pt}`));
  const target = fc.tuple(fc.oneof({ weight: 4, arbitrary: name }, ip), port);

  test("agrees on random patterns and targets", () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 0, maxLength: 12 }), fc.array(target, { minLength: 1, maxLength: 10 }), (patterns, targets) => {
        const { policy, problems } = compilePolicy({ allowed_domains: patterns, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
        expect(problems).toEqual([]);
        for (const [host, p] of targets) {
          const tg = t(host, p);
          const indexed = policy.allow.match(tg) !== null;
          const reference = patterns.some((pat) => refMatch(pat, tg.host, tg.kind, p));
          if (indexed !== reference) throw new Error(`${JSON.stringify(patterns)} vs ${host}:${p}: indexed=${indexed} reference=${reference}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("matching cost does not grow with the number of patterns", () => {
  test("100,000 exact and wildcard names are all indexed (no linear list)", () => {
    const patterns = Array.from({ length: 100_000 }, (_, i) => (i % 2 ? `host${i}.example${i % 97}.com` : `*.zone${i}.test`));
    const set = allow(...patterns);
    expect(set.any.length).toBe(0);
    expect(set.names.get("")).toBeUndefined();
    // every bucket is tiny: the work per probe is constant
    let largest = 0;
    for (const b of set.names.values()) largest = Math.max(largest, b.length);
    expect(largest).toBe(1);
    expect(set.match(t("a.b.zone99998.test"))?.raw).toBe("*.zone99998.test");
    expect(set.match(t("host99999.example89.com"))?.raw).toBe("host99999.example89.com");
    expect(set.match(t("nothing.example.org"))).toBeNull();
  });
});
