/**
 * The SOCKS5 CONNECT request sent to an upstream (RFC 1928 section 4), byte for byte, for each
 * address type. The integration tests run a real upstream (microsocks) by address; names
 * (socks5h://, resolve = "upstream") and IPv6 addresses only reach an upstream for targets that
 * are not loopback, which no test here can dial, so their layout is held here.
 */
import { describe, expect, test } from "bun:test";
import { socksConnectRequest } from "../../src/proxy/upstream.ts";

const bytes = (b: Uint8Array) => [...b];

describe("socksConnectRequest", () => {
  test("a name: type 3, its length, its bytes, the port", () => {
    const name = "origin.example";
    expect(bytes(socksConnectRequest({ kind: "domain", host: name, port: 443 }))).toEqual([5, 1, 0, 3, name.length, ...Buffer.from(name), 1, 187]);
  });

  test("an IPv4 address: type 1, its 4 bytes, the port", () => {
    expect(bytes(socksConnectRequest({ kind: "ipv4", host: "192.0.2.7", port: 8080 }))).toEqual([5, 1, 0, 1, 192, 0, 2, 7, 0x1f, 0x90]);
  });

  test("an IPv6 address: type 4, its 16 bytes, the port", () => {
    expect(bytes(socksConnectRequest({ kind: "ipv6", host: "2001:db8::a:1", port: 65535 }))).toEqual([
      5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0x01, 255, 255,
    ]);
  });

  test("a name of 253 bytes, the longest a canonical name has, fits its length byte", () => {
    const name = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    const req = socksConnectRequest({ kind: "domain", host: name, port: 1 });
    expect(req.length).toBe(7 + 253);
    expect(req[4]).toBe(253);
    expect(req.subarray(5, 5 + 253).toString("latin1")).toBe(name);
  });
});
