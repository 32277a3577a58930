import { describe, expect, test } from "bun:test";
import { listenAddress } from "../../src/config/addr.ts";
import {
  evaluateTarget,
  judgeAddresses,
  judgeTarget,
  selfAddrs,
  type Block,
  type DialAddr,
  type Decision,
  type Resolver,
  type SelfAddr,
} from "../../src/policy/decide.ts";
import { methodBlock } from "../../src/policy/method.ts";
import { compilePolicy } from "../../src/policy/rules.ts";
import { systemResolver } from "../../src/runtime/resolver.ts";
import { canonicalHost, parseAbsoluteUrl, parseAuthority, targetFromSocks, type Target } from "../../src/policy/target.ts";

interface P {
  allow?: string[];
  deny?: string[];
  local?: boolean;
}

function policy(p: P) {
  const r = compilePolicy({ allowed_domains: p.allow ?? [], denied_domains: p.deny ?? [], allow_unix_sockets: [], allow_local_binding: p.local ?? false });
  expect(r.problems).toEqual([]);
  return r.policy;
}

/** A fake resolver that records every name it was asked about. */
function fakeDns(table: Record<string, string[] | Error | "hang">) {
  const asked: string[] = [];
  const resolve: Resolver = (name) => {
    asked.push(name);
    const v = table[name];
    if (v === undefined) return Promise.reject(new Error("ENOTFOUND"));
    if (v === "hang") return new Promise(() => {});
    if (v instanceof Error) return Promise.reject(v);
    return Promise.resolve(v.map((h): DialAddr => ({ kind: h.includes(":") ? "ipv6" : "ipv4", host: h })));
  };
  return { asked, resolve };
}

function target(host: string, port = 443): Target {
  return { ...canonicalHost(host, { bareIpv6: true }), port };
}

async function decide(p: P, t: Target, dns = fakeDns({}), self: SelfAddr[] = []): Promise<Decision> {
  return evaluateTarget(policy(p), t, { self, resolve: dns.resolve, dnsTimeoutMs: 50 });
}

function outcome(d: Decision): string {
  return d.verdict === "block" ? d.reason : d.verdict === "dns_error" ? d.code : "allow";
}

describe("decision order", () => {
  test("deny wins over allow, even for an explicitly allowlisted local literal", async () => {
    expect(outcome(await decide({ allow: ["example.com"], deny: ["example.com"] }, target("example.com")))).toBe("denied");
    expect(outcome(await decide({ allow: ["127.0.0.1"], deny: ["127.0.0.0/8"] }, target("127.0.0.1")))).toBe("denied");
  });

  test("local literals: not_allowed_local even with an empty allowlist or '*'", async () => {
    expect(outcome(await decide({}, target("127.0.0.1")))).toBe("not_allowed_local");
    expect(outcome(await decide({ allow: ["*"] }, target("127.0.0.1")))).toBe("not_allowed_local");
    expect(outcome(await decide({ allow: ["*"] }, target("10.0.0.1")))).toBe("not_allowed_local");
    expect(outcome(await decide({ allow: ["**.localhost"] }, target("foo.localhost")))).toBe("not_allowed_local");
  });

  test("an exact literal, CIDR or name unlocks a local target, on its port only when it names one", async () => {
    expect(outcome(await decide({ allow: ["10.0.0.1"] }, target("10.0.0.1")))).toBe("allow");
    expect(outcome(await decide({ allow: ["10.0.0.0/8"] }, target("10.9.9.9")))).toBe("allow");
    expect(outcome(await decide({ allow: ["localhost"] }, target("localhost")))).toBe("allow");
    expect(outcome(await decide({ allow: ["127.0.0.1:8080"] }, target("127.0.0.1", 8080)))).toBe("allow");
    expect(outcome(await decide({ allow: ["127.0.0.1:8080"] }, target("127.0.0.1", 6379)))).toBe("not_allowed_local");
    expect(outcome(await decide({ allow: ["[::1]:8080"] }, target("::1", 8080)))).toBe("allow");
  });

  test("allow_local_binding opens local targets but the allowlist still applies", async () => {
    expect(outcome(await decide({ local: true }, target("127.0.0.1")))).toBe("not_allowed");
    expect(outcome(await decide({ local: true, allow: ["*"] }, target("127.0.0.1")))).toBe("allow");
  });

  test("empty allowlist blocks everything else; no match is not_allowed", async () => {
    expect(outcome(await decide({}, target("example.com")))).toBe("not_allowed");
    expect(outcome(await decide({}, target("8.8.8.8")))).toBe("not_allowed");
    expect(outcome(await decide({ allow: ["example.org"] }, target("example.com")))).toBe("not_allowed");
  });

  test("names that are not allowed are never resolved (no DNS exfiltration, catalogue C34)", async () => {
    const dns = fakeDns({ "secret.attacker.test": ["8.8.8.8"] });
    expect(outcome(await decide({ allow: ["example.com"] }, target("c2VjcmV0.attacker.test"), dns))).toBe("not_allowed");
    expect(outcome(await decide({ allow: ["example.com"], deny: ["attacker.test"] }, target("attacker.test"), dns))).toBe("denied");
    expect(outcome(await decide({ allow: ["*"] }, target("localhost"), dns))).toBe("not_allowed_local");
    expect(dns.asked).toEqual([]);
  });

  test("localhost names are loopback by definition and never sent to DNS", async () => {
    const dns = fakeDns({ localhost: ["8.8.8.8"] });
    const d = await decide({ allow: ["localhost"] }, target("localhost"), dns);
    expect(d.verdict === "allow" && d.addresses.map((a) => a.host)).toEqual(["127.0.0.1", "::1"]);
    expect(dns.asked).toEqual([]);
  });
});

