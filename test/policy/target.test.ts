import { describe, expect, test } from "bun:test";
import { canonicalHost, parseAbsoluteUrl, parseAuthority, parsePort, TargetError, type Target } from "../../src/policy/target.ts";

function err(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TargetError) return e.code;
    throw e;
  }
  throw new Error("expected a TargetError");
}

describe("canonicalHost: every spelling of an address becomes that address (catalogue A)", () => {
  test.each([
    // A1-A5: inet_aton spellings
    ["2130706433", "ipv4", "127.0.0.1"],
    ["127.1", "ipv4", "127.0.0.1"],
    ["127.0.1", "ipv4", "127.0.0.1"],
    ["0177.0.0.1", "ipv4", "127.0.0.1"],
    ["017700000001", "ipv4", "127.0.0.1"],
    ["012.1.2.3", "ipv4", "10.1.2.3"],
    ["0x7f.1", "ipv4", "127.0.0.1"],
    ["0x7f000001", "ipv4", "127.0.0.1"],
    ["0x7f.0.0.1", "ipv4", "127.0.0.1"],
    ["0X7F.1", "ipv4", "127.0.0.1"],
    ["0", "ipv4", "0.0.0.0"],
    ["0.0.0.0", "ipv4", "0.0.0.0"],
    ["127.0.0.1.", "ipv4", "127.0.0.1"],
    ["4294967295", "ipv4", "255.255.255.255"],
    // A6-A10: IPv6, mapped folded to IPv4, other embeddings kept as IPv6
    ["[::]", "ipv6", "::"],
    ["[::ffff:127.0.0.1]", "ipv4", "127.0.0.1"],
    ["[::ffff:7f00:1]", "ipv4", "127.0.0.1"],
    ["[::fFFf:127.0.0.1]", "ipv4", "127.0.0.1"],
    ["[0:0:0:0:0:ffff:a9fe:a9fe]", "ipv4", "169.254.169.254"],
    ["[::127.0.0.1]", "ipv6", "::7f00:1"],
    ["[64:ff9b::7f00:1]", "ipv6", "64:ff9b::7f00:1"],
    ["[2002:7f00:1::]", "ipv6", "2002:7f00:1::"],
    ["[2001:DB8::1]", "ipv6", "2001:db8::1"],
    ["[::1]", "ipv6", "::1"],
  ])("%s -> %s %s", (raw, kind, host) => {
    expect(canonicalHost(raw)).toEqual({ kind: kind as Target["kind"], host });
  });
});

