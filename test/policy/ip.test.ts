import { describe, expect, test } from "bun:test";
import ipaddr from "ipaddr.js";
import {
  canonicalIp,
  cidrInsideSpecialBlock,
  classifyIpv4,
  classifyIpv6,
  embeddedIpv4,
  GLOBAL_UNICAST,
  ipBytes,
  V6_NON_PUBLIC,
  v6Parts,
} from "../../src/policy/ip.ts";

/** [first non-public, last non-public] of each block, and the public neighbours on each side. */
const V4_BLOCKS: Array<[string, string, string | null, string | null]> = [
  ["0.0.0.0", "0.255.255.255", null, "1.0.0.0"],
  ["10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"],
  ["100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0"],
  ["127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0"],
  ["169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0"],
  ["172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"],
  ["192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0"],
  ["192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0"],
  ["192.88.99.0", "192.88.99.255", "192.88.98.255", "192.88.100.0"],
  ["192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0"],
  ["198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0"],
  ["198.51.100.0", "198.51.100.255", "198.51.99.255", "198.51.101.0"],
  ["203.0.113.0", "203.0.113.255", "203.0.112.255", "203.0.114.0"],
  ["224.0.0.0", "255.255.255.255", "223.255.255.255", null],
];

describe("IPv4 special-purpose blocks, every boundary", () => {
  test.each(V4_BLOCKS)("%s - %s", (first, last, before, after) => {
    expect(classifyIpv4(first).public).toBe(false);
    expect(classifyIpv4(last).public).toBe(false);
    if (before) expect(classifyIpv4(before).public).toBe(true);
    if (after) expect(classifyIpv4(after).public).toBe(true);
  });

  test("ordinary public addresses", () => {
    for (const a of ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.0.1", "223.255.255.254"]) expect(classifyIpv4(a).public).toBe(true);
  });

  test("verdicts name the block", () => {
    expect(classifyIpv4("169.254.169.254").why).toBe("link-local (169.254.0.0/16)");
    expect(classifyIpv4("255.255.255.255").why).toBe("broadcast (255.255.255.255/32)");
  });
});

describe("IPv6 special-purpose blocks and embedded IPv4", () => {
  // The table holds each block twice, as text and as numbers (so that start-up reads no text):
  // the two must be the same block.
  test.each([...V6_NON_PUBLIC, GLOBAL_UNICAST].map((b) => [b.cidr, b] as const))("%s: its parts are its text", (cidr, b) => {
    const [addr, bits] = cidr.split("/") as [string, string];
    expect(b.base).toEqual(v6Parts(addr));
    expect(b.bits).toBe(Number(bits));
    expect(b.why.endsWith(`(${cidr})`)).toBe(true);
  });

  test.each([
    ["::", false],
    ["::1", false],
    ["::2", false], // IPv4-compatible 0.0.0.2
    ["::7f00:1", false], // IPv4-compatible 127.0.0.1
    ["::808:808", true], // IPv4-compatible 8.8.8.8
    ["::ffff:7f00:1", false],
    ["::ffff:808:808", true],
    ["64:ff9b::7f00:1", false],
    ["64:ff9b::a9fe:a9fe", false],
    ["64:ff9b::808:808", true],
    ["64:ff9b:1::808:808", false], // local-use NAT64 is never public
    ["64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false],
    ["64:ff9b:2::1", false], // outside 2000::/3
    ["100::", false],
    ["100::ffff:ffff:ffff:ffff", false],
    ["2002:7f00:1::", false],
    ["2002:a9fe:a9fe::", false],
    ["2002:808:808::", true],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", true], // Teredo, public server and client (8.8.8.8)
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", false], // RFC 4380 example: client 192.0.2.45 (documentation)
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", false], // Teredo client 127.0.0.1 (inverted)
    ["2001:0:7f00:1::", false], // Teredo server 127.0.0.1
    ["2001:2::1", false],
    ["2001:1ff:ffff::1", false],
    ["2001:200::1", true], // just past 2001::/23
    ["2001:db7:ffff::1", true], // global unicast between the special blocks
    ["2001:db8::1", false],
    ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false],
    ["2001:db9::1", true],
    ["3fff::1", false],
    ["3fff:fff:ffff::1", false],
    ["3fff:1000::1", true],
    ["5f00::1", false],
    ["fc00::1", false],
    ["fdff:ffff::1", false],
    ["fe80::1", false],
    ["febf::1", false],
    ["fec0::1", false],
    ["feff::1", false],
    ["ff02::1", false],
    ["1fff:ffff::1", false], // outside 2000::/3
    ["4000::1", false],
    ["2606:4700::1111", true],
    ["2a00:1450:4001::1", true],
  ] as const)("%s public=%s", (addr, pub) => {
    expect(classifyIpv6(addr).public).toBe(pub);
  });

  test("embedded verdicts say what they embed", () => {
    expect(classifyIpv6("64:ff9b::a9fe:a9fe").why).toBe("NAT64 (64:ff9b::/96) embedding 169.254.169.254: link-local (169.254.0.0/16)");
  });
});

describe("canonicalIp (addresses from resolvers and sockets)", () => {
  test.each([
    ["127.0.0.1", { kind: "ipv4", host: "127.0.0.1" }],
    ["::ffff:127.0.0.1", { kind: "ipv4", host: "127.0.0.1" }],
    ["::FFFF:7F00:1", { kind: "ipv4", host: "127.0.0.1" }],
    ["2001:DB8:0:0::1", { kind: "ipv6", host: "2001:db8::1" }],
    ["example.com", null],
    ["127.1", null],
  ] as const)("%s", (input, out) => {
    expect(canonicalIp(input)).toEqual(out as never);
  });
});

describe("more IPv6 spellings of an IPv4 address", () => {
  test.each([
    ["SIIT (IPv4-translated)", "::ffff:0:808:808", ["8.8.8.8"]],
    ["local-use NAT64, /96 layout", "64:ff9b:1::808:808", ["8.8.8.8"]],
    ["local-use NAT64, /48 layout", "64:ff9b:1:808:8:800::", ["8.8.8.8"]],
    ["local-use NAT64, /56 layout", "64:ff9b:1:8:8:808::", ["8.8.8.8"]],
    ["local-use NAT64, /64 layout", "64:ff9b:1:0:8:808:800:0", ["8.8.8.8"]],
    ["ISATAP", "2600::5efe:808:808", ["8.8.8.8"]],
    ["ISATAP, u bit set", "2600::200:5efe:808:808", ["8.8.8.8"]],
    ["6to4 with an ISATAP interface id", "2002:a00:1::5efe:808:808", ["10.0.0.1", "8.8.8.8"]],
  ])("%s: %s embeds %j (the denylist's IPv4 entries apply)", (_name, v6, want) => {
    const got = embeddedIpv4(v6);
    for (const w of want) expect(got).toContain(w);
  });

  test("judged by what they embed for the local check; local-use NAT64 is never public", () => {
    expect(classifyIpv6("::ffff:0:7f00:1").public).toBe(false);
    expect(classifyIpv6("::ffff:0:808:808").public).toBe(true);
    expect(classifyIpv6("2600::5efe:7f00:1")).toMatchObject({ public: false, why: expect.stringContaining("ISATAP") });
    expect(classifyIpv6("2600::200:5efe:a00:1").public).toBe(false);
    expect(classifyIpv6("2600::5efe:808:808").public).toBe(true);
    expect(classifyIpv6("64:ff9b:1::808:808").public).toBe(false);
    expect(classifyIpv4("168.63.129.16")).toMatchObject({ public: false, why: expect.stringContaining("metadata") });
    expect(classifyIpv4("168.63.129.15").public).toBe(true);
  });
});

describe("which allowlisted CIDR blocks unlock local addresses", () => {
  test.each([
    ["10.0.0.0", 8, true],
    ["10.1.0.0", 16, true],
    ["127.0.0.0", 8, true],
    ["169.254.169.254", 32, true],
    ["168.63.129.16", 32, true],
    ["10.0.0.0", 7, false],
    ["0.0.0.0", 0, false],
    ["0.0.0.0", 1, false],
    ["8.8.4.0", 24, false],
    ["fc00::", 7, true],
    ["fd00::", 8, true],
    ["::1", 128, true],
    ["fe80::", 10, true],
    ["2000::", 3, false],
    ["64:ff9b::", 96, false],
    ["2002::", 16, false],
    ["2001::", 32, false],
    ["2001:db8::", 32, true],
  ] as const)("%s/%d: %p", (host, bits, want) => {
    expect(cidrInsideSpecialBlock(host.includes(":") ? "ipv6" : "ipv4", host, bits)).toBe(want);
  });
});

describe("ipBytes (the address field of a SOCKS5 request to an upstream)", () => {
  test("gives ipaddr.js's bytes for canonical addresses of both families", () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const samples = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "::", "::1", "2001:db8::1", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8"];
    for (let i = 0; i < 2000; i++) {
      samples.push(`${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`);
      // Zero runs of every length, so the canonical text compresses them anywhere.
      samples.push(Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(65536)).toString(16)).join(":"));
    }
    for (const s of samples) {
      const c = canonicalIp(s)!;
      expect([...ipBytes(c.kind, c.host)]).toEqual(ipaddr.parse(c.host).toByteArray());
    }
  });
});