describe("resolved addresses are judged and pinned (catalogue C)", () => {
  test("a public answer is allowed and exactly those addresses are to be dialed", async () => {
    const d = await decide({ allow: ["*.example.com"] }, target("api.example.com"), fakeDns({ "api.example.com": ["93.184.216.34", "2606:2800::1"] }));
    expect(d.verdict).toBe("allow");
    expect(d.verdict === "allow" && d.addresses).toEqual([
      { kind: "ipv4", host: "93.184.216.34" },
      { kind: "ipv6", host: "2606:2800::1" },
    ]);
  });

  test.each([
    ["lvh.me", ["127.0.0.1"]],
    ["127.0.0.1.nip.io", ["127.0.0.1"]],
    ["169.254.169.254.nip.io", ["169.254.169.254"]],
    ["metadata.google.internal", ["169.254.169.254"]],
    ["mixed.test", ["93.184.216.34", "127.0.0.1"]],
    ["mapped.test", ["::ffff:7f00:1"]],
    ["nat64.test", ["64:ff9b::a9fe:a9fe"]],
    ["cgnat.test", ["100.100.100.200"]],
    ["ula.test", ["fd00:ec2::254"]],
  ])("%s resolving to %j is not_allowed_local", async (name, addrs) => {
    const canon = addrs.map((a) => (a === "::ffff:7f00:1" ? "127.0.0.1" : a));
    const d = await decide({ allow: ["*"] }, target(name), fakeDns({ [name]: canon }));
    expect(outcome(d)).toBe("not_allowed_local");
  });

  test("a private answer inside an allowlisted CIDR is allowed (intranet names)", async () => {
    const dns = fakeDns({ "git.corp.test": ["10.1.2.3"] });
    expect(outcome(await decide({ allow: ["git.corp.test", "10.0.0.0/8"] }, target("git.corp.test"), dns))).toBe("allow");
    expect(outcome(await decide({ allow: ["git.corp.test"] }, target("git.corp.test"), dns))).toBe("not_allowed_local");
  });

  test("denylisted addresses apply to resolved names", async () => {
    const dns = fakeDns({ "cdn.example.com": ["203.0.113.9", "8.8.4.4"] });
    expect(outcome(await decide({ allow: ["cdn.example.com"], deny: ["8.8.4.0/24"], local: true }, target("cdn.example.com"), dns))).toBe("denied");
  });

  test("resolver errors and time-outs fail closed, and say so", async () => {
    const err = await decide({ allow: ["down.test"] }, target("down.test"), fakeDns({ "down.test": new Error("SERVFAIL") }));
    expect(err).toMatchObject({ verdict: "dns_error", code: "dns_failed" });
    const slow = await decide({ allow: ["slow.test"] }, target("slow.test"), fakeDns({ "slow.test": "hang" }));
    expect(slow).toMatchObject({ verdict: "dns_error", code: "dns_timeout" });
    expect(outcome(await decide({ allow: ["empty.test"] }, target("empty.test"), fakeDns({ "empty.test": [] })))).toBe("not_allowed");
  });

  test("the real system resolver: localhost never reaches it, .invalid fails closed", async () => {
    const p = policy({ allow: ["*"], local: true });
    const bad = await evaluateTarget(p, target("does-not-resolve.invalid"), { self: [], resolve: systemResolver, dnsTimeoutMs: 5000 });
    expect(bad.verdict).toBe("dns_error");
    const local = await evaluateTarget(p, target("localhost", 9), { self: [], resolve: systemResolver, dnsTimeoutMs: 5000 });
    expect(local.verdict).toBe("allow");
  });
});