describe("canonicalHost: names (catalogue B)", () => {
  test.each([
    ["EVIL.COM", "evil.com"],
    ["evil.com.", "evil.com"],
    ["ExAmPlE.CoM.", "example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["ｅｖｉｌ.com", "evil.com"],
    ["example。com", "example.com"],
    ["_dmarc.example.com", "_dmarc.example.com"],
    ["localhost", "localhost"],
    ["a-b.c_d.example", "a-b.c_d.example"],
  ])("%s -> %s", (raw, host) => {
    expect(canonicalHost(raw)).toEqual({ kind: "domain", host });
  });

  test("percent-encoding is decoded only for hosts that arrived inside a URL", () => {
    expect(canonicalHost("ev%69l.com", { fromUrl: true })).toEqual({ kind: "domain", host: "evil.com" });
    expect(err(() => canonicalHost("ev%69l.com"))).toBe("invalid_host_char");
    // A percent-decoded host is validated again: it cannot smuggle a slash, an @ or a NUL.
    for (const h of ["a%2fb.com", "a%40b.com", "a%00b.com", "%2e%2e"]) {
      expect(() => canonicalHost(h, { fromUrl: true })).toThrow(TargetError);
    }
  });

  test("canonicalization is idempotent", () => {
    for (const raw of ["EVIL.COM.", "bücher.example", "0x7f.1", "[::ffff:10.0.0.1]", "ｅｖｉｌ.com", "[2001:DB8:0::1]"]) {
      const once = canonicalHost(raw);
      const again = canonicalHost(once.kind === "ipv6" ? `[${once.host}]` : once.host);
      expect(again).toEqual(once);
    }
  });
});

describe("canonicalHost rejects what cannot be a host", () => {
  test.each([
    ["", "empty_host"],
    ["allowed.com\r\nX-Injected: 1", "invalid_host_char"],
    ["allowed.com\0.evil.com", "invalid_host_char"],
    ["a b.com", "invalid_host_char"],
    ["a@b.com", "invalid_host_char"],
    ["a\\b.com", "invalid_host_char"],
    ["a/b.com", "invalid_host_char"],
    ["a%2eb.com", "invalid_host_char"],
    ["a..b", "empty_label"],
    [".example.com", "empty_label"],
    ["example.com..", "empty_label"],
    ["。example.com", "empty_label"],
    ["a".repeat(64) + ".com", "label_too_long"],
    [Array.from({ length: 64 }, () => "abc").join("."), "host_too_long"],
    ["[example.com]", "bracketed_name"],
    ["[1.2.3.4]", "bracketed_name"],
    ["[fe80::1%25eth0]", "zone_id"],
    ["[fe80::1%eth0]", "zone_id"],
    ["[::ffff:1.2.3.4%x.allowed.com]", "zone_id"],
    ["2001:db8::1", "ipv6_needs_brackets"],
    ["1.2.3.4.5", "invalid_host"],
    ["foo.123", "invalid_host"],
    ["09", "invalid_host"],
    ["4294967296", "invalid_host"],
    ["xn--zz", "invalid_host"],
    ["[::1", "invalid_host"],
    ["[1::2::3]", "invalid_host"],
  ])("%j -> %s", (raw, code) => {
    expect(err(() => canonicalHost(raw))).toBe(code);
  });

  test("an unbracketed IPv6 literal is accepted where no port can follow (SOCKS5 DOMAINNAME)", () => {
    expect(canonicalHost("::1", { bareIpv6: true })).toEqual({ kind: "ipv6", host: "::1" });
    expect(canonicalHost("::ffff:127.0.0.1", { bareIpv6: true })).toEqual({ kind: "ipv4", host: "127.0.0.1" });
  });
});

describe("ports", () => {
  test.each(["1", "80", "443", "65535"])("accepts %s", (p) => expect(parsePort(p)).toBe(Number(p)));
  test.each(["0", "65536", "65979", "91337", "-1", "+80", "007", "080", "https", "", " 80", "8 0", "1e3", "0x50"])("rejects %j", (p) => {
    expect(err(() => parsePort(p))).toBe("invalid_port");
  });
});

describe("parseAuthority (CONNECT authority, Host header)", () => {
  test.each([
    ["example.com:443", null, { kind: "domain", host: "example.com", port: 443 }],
    ["EXAMPLE.com.:443", null, { kind: "domain", host: "example.com", port: 443 }],
    ["[::1]:8080", null, { kind: "ipv6", host: "::1", port: 8080 }],
    ["[::ffff:127.0.0.1]:22", null, { kind: "ipv4", host: "127.0.0.1", port: 22 }],
    ["2130706433:80", null, { kind: "ipv4", host: "127.0.0.1", port: 80 }],
    ["example.com", 80, { kind: "domain", host: "example.com", port: 80 }],
    ["[::1]", 80, { kind: "ipv6", host: "::1", port: 80 }],
  ] as const)("%s", (authority, def, expected) => {
    expect(parseAuthority(authority, def)).toEqual(expected);
  });

  test.each([
    ["example.com", null, "missing_port"],
    ["2001:db8::1:443", null, "ipv6_needs_brackets"],
    ["[example.com]:443", null, "bracketed_name"],
    ["user@example.com:443", null, "userinfo"],
    ["example.com:443.allowed.com", null, "invalid_port"],
    ["example.com:", 80, "invalid_port"],
    ["example.com:0", null, "invalid_port"],
    ["example.com:65979", null, "invalid_port"],
    ["[::1]x", null, "invalid_host"],
    [":443", null, "empty_host"],
  ] as const)("%s rejected with %s", (authority, def, code) => {
    expect(err(() => parseAuthority(authority, def))).toBe(code);
  });
});

describe("parseAbsoluteUrl (absolute-form request-targets)", () => {
  test("splits scheme, canonical target and the path as sent", () => {
    expect(parseAbsoluteUrl("http://Example.COM:8080/a/../b?x=1%20")).toEqual({
      scheme: "http",
      target: { kind: "domain", host: "example.com", port: 8080 },
      path: "/a/../b?x=1%20",
    });
    expect(parseAbsoluteUrl("HTTP://example.com")).toMatchObject({ path: "/", target: { port: 80 } });
    expect(parseAbsoluteUrl("http://example.com?q")).toMatchObject({ path: "/?q" });
    expect(parseAbsoluteUrl("https://example.com/")).toMatchObject({ scheme: "https", target: { port: 443 } });
    expect(parseAbsoluteUrl("http://ev%69l.com/")).toMatchObject({ target: { host: "evil.com" } });
    expect(parseAbsoluteUrl("http://ｅｖｉｌ.com/")).toMatchObject({ target: { host: "evil.com" } });
    expect(parseAbsoluteUrl("http://0x7f.1/")).toMatchObject({ target: { kind: "ipv4", host: "127.0.0.1" } });
  });

  test.each([
    ["http://allowed.com@evil.com/", "userinfo"],
    ["http://allowed.com\\@evil.com/", "bad_url"],
    ["http://evil.com#@allowed.com/", "bad_url"],
    ["ftp://example.com/", "bad_url"],
    ["ws://example.com/", "bad_url"],
    ["//example.com/", "bad_url"],
    ["http:example.com", "bad_url"],
    ["http:///path", "empty_host"],
    ["http://[fe80::1%25eth0]/", "zone_id"],
  ])("%s rejected with %s", (url, code) => {
    expect(err(() => parseAbsoluteUrl(url))).toBe(code);
  });
});
