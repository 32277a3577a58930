import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { judgeAddresses, judgeTarget } from "../../src/policy/decide.ts";
import { parsePattern, PatternError, type ListName } from "../../src/policy/pattern.ts";
import { NameIndex } from "../../src/policy/name-index.ts";
import { compilePolicy } from "../../src/policy/rules.ts";
import { canonicalHost, type Target } from "../../src/policy/target.ts";
import { refCidrUnlocks } from "../helpers/fuzz/ref-host.ts";

function allow(...patterns: string[]) {
  const { policy, problems } = compilePolicy({ allowed_domains: patterns, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
  expect(problems).toEqual([]);
  return policy.allow;
}

function t(host: string, port = 443): Target {
  const h = canonicalHost(host, { bareIpv6: true });
  return { ...h, port };
}

function compile(allowed: string[], denied: string[] = [], local = false) {
  const r = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: local });
  expect(r.problems).toEqual([]);
  return r.policy;
}

/** A decision as one word: the block reason, "resolve" or "allow". */
function verdict(allowed: string[], denied: string[], local: boolean, host: string, port = 443): string {
  const d = judgeTarget(compile(allowed, denied, local), t(host, port), { self: [] });
  return d.verdict === "block" ? d.reason : d.verdict;
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
// Old-style IPv4 globs (audit finding 1): `169.254.*` in denied_domains must block 169.254.169.254.

describe("old-style IPv4 globs are the CIDR block they mean", () => {
  test.each([
    ["10.*", "10.0.0.0", 8],
    ["169.254.*", "169.254.0.0", 16],
    ["192.168.1.*", "192.168.1.0", 24],
    ["10.**", "10.0.0.0", 8],
    ["10.*.*.*", "10.0.0.0", 8],
    ["192.168.*.*", "192.168.0.0", 16],
    ["169.254.**.**", "169.254.0.0", 16],
    ["0.*", "0.0.0.0", 8],
    ["255.255.255.*", "255.255.255.0", 24],
    ["169.254.*.", "169.254.0.0", 16],
    [" 10.* ", "10.0.0.0", 8],
    ["１６９．２５４.*", "169.254.0.0", 16], // full-width digits and dot, as URL parsers read them
  ] as const)("%j is %s/%d, in both lists", (raw, host, bits) => {
    for (const list of ["allowed_domains", "denied_domains"] as const) {
      const p = parsePattern(raw, list);
      expect(p.kind === "cidr" ? { family: p.family, host: p.host, bits: p.bits } : p.kind).toEqual({ family: "ipv4", host, bits });
      // Like a CIDR entry: explicit (unlocks local addresses in the block when allowlisted).
      expect({ form: p.rule.form, explicit: p.rule.explicit, raw: p.rule.raw }).toEqual({ form: "cidr", explicit: true, raw });
    }
  });

  test("the audit's case: denied 169.254.* blocks the metadata address under allowed * and allow_local_binding", () => {
    const allowed = ["*"];
    expect(verdict(allowed, ["169.254.*"], true, "169.254.169.254", 80)).toBe("denied");
    expect(verdict(allowed, ["169.254.*"], true, "169.254.0.1", 80)).toBe("denied");
    expect(verdict(allowed, ["169.254.*"], true, "169.253.255.255", 80)).toBe("allow");
    expect(verdict(allowed, ["169.254.*"], true, "169.255.0.0", 80)).toBe("allow");
    // Every spelling of the address: inet_aton forms, mapped, compatible, NAT64, 6to4, Teredo.
    for (const h of [
      "2852039166",
      "0xa9.0xfe.0xa9.0xfe",
      "169.254.43518",
      "::ffff:169.254.169.254",
      "::169.254.169.254",
      "64:ff9b::a9fe:a9fe",
      "2002:a9fe:a9fe::1",
      "2001:0:a9fe:a9fe::1",
      "2001::5601:5601",
    ]) {
      expect({ h, v: verdict(allowed, ["169.254.*"], true, h, 80) }).toEqual({ h, v: "denied" });
    }
  });

  test("a name resolving into the block is denied, like with the CIDR entry", () => {
    for (const deny of ["169.254.*", "169.254.0.0/16"]) {
      const p = compile(["**.example.com"], [deny], true);
      for (const addr of [
        { kind: "ipv4", host: "169.254.169.254" },
        { kind: "ipv6", host: "64:ff9b::a9fe:a9fe" },
      ] as const) {
        const d = judgeAddresses(p, t("metadata.example.com"), null, [addr], { self: [] });
        expect({ deny, addr: addr.host, v: d.verdict === "block" ? d.reason : d.verdict }).toEqual({ deny, addr: addr.host, v: "denied" });
      }
    }
  });

  test("in the allowlist it unlocks local addresses in the block like a CIDR entry, and only those", () => {
    expect(verdict(["10.*"], [], false, "10.1.2.3")).toBe("allow");
    expect(verdict(["10.*"], [], false, "11.1.2.3")).toBe("not_allowed");
    expect(verdict(["192.168.1.*"], [], false, "192.168.2.1")).toBe("not_allowed_local");
    const p = compile(["**.corp.example", "10.*"]);
    const d = judgeAddresses(p, t("db.corp.example"), null, [{ kind: "ipv4", host: "10.9.8.7" }], { self: [] });
    expect(d.verdict).toBe("allow");
  });

  test("a port restricts it like any entry", () => {
    expect(verdict(["*"], ["169.254.*:80"], true, "169.254.169.254", 80)).toBe("denied");
    expect(verdict(["*"], ["169.254.*:80"], true, "169.254.169.254", 443)).toBe("allow");
  });

  test("decision: it does not match names (10.* does not allow the name 10.com)", () => {
    const set = allow("10.*", "169.254.*");
    expect(set.match(t("10.com"))).toBeNull();
    expect(set.match(t("169.254.example"))).toBeNull();
    expect(set.match(t("10.0.0.1"))?.raw).toBe("10.*");
  });

  test.each([
    ["10.*.1.1", "10.0.0.0/8"],
    ["1*.0.0.1", "such as 10.0.0.0/8"],
    ["*.10.0.0.1", "such as 10.0.0.0/8"],
    ["*.10.*", "such as 10.0.0.0/8"],
    ["**.169.254.*", "such as 10.0.0.0/8"],
    ["10.*1", "10.0.0.0/8"],
    ["192.168.1*", "192.168.0.0/16"],
    ["192.168.*.1", "192.168.0.0/16"],
    ["1.2.3.4.*", "such as 10.0.0.0/8"],
    ["10.*.*.*.*", "10.0.0.0/8"],
    ["010.*", "such as 10.0.0.0/8"],
    ["256.*", "such as 10.0.0.0/8"],
    ["*.1", "such as 10.0.0.0/8"],
  ])("%j is a config error naming the entry and suggesting %s", (raw, suggestion) => {
    for (const list of ["allowed_domains", "denied_domains"] as const) {
      const { problems } = compilePolicy({
        allowed_domains: list === "allowed_domains" ? [raw] : [],
        denied_domains: list === "denied_domains" ? [raw] : [],
        allow_unix_sockets: [],
        allow_local_binding: false,
      });
      expect(problems).toHaveLength(1);
      expect(problems[0]!.severity).toBe("error");
      expect(problems[0]!.key).toBe(`network_proxy.policy.${list}[0]`);
      expect(problems[0]!.message).toStartWith(`${JSON.stringify(raw)}: wildcards do not apply to IP addresses`);
      expect(problems[0]!.message).toContain(suggestion);
    }
  });

  test("globs that are not IPv4-looking stay name globs", () => {
    const set = allow("10.*.internal.example", "1.*.example.com", "*.*", "1*", "0x7f.*", "a1.*", "**.*1");
    expect(set.match(t("10.db.internal.example"))?.raw).toBe("10.*.internal.example");
    expect(set.match(t("1.x.example.com"))?.raw).toBe("1.*.example.com");
    expect(set.match(t("a.b"))?.raw).toBe("*.*");
    expect(set.match(t("12abc"))?.raw).toBe("1*");
    expect(set.match(t("0x7f.example"))?.raw).toBe("0x7f.*");
    expect(set.match(t("a.b.x1"))?.raw).toBe("*.*");
    expect(allow("**.*1").match(t("a.b.x1"))?.raw).toBe("**.*1");
    expect(set.match(t("10.1.2.3"))).toBeNull();
  });

  test("property: a glob entry and its CIDR entry decide every address alike, in either list and every spelling", () => {
    const octet = fc.constantFrom(0, 1, 10, 100, 127, 169, 172, 192, 254, 255);
    const globEntry = fc
      .tuple(fc.array(octet, { minLength: 1, maxLength: 3 }), fc.array(fc.constantFrom("*", "**"), { minLength: 1, maxLength: 3 }))
      .filter(([o, w]) => o.length + w.length <= 4)
      .map(([o, w]) => ({ glob: [...o, ...w].join("."), cidr: `${[...o, 0, 0, 0].slice(0, 4).join(".")}/${8 * o.length}`, octets: o }));
    // Addresses in, next to and far from the block, in every IPv6 form that embeds them.
    const v4 = fc.tuple(fc.array(octet, { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.nat(3));
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    const spelling = fc.constantFrom("v4", "mapped", "compatible", "nat64", "6to4", "teredo-server", "teredo-client");
    fc.assert(
      fc.property(globEntry, v4, spelling, fc.boolean(), fc.boolean(), ({ glob, cidr }, [near, random, keep], form, local, inDeny) => {
        const o = near.map((x, i) => (i <= keep ? x : random[i]!));
        const [a, b, c, d] = o as [number, number, number, number];
        const host =
          form === "v4"
            ? o.join(".")
            : form === "mapped"
              ? `::ffff:${o.join(".")}`
              : form === "compatible"
                ? `::${o.join(".")}`
                : form === "nat64"
                  ? `64:ff9b::${hex(a, b)}:${hex(c, d)}`
                  : form === "6to4"
                    ? `2002:${hex(a, b)}:${hex(c, d)}::1`
                    : form === "teredo-server"
                      ? `2001:0:${hex(a, b)}:${hex(c, d)}::1`
                      : `2001:0:4136:e378:8000:63bf:${hex(255 - a, 255 - b)}:${hex(255 - c, 255 - d)}`;
        const decide = (entry: string) => (inDeny ? verdict(["*", "**.example.com"], [entry], local, host) : verdict([entry], [], local, host));
        expect({ glob, host, local, inDeny, v: decide(glob) }).toEqual({ glob, host, local, inDeny, v: decide(cidr) });
      }),
      { numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Audit finding 3: IPv4-mapped and IPv4-compatible addresses are the IPv4 address for the allowlist.

describe("the allowlist judges IPv4-mapped and IPv4-compatible addresses as the embedded IPv4", () => {
  test("allowed 8.8.8.8 allows [::8.8.8.8] and [::ffff:8.8.8.8]", () => {
    expect(verdict(["8.8.8.8"], [], false, "::8.8.8.8")).toBe("allow");
    expect(verdict(["8.8.0.0/16"], [], false, "::8.8.4.4")).toBe("allow");
    expect(verdict(["8.8.8.8"], [], false, "::ffff:8.8.8.8")).toBe("allow");
    expect(verdict(["8.8.8.8:443"], [], false, "::8.8.8.8", 80)).toBe("not_allowed");
    expect(verdict(["8.8.8.8"], [], false, "::8.8.8.9")).toBe("not_allowed");
  });

  test("an explicit local entry unlocks the compatible spelling of its address, as a literal and as a resolved address", () => {
    expect(verdict(["127.0.0.1"], [], false, "::127.0.0.1")).toBe("allow");
    expect(verdict(["10.0.0.0/8"], [], false, "::10.1.2.3")).toBe("allow");
    expect(verdict(["10.0.0.0/8"], [], false, "::11.1.2.3")).toBe("not_allowed");
    expect(verdict(["10.0.0.0/8"], [], false, "::127.0.0.1")).toBe("not_allowed_local");
    const p = compile(["**.corp.example", "10.0.0.0/8"]);
    const d = judgeAddresses(p, t("db.corp.example"), null, [{ kind: "ipv6", host: "::a00:1" }], { self: [] });
    expect(d.verdict).toBe("allow");
  });

  test(":: and ::1 are not IPv4-compatible addresses of 0.0.0.0 and 0.0.0.1", () => {
    expect(verdict(["0.0.0.0/8"], [], false, "::1")).toBe("not_allowed_local");
    expect(verdict(["0.0.0.0/8"], [], false, "::")).toBe("not_allowed_local");
  });

  test("decision: NAT64, 6to4 and Teredo forms are not granted by an IPv4 allow entry (fail closed); they are still denied by one", () => {
    // (Teredo: server 8.8.8.8, client 8.8.8.8 inverted in the last 32 bits.)
    for (const h of ["64:ff9b::808:808", "2002:808:808::1", "2001:0:808:808:0:0:f7f7:f7f7"]) {
      expect({ h, v: verdict(["8.8.8.8"], [], false, h) }).toEqual({ h, v: "not_allowed" });
      expect({ h, v: verdict(["*"], ["8.8.8.8"], false, h) }).toEqual({ h, v: "denied" });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Audit finding 4: dangerously broad allowlist entries are accepted with a warning.

describe("dangerously broad allowlist entries are warnings naming the entry", () => {
  function warnings(allowed: string[], denied: string[] = []) {
    const r = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: false });
    expect(r.problems).toEqual([]);
    for (const w of r.warnings) expect(w.severity).toBe("warning");
    return r.warnings.map((w) => `${w.key} ${w.message}`);
  }

  test.each([
    ["*.com", "matches every name under the top-level domain .com"],
    ["**.com", "matches every name under the top-level domain .com"],
    ["*.COM.", "matches every name under the top-level domain .com"],
    ["*.com:443", "matches every name under the top-level domain .com on port 443"],
    ["*.*.com", "has a wildcard directly under the top-level domain .com, so it matches names anyone can register"],
    ["a*.com", "has a wildcard directly under the top-level domain .com"],
    ["api.*.net", "has a wildcard directly under the top-level domain .net"],
    ["*.co.uk", "matches every name under .co.uk, a public registry suffix"],
    ["**.com.au", "matches every name under .com.au, a public registry suffix"],
    [
      "example.*",
      "its last label is a wildcard, so it matches names under every top-level domain (including ones anyone can register); write the top-level domain out, e.g. example.com",
    ],
    ["example.*:443", "its last label is a wildcard, so it matches names under every top-level domain on port 443"],
    ["google.c*", "its last label is a wildcard"],
    ["*", "allows every public host"],
    ["*:22", "allows every public host on port 22"],
  ])("%j", (raw, message) => {
    const w = warnings(["**.example.org", raw]);
    expect(w).toHaveLength(1);
    expect(w[0]).toStartWith(`network_proxy.policy.allowed_domains[1] ${JSON.stringify(raw)}: ${message}`);
    // Still accepted and still matching.
    expect(compile(["**.example.org", raw]).allow.size).toBe(2);
  });

  test("no warning for scoped wildcards, exact names, private top-level domains, IPs, or the denylist", () => {
    expect(
      warnings(
        [
          "**.example.com",
          "*.example.com",
          "region*.v2.argotunnel.com",
          "api.*.example.com",
          "com",
          "example.com",
          "*.localhost",
          "**.test",
          "*.internal",
          "*.svc.test:8443",
          "*.example.co.uk",
          "10.0.0.0/8",
          "10.*",
          "8.8.8.8",
        ],
        ["*.com", "**.co.uk", "example.*"],
      ),
    ).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the indexed matcher agrees with a slow, obviously-correct reference matcher.

const COMPAT = ipaddr.IPv6.parse("::");
const MAPPED = ipaddr.IPv6.parse("::ffff:0:0");

/** An old-style IPv4 glob (`10.*`, `192.168.*.*`) as the CIDR it means, or null. */
function refIpv4Glob(p: string): string | null {
  const labels = p.replace(/\.$/, "").split(".");
  const k = labels.findIndex((l) => !/^(0|[1-9]\d{0,2})$/.test(l) || Number(l) > 255);
  if (k < 1 || k > 3 || labels.length > 4 || !labels.slice(k).every((l) => /^\*+$/.test(l))) return null;
  return `${[...labels.slice(0, k), "0", "0", "0"].slice(0, 4).join(".")}/${8 * k}`;
}

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
  p = refIpv4Glob(p) ?? p;
  // IPv4-mapped and IPv4-compatible (not :: or ::1) addresses are their IPv4 address.
  const asV4 = (): string | null => {
    if (kind !== "ipv6") return null;
    const a = ipaddr.IPv6.parse(host);
    const compatible = a.match(COMPAT, 96) && !(a.parts[6] === 0 && a.parts[7]! <= 1);
    if (!compatible && !a.match(MAPPED, 96)) return null;
    return `${a.parts[6]! >> 8}.${a.parts[6]! & 255}.${a.parts[7]! >> 8}.${a.parts[7]! & 255}`;
  };
  if (p.includes("/")) {
    if (kind === "domain") return false;
    const [net, bits] = ipaddr.parseCIDR(p);
    const v4 = asV4();
    const addr = ipaddr.parse(v4 ?? host);
    if (v4 && net.kind() === "ipv6" && ipaddr.parse(host).match(net, bits)) return true;
    return addr.kind() === net.kind() && addr.match(net, bits);
  }
  if (ipaddr.isValid(p) && (p.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(p))) {
    if (kind === "domain") return false;
    const want = ipaddr.parse(p).toNormalizedString();
    return want === ipaddr.parse(host).toNormalizedString() || (asV4() !== null && want === ipaddr.parse(asV4()!).toNormalizedString());
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

/**
 * Explicit entries (exact names, IPs, and CIDRs or IPv4 globs inside one special-purpose block)
 * may unlock local targets.
 */
function refExplicit(pattern: string): boolean {
  const p = pattern.includes("/") ? pattern : pattern.replace(/:\d+$/, "");
  const cidr = p.includes("/") ? p : refIpv4Glob(p);
  if (cidr !== null) {
    const [net, bits] = ipaddr.parseCIDR(cidr);
    return refCidrUnlocks(net.kind() as "ipv4" | "ipv6", net.toString(), bits);
  }
  return p !== "*" && !p.includes("*");
}

describe("property: indexed matcher == reference matcher", () => {
  const label = fc.constantFrom("a", "b", "ab", "ba", "x1", "com", "net", "a-eu", "ab-eu", "r1x", "rx", "r12x", "eu", "abab");
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join("."));
  // In-label globs that share literal prefixes and suffixes with each other (and middle-only ones).
  const globLabel = fc.constantFrom(
    "a*",
    "*b",
    "x*",
    "*",
    "a*b",
    "ab*",
    "*ab",
    "*-eu",
    "a*-eu",
    "r*x",
    "r1*",
    "r1*x",
    "*x",
    "*a*",
    "*b*",
    "a*b*a*b",
    "**",
    "*1*",
  );
  const port = fc.constantFrom(80, 443, 8080);
  const ip = fc.constantFrom(
    "10.0.0.1",
    "10.1.2.3",
    "192.168.0.1",
    "8.8.8.8",
    "::1",
    "fd00::1",
    "2001:db8::1",
    "::a00:1",
    "::808:808",
    "64:ff9b::808:808",
    "::",
  );
  const cidr = fc.constantFrom("10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "fd00::/8", "2001:db8::/32", "0.0.0.0/0", "8.8.8.8/32", "::/100");
  const ipGlob = fc.constantFrom("10.*", "10.1.*", "192.168.*.*", "8.**", "10.*.*.*", "192.168.0.*");
  const namePattern = fc.oneof(
    // a glob (or fixed label) first, then fixed labels
    fc
      .tuple(fc.constantFrom("", "*.", "**."), fc.array(fc.oneof(label, globLabel), { minLength: 0, maxLength: 1 }), name)
      .map(([lead, globs, rest]) => lead + [...globs, rest].join(".")),
    // a glob in the last label (and possibly in the middle too)
    fc
      .tuple(fc.constantFrom("", "*.", "**."), name, fc.array(globLabel, { maxLength: 1 }), globLabel)
      .map(([lead, rest, mid, last]) => lead + [rest, ...mid, last].join(".")),
  );
  const pattern = fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: namePattern },
        ip.map((i) => (i.includes(":") ? `[${i}]` : i)),
        cidr,
        ipGlob,
        fc.constant("*"),
      ),
      fc.option(port, { nil: null }),
    )
    .map(([p, pt]) => (pt === null || p.includes("/") ? p : `${p}:${pt}`));
  const target = fc.tuple(fc.oneof({ weight: 4, arbitrary: name }, ip), port);

  function check(patterns: string[], targets: Array<[string, number]>): void {
    const { policy, problems } = compilePolicy({ allowed_domains: patterns, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
    expect(problems).toEqual([]);
    for (const [host, p] of targets) {
      const tg = t(host, p);
      const got = policy.allow.match(tg);
      const reference = patterns.some((pat) => refMatch(pat, tg.host, tg.kind, p));
      if ((got !== null) !== reference) throw new Error(`${JSON.stringify(patterns)} vs ${host}:${p}: indexed=${got?.raw ?? null} reference=${reference}`);
      if (got !== null && !refMatch(got.raw, tg.host, tg.kind, p)) throw new Error(`${host}:${p}: the returned rule ${got.raw} does not match`);
      const explicit = policy.allow.match(tg, { explicitOnly: true }) !== null;
      const explicitRef = patterns.some((pat) => refExplicit(pat) && refMatch(pat, tg.host, tg.kind, p));
      if (explicit !== explicitRef) throw new Error(`${JSON.stringify(patterns)} vs ${host}:${p}: explicit indexed=${explicit} reference=${explicitRef}`);
    }
  }

  test("agrees on random patterns and targets", () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 0, maxLength: 12 }), fc.array(target, { minLength: 1, maxLength: 10 }), (patterns, targets) =>
        check(patterns, targets),
      ),
      { numRuns: 2000 },
    );
  });

  test("agrees on many patterns sharing suffixes, prefixes and glob labels", () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 50, maxLength: 300 }), fc.array(target, { minLength: 20, maxLength: 40 }), (patterns, targets) =>
        check(patterns, targets),
      ),
      { numRuns: 150 },
    );
  });
});

describe("matching cost does not grow with the number of patterns (work counted, not timed)", () => {
  test("100,000 exact and wildcard names are all indexed (no linear list)", () => {
    const patterns = Array.from({ length: 100_000 }, (_, i) => (i % 2 ? `host${i}.example${i % 97}.com` : `*.zone${i}.test`));
    const set = allow(...patterns);
    expect(set.any.length).toBe(0);
    expect(set.match(t("a.b.zone99998.test"))?.raw).toBe("*.zone99998.test");
    expect(set.match(t("host99999.example89.com"))?.raw).toBe("host99999.example89.com");
    const c = set.names.counters;
    c.globsTested = c.probes = 0;
    expect(set.match(t("nothing.example.org"))).toBeNull();
    // One probe per suffix: nothing.example.org, example.org, org, "".
    expect(c).toEqual({ globsTested: 0, probes: 4 });
  });

  /** Work (probes + globs tested) for a few targets, after building `n` patterns of one shape. */
  function work(shape: (i: number) => string, n: number, targets: string[]) {
    const set = allow(...Array.from({ length: n }, (_, i) => shape(i)));
    const c = set.names.counters;
    c.globsTested = c.probes = 0;
    const matched = targets.map((h) => set.match(t(h))?.raw ?? null);
    return { globsTested: c.globsTested, probes: c.probes, matched };
  }

  // The audit's shapes: globs sharing their fixed suffix, and globs in the last label.
  const shapes: Array<[string, (i: number) => string, string[], Array<string | null>]> = [
    ["r{i}x*.example.com", (i) => `r${i}x*.example.com`, ["nomatch.example.com", "r7x-eu1.example.com", "r7y.example.com"], [null, "r7x*.example.com", null]],
    ["h{i}.*", (i) => `h${i}.*`, ["nomatch.example.com", "h7.example", "h7.a.b"], [null, "h7.*", null]],
    ["*x{i}.example.com", (i) => `*x${i}.example.com`, ["nomatch.example.com", "ax7.example.com"], [null, "*x7.example.com"]],
    ["a*b{i}.example.com", (i) => `a*b${i}.example.com`, ["nomatch.example.com", "a-b7.example.com", "ab7x.example.com"], [null, "a*b7.example.com", null]],
    ["api.h{i}*.example.com", (i) => `api.h${i}*.example.com`, ["nomatch.example.com", "api.h7q.example.com"], [null, "api.h7*.example.com"]],
    ["*.r{i}*.example.com", (i) => `*.r${i}*.example.com`, ["a.b.nomatch.example.com", "a.b.r7q.example.com"], [null, "*.r7*.example.com"]],
  ];

  test.each(shapes)("%s: the same work with 10 and 100,000 (or 20,000) patterns", (name, shape, targets, expected) => {
    const small = work(shape, 10, targets);
    // The audit measured the first two shapes at 100,000; the counts do not depend on the size.
    const large = work(shape, name === "r{i}x*.example.com" || name === "h{i}.*" ? 100_000 : 20_000, targets);
    expect(small.matched).toEqual(expected);
    expect(large.matched).toEqual(expected);
    // Only globs whose literal prefix and suffix both fit a label are ever examined ...
    expect(large.globsTested).toBeLessThanOrEqual(targets.length * 2);
    // ... and the probes are bounded by the distinct prefix/suffix lengths (here at most 6 more).
    expect(large.probes).toBeLessThanOrEqual(small.probes + 6 * targets.length);
  });

  test("a target label is probed at most once per distinct literal prefix and suffix length, whatever the pattern count", () => {
    // 62 prefix lengths and 62 suffix lengths: the worst case for one label, still bounded.
    const patterns = Array.from({ length: 62 }, (_, i) => `${"p".repeat(i + 1)}*.example.com`).concat(
      Array.from({ length: 62 }, (_, i) => `*${"s".repeat(i + 1)}.example.com`),
    );
    const r = work((i) => patterns[i % patterns.length]!, patterns.length, [`${"q".repeat(63)}.example.com`]);
    expect(r.matched).toEqual([null]);
    expect(r.globsTested).toBe(0);
    // 3 suffixes (qqq.example.com, example.com, com) and "", plus 62 + 1 prefix and 62 suffix lengths.
    expect(r.probes).toBeLessThanOrEqual(4 + 63 + 63);
  });

  test("only globs with neither a literal prefix nor a literal suffix share a scanned bucket", () => {
    const r = work((i) => `*m${i}*.example.com`, 1000, ["xm7y.example.com"]);
    expect(r.matched).toEqual(["*m7*.example.com"]);
    expect(r.globsTested).toBeGreaterThan(1); // the documented exception: `*a*` shapes are scanned
  });
});

function fuzzPolicy(allowed: string[], denied: string[] = []) {
  const { policy: p, problems } = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: false });
  expect(problems).toEqual([]);
  return p;
}

describe("pattern globs (found by fuzzing)", () => {
  // Invariant: bounded input, bounded time. A label glob becomes
  // new RegExp("^" + label.replace(/\*+/g, "[^.]*") + "$"); with k stars the backtracking is
  // O(n^k) on a non-matching label of n <= 63 characters. The pattern is the operator's, but the
  // target name is the client's (the agent's), so one such entry lets a client stall the proxy:
  // per lookup, 6 stars take about 0.15 s, 7 stars about 1.2 s, 8 stars about 7 s (measured here).
  test("a glob with many * in one label is matched in bounded time against a hostile 63-character label", () => {
    const set = fuzzPolicy(["*a*a*a*a*a*b.example.com"]).allow; // 6 stars in one label
    const t0 = performance.now();
    const hit = set.match({ kind: "domain", host: `${"a".repeat(63)}.example.com`, port: 443 });
    const ms = performance.now() - t0;
    expect(hit).toBeNull();
    expect(ms).toBeLessThan(25);
  });

  // Invariant: a pattern matches the names it spells. In the glob branch every fixed label before
  // the last glob label goes through canonicalHost() on its own, which reads a numeric label
  // ("10", "1", "0x1") as an IPv4 address ("0.0.0.10"); the compiled label can then never equal a
  // target label, so the entry silently matches nothing. In denied_domains that fails open.
  test("a numeric label before a glob is a label: denied 10.*.internal.example blocks 10.db.internal.example", () => {
    const p = fuzzPolicy(["**.example"], ["10.*.internal.example"]);
    const d = judgeTarget(p, { kind: "domain", host: "10.db.internal.example", port: 443 }, { self: [] });
    expect(d.verdict === "block" ? d.reason : d.verdict).toBe("denied");
  });

  test("allowed 1.*.example.com matches 1.x.example.com", () => {
    expect(fuzzPolicy(["1.*.example.com"]).allow.match({ kind: "domain", host: "1.x.example.com", port: 443 })).not.toBeNull();
  });

  // Same cause: "08" is refused as an invalid IPv4 number although 08.x.example.com is a valid name.
  test("08.*.example.com is a valid pattern (08.x.example.com is a valid name)", () => {
    expect(() => parsePattern("08.*.example.com", "allowed_domains")).not.toThrow();
  });

  // README: "Matching is case-insensitive; a trailing dot is ignored". It is for names and for
  // "*."/"**." leads, but a label glob with a trailing dot is refused with "empty label in pattern"
  // (rest.split(".") keeps the empty last label). Low severity: it fails loudly at load time.
  test("a trailing dot is ignored in glob patterns too: region*.example.com. = region*.example.com", () => {
    const set = fuzzPolicy(["region*.example.com."]).allow;
    expect(set.match({ kind: "domain", host: "region1.example.com", port: 443 })).not.toBeNull();
  });
});

describe("every entry of a list is matched, whatever the list's length", () => {
  // Lists cross the hash tables' small layout (8 keys) and their reserved and grown sizes.
  const shapes: Array<[string, (i: number) => string, (i: number) => string]> = [
    ["names", (i) => `n${i}.example.com`, (i) => `n${i}.example.com`],
    ["*. names", (i) => `*.s${i}.example.net`, (i) => `a.s${i}.example.net`],
    ["globs with a fixed suffix of their own", (i) => `region*.g${i}.example.io`, (i) => `region-eu.g${i}.example.io`],
    ["globs with a prefix of their own", (i) => `r${i}x*.example.com`, (i) => `r${i}x-1.example.com`],
  ];
  for (const [what, entry, target] of shapes) {
    test(what, () => {
      for (const n of [1, 7, 8, 9, 10, 17, 40, 300]) {
        const list = Array.from({ length: n }, (_, i) => entry(i));
        const { policy, problems } = compilePolicy({ allowed_domains: list, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
        expect(problems).toEqual([]);
        const missed = list.filter((_, i) => policy.allow.match({ kind: "domain", host: target(i), port: 443 })?.raw !== entry(i));
        expect({ n, missed }).toEqual({ n, missed: [] });
      }
    });
  }
});

describe("repeated address, block and * entries", () => {
  test("are placed once: lookups never scan the copies, and the first copy's rule answers", () => {
    const list = [..."x".repeat(5000)].flatMap(() => ["*:8080", "10.0.0.1:1", "10.*:1", "10.0.0.0/8", "2a00::/16"]);
    const { policy, problems } = compilePolicy({
      allowed_domains: ["10.0.0.0/8", ...list],
      denied_domains: [],
      allow_unix_sockets: [],
      allow_local_binding: false,
    });
    expect(problems).toEqual([]);
    // An address's or a block's rules: one rule alone, or a list of them.
    type Held = object | object[];
    const count = (h: Held | undefined) => (h === undefined ? 0 : Array.isArray(h) ? h.length : 1);
    const allow = policy.allow as unknown as {
      any: unknown[];
      ips: Map<string, Held>;
      v4cidrs: Map<number, Map<number, Held>>;
      v6cidrs: Map<number, Map<number | string, Held>>;
    };
    expect(allow.any.length).toBe(1);
    expect(count(allow.ips.get("10.0.0.1"))).toBe(1);
    // 10.0.0.0/8 (any port) and 10.* on port 1 are different entries of one block.
    expect([...allow.v4cidrs.get(8)!.values()].map(count)).toEqual([2]);
    expect([...allow.v6cidrs.get(16)!.values()].map(count)).toEqual([1]);
    expect(policy.allow.matchIp("ipv4", "10.1.2.3", 1)?.raw).toBe("10.0.0.0/8");
    expect(policy.allow.match({ kind: "domain", host: "example.org", port: 8080 })?.raw).toBe("*:8080");
  });

  test("one name with rules on several ports: the first any-port rule answers every port, whatever follows it", () => {
    const compile = (allowed: string[]) =>
      compilePolicy({ allowed_domains: allowed, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false }).policy.allow;
    for (const name of ["a.example.com", "*.example.com", "**.example.com", "r*.example.com"]) {
      const host = name.replace("**.", "").replace("*.", "x.").replace("r*", "rx");
      const at = (list: string[], port: number) => compile(list).match({ kind: "domain", host, port })?.raw ?? null;
      // Held alone, the first any-port rule is never replaced by a later one, with or without a port.
      for (const port of [443, 80])
        expect({ name, port, raw: at([name, `${name}:443`, `${name}:80`, name.toUpperCase()], port) }).toEqual({ name, port, raw: name });
      // Port rules first: each port finds its own, and an any-port rule after them answers the rest
      // (for names, unlike addresses, an any-port rule answers even a port that has its own rule).
      expect([1, 2].map((port) => at([`${name}:1`, `${name}:2`], port))).toEqual([`${name}:1`, `${name}:2`]);
      expect(at([`${name}:1`], 3)).toBeNull();
      expect([1, 3].map((port) => at([`${name}:1`, name], port))).toEqual([name, name]);
    }
  });

  test("one address or block with rules on several ports: each port finds its rule, the first any-port rule answers every port", () => {
    const compile = (allowed: string[]) =>
      compilePolicy({ allowed_domains: allowed, denied_domains: [], allow_unix_sockets: [], allow_local_binding: false }).policy.allow;
    for (const [addr, kind, host] of [
      ["10.0.0.1", "ipv4", "10.0.0.1"],
      ["[2a00::1]", "ipv6", "2a00::1"],
      ["10.0.0.0/8", "ipv4", "10.9.9.9"],
    ] as const) {
      // A CIDR entry takes no port: 10.* is the same block with one.
      const on = (port: number) => (addr.includes("/") ? `10.*:${port}` : `${addr}:${port}`);
      const ports = compile([on(1), on(2), on(3)]);
      for (const port of [1, 2, 3]) expect(ports.matchIp(kind, host, port)?.raw).toBe(on(port));
      expect(ports.matchIp(kind, host, 4)).toBeNull();
      // An any-port rule after port rules answers the ports without one of their own; before them, every port.
      const after = compile([on(1), addr, on(2)]);
      expect([1, 2, 4].map((port) => after.matchIp(kind, host, port)?.raw)).toEqual([on(1), addr, addr]);
      const before = compile([addr, on(1)]);
      expect([1, 4].map((port) => before.matchIp(kind, host, port)?.raw)).toEqual([addr, addr]);
    }
  });
});

describe("NameIndex.add", () => {
  test("takes the labels left of the fixed suffix only, and refuses a fixed label there", () => {
    const p = parsePattern("a*.b.example.com", "allowed_domains");
    if (p.kind !== "name") throw new Error("a name pattern was expected");
    // The parser hands over the glob alone; the fixed labels are the suffix.
    expect(p.suffix).toBe("b.example.com");
    expect(p.labels).toEqual([{ pieces: ["a", ""] }]);
    const index = new NameIndex();
    index.add(p.lead, p.labels, p.rule, p.suffix);
    expect(index.match("ax.b.example.com", 443)).toBe(p.rule);
    expect(() => index.add(p.lead, [...p.labels, "b"], p.rule, "example.com")).toThrow('a fixed label left of the suffix "example.com"');
  });
});