describe("own listeners are never a target (W1, catalogue C29)", () => {
  const self = [
    { host: "127.0.0.1", port: 3128 },
    { host: "127.0.0.1", port: 8080 },
  ];
  test("direct, by another spelling, by 0.0.0.0, and by a name resolving to it", async () => {
    const p = { allow: ["*"], local: true };
    expect(outcome(await decide(p, target("127.0.0.1", 8080), fakeDns({}), self))).toBe("own_listener");
    expect(outcome(await decide(p, target("2130706433", 3128), fakeDns({}), self))).toBe("own_listener");
    expect(outcome(await decide(p, target("0", 8080), fakeDns({}), self))).toBe("own_listener");
    expect(outcome(await decide(p, target("localhost", 8080), fakeDns({}), self))).toBe("own_listener");
    expect(outcome(await decide(p, target("proxy.test", 3128), fakeDns({ "proxy.test": ["127.0.0.1"] }), self))).toBe("own_listener");
    expect(outcome(await decide(p, target("127.0.0.1", 8081), fakeDns({}), self))).toBe("allow");
  });
  test("a listener on 0.0.0.0 covers loopback and the host's own addresses", async () => {
    const d = await evaluateTarget(policy({ allow: ["*"], local: true }), target("192.168.5.5", 3128), {
      self: [{ host: "0.0.0.0", port: 3128 }],
      localAddrs: new Set(["192.168.5.5"]),
      resolve: fakeDns({}).resolve,
      dnsTimeoutMs: 50,
    });
    expect(outcome(d)).toBe("own_listener");
  });
});

describe("this host's own interface addresses are local targets, even public ones (catalogue C30)", () => {
  // A dev server bound to 0.0.0.0 answers on every interface address, public ones included.
  const deps = (dns: Record<string, string[]>) => ({
    self: [],
    localAddrs: new Set(["8.8.4.4", "2001:4860::8844"]),
    resolve: fakeDns(dns).resolve,
    dnsTimeoutMs: 50,
  });
  test("as a literal and as a name resolving to it, under a * allowlist", async () => {
    const p = policy({ allow: ["*"] });
    for (const t of [
      target("8.8.4.4", 5173),
      target("[2001:4860::8844]", 5173),
      target("[::ffff:8.8.4.4]", 5173),
      target("[::8.8.4.4]", 5173),
      target("[64:ff9b::808:404]", 5173),
      target("dev.example", 5173),
    ]) {
      const d = await evaluateTarget(p, t, deps({ "dev.example": ["8.8.4.4"] }));
      expect(outcome(d)).toBe("not_allowed_local");
      expect((d as Block).explain).toContain("an address of this host's own network interfaces");
    }
    // Another public address is not affected.
    expect(outcome(await evaluateTarget(p, target("8.8.8.8", 443), deps({})))).toBe("allow");
  });
  test("unlocked by an explicit allowlist entry or allow_local_binding", async () => {
    expect(outcome(await evaluateTarget(policy({ allow: ["8.8.4.4"] }), target("8.8.4.4", 5173), deps({})))).toBe("allow");
    expect(
      outcome(await evaluateTarget(policy({ allow: ["dev.example", "8.8.4.4"] }), target("dev.example", 5173), deps({ "dev.example": ["8.8.4.4"] }))),
    ).toBe("allow");
    // A public block that happens to hold this host's address does not unlock it: only the address itself does.
    expect(
      outcome(await evaluateTarget(policy({ allow: ["dev.example", "8.8.4.0/24"] }), target("dev.example", 5173), deps({ "dev.example": ["8.8.4.4"] }))),
    ).toBe("not_allowed_local");
    expect(outcome(await evaluateTarget(policy({ allow: ["*"], local: true }), target("8.8.4.4", 5173), deps({})))).toBe("allow");
  });
});

// The bypass catalogue (A, B, C) through every entry-point form that can carry the spelling:
// absolute-form URL, CONNECT/Host authority, SOCKS5 DOMAINNAME and the binary ATYP it means.
const LOOPBACK_SPELLINGS = [
  "2130706433",
  "127.1",
  "127.0.1",
  "0177.0.0.1",
  "017700000001",
  "0x7f.1",
  "0x7f000001",
  "0x7f.0.0.1",
  "0",
  "0.0.0.0",
  "127.0.0.1.",
  "[::]",
  "[::1]",
  "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]",
  "[::fFFf:127.0.0.1]",
  "[0:0:0:0:0:ffff:a9fe:a9fe]",
  "[::127.0.0.1]",
  "[64:ff9b::7f00:1]",
  "[64:ff9b::a9fe:a9fe]",
  "[2002:7f00:1::]",
  "[2002:a9fe:a9fe::]",
  "012.1.2.3",
  "localhost",
  "LOCALHOST.",
  "foo.localhost",
];

function socksForms(spelling: string, port: number): Target[] {
  const unbracketed = spelling.startsWith("[") ? spelling.slice(1, -1) : spelling;
  const forms = [targetFromSocks(3, new TextEncoder().encode(unbracketed), port)];
  const canon = canonicalHost(spelling);
  if (canon.kind === "ipv4") forms.push(targetFromSocks(1, Uint8Array.from(canon.host.split(".").map(Number)), port));
  if (canon.kind === "ipv6") {
    const bytes = new Uint8Array(16);
    const parts = new URL(`http://[${canon.host}]/`).hostname.slice(1, -1);
    const full = expandV6(parts);
    full.forEach((w, i) => {
      bytes[2 * i] = w >> 8;
      bytes[2 * i + 1] = w & 255;
    });
    forms.push(targetFromSocks(4, bytes, port));
  }
  return forms;
}

function expandV6(s: string): number[] {
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":").map((x) => parseInt(x, 16)) : [];
  const t = tail ? tail.split(":").map((x) => parseInt(x, 16)) : [];
  return [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
}

describe("catalogue A: every local spelling through every entry point is not_allowed_local", () => {
  test.each(LOOPBACK_SPELLINGS)("%s", async (spelling) => {
    const p = { allow: ["*", "example.com"] };
    const forms: Target[] = [
      parseAbsoluteUrl(`http://${spelling}/`).target,
      parseAuthority(`${spelling}:443`, null),
      parseAuthority(spelling, 80),
      ...socksForms(spelling, 443),
    ];
    for (const f of forms) {
      const d = await decide(p, f);
      expect(`${spelling} as ${JSON.stringify(f)}: ${outcome(d)}`).toBe(`${spelling} as ${JSON.stringify(f)}: not_allowed_local`);
    }
  });
});

describe("catalogue B: name spellings are judged as the canonical name", () => {
  test.each([
    ["evil.com.", "denied"],
    ["EVIL.COM", "denied"],
    ["ｅｖｉｌ.com", "denied"],
    ["Evil.Com.", "denied"],
    ["sub.evil.com", "not_allowed"],
    ["evil.com.allowed.com", "not_allowed"],
    ["evilallowed.com", "not_allowed"],
  ])("%s -> %s", async (spelling, reason) => {
    const p = { allow: ["allowed.com"], deny: ["evil.com"] };
    for (const f of [parseAbsoluteUrl(`http://${spelling}/`).target, parseAuthority(`${spelling}:443`, null), ...socksForms(spelling, 443)]) {
      expect(outcome(await decide(p, f))).toBe(reason);
    }
  });
  test("percent-encoded absolute-form host is the decoded name", async () => {
    expect(outcome(await decide({ allow: ["allowed.com"], deny: ["evil.com"] }, parseAbsoluteUrl("http://ev%69l.com/").target))).toBe("denied");
  });
});

describe("explanations", () => {
  test("blocks say which rule and how it could be allowed", () => {
    const p = policy({ allow: ["*.example.com"], deny: ["bad.example.com"] });
    const d = judgeTarget(p, target("bad.example.com"), { self: [] });
    expect(d).toMatchObject({ verdict: "block", reason: "denied", explain: 'denied_domains entry "bad.example.com" matches bad.example.com:443' });
    const n = judgeTarget(p, target("other.org"), { self: [] });
    expect(n).toMatchObject({ reason: "not_allowed", hint: expect.stringContaining('add "other.org"') });
    const l = judgeTarget(policy({ allow: ["*"] }), target("127.0.0.1", 6379), { self: [] });
    expect(l).toMatchObject({ reason: "not_allowed_local", explain: expect.stringContaining('"*" entry never unlocks local addresses') });
  });
});

describe("method policy (limited mode, hardened)", () => {
  const req = (method: string, extra: Partial<Parameters<typeof methodBlock>[1]> = {}) => ({
    method,
    hasBody: false,
    upgrade: false,
    overrides: [],
    path: "/",
    headers: [],
    ...extra,
  });
  test("full mode allows everything", () => {
    expect(methodBlock("full", req("DELETE", { hasBody: true, upgrade: true }))).toBeNull();
  });
  test.each(["GET", "HEAD", "OPTIONS"])("limited allows %s", (m) => expect(methodBlock("limited", req(m))).toBeNull());
  test.each(["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "get"])("limited blocks %s", (m) => {
    expect(methodBlock("limited", req(m))).toContain(m);
  });
  test("limited blocks upgrades, method overrides naming another method, and bodies on safe methods", () => {
    expect(methodBlock("limited", req("GET", { upgrade: true }))).toContain("Upgrade");
    expect(methodBlock("limited", req("GET", { overrides: ["DELETE"] }))).toContain("DELETE");
    expect(methodBlock("limited", req("GET", { overrides: ["get"] }))).toBeNull();
    expect(methodBlock("limited", req("OPTIONS", { hasBody: true }))).toContain("body");
  });
});

describe("own listeners bound by an IPv4-mapped spelling", () => {
  test("[::ffff:0.0.0.0] and [::ffff:127.0.0.1] listeners are the IPv4 addresses they spell", async () => {
    const p = policy({ allow: ["*"], local: true });
    for (const bind of ["::ffff:0.0.0.0", "::ffff:0:0", "::ffff:127.0.0.1"]) {
      const self = selfAddrs([{ host: bind, port: 8080 }]);
      const d = await evaluateTarget(p, target("127.0.0.1", 8080), { self, resolve: fakeDns({}).resolve, dnsTimeoutMs: 50 });
      expect(outcome(d)).toBe("own_listener");
    }
    expect(
      listenAddress({ name: "admin API", url: "http://[::ffff:0.0.0.0]:8080", key: "k", defaultPort: 8080, allowNonLoopback: true, flagName: "f" }, false).addr
        .host,
    ).toBe("0.0.0.0");
    expect(
      listenAddress({ name: "admin API", url: "http://[::ffff:127.0.0.1]:8080", key: "k", defaultPort: 8080, allowNonLoopback: false, flagName: "f" }, false),
    ).toMatchObject({ addr: { host: "127.0.0.1" }, warnings: [] });
  });
});

test("the own-listener explanation brackets IPv6 addresses", async () => {
  const d = await evaluateTarget(policy({ allow: ["*"], local: true }), target("[::1]", 8080), {
    self: [{ host: "::", port: 8080 }],
    resolve: fakeDns({}).resolve,
    dnsTimeoutMs: 50,
  });
  expect(d).toMatchObject({ verdict: "block", reason: "own_listener", explain: "[::1]:8080 is one of this proxy's own listeners" });
});

function embedPolicy(allowed: string[], denied: string[] = []) {
  const { policy: p, problems } = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: false });
  expect(problems).toEqual([]);
  return p;
}

describe("IPv4 denylist entries and IPv6 addresses that embed IPv4 (found by fuzzing)", () => {
  // Invariant: deny always wins. The local-address check judges NAT64 (64:ff9b::/96) addresses by
  // the IPv4 address they embed (ip.ts), but the denylist does not: on a NAT64 network
  // [64:ff9b::808:808] *is* 8.8.8.8, so an IPv4 deny entry is bypassed by writing the target as
  // its NAT64 address, and DNS64 answers (which synthesize such addresses for IPv4-only names)
  // are never checked against IPv4 deny entries. (6to4, Teredo and IPv4-compatible embeddings
  // raise the same question; NAT64 is the one that routes to the embedded address.)
  test("denied 8.8.8.8 also blocks the literal target [64:ff9b::808:808]", () => {
    const p = embedPolicy(["*"], ["8.8.8.8"]);
    const d = judgeTarget(p, { kind: "ipv6", host: "64:ff9b::808:808", port: 443 }, { self: [] });
    expect(d.verdict === "block" ? d.reason : d.verdict).toBe("denied");
  });

  test("denied 93.184.216.0/24 also blocks a name that DNS64 resolves to 64:ff9b::5db8:d822", () => {
    const p = embedPolicy(["**.example.com"], ["93.184.216.0/24"]);
    const d = judgeAddresses(p, { kind: "domain", host: "www.example.com", port: 443 }, null, [{ kind: "ipv6", host: "64:ff9b::5db8:d822" }], { self: [] });
    expect(d.verdict === "block" ? d.reason : d.verdict).toBe("denied");
  });
});
