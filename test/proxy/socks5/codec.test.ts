import { describe, expect, test } from "bun:test";
import { decodeAuth, decodeGreeting, decodeRequest, encodeReply, SocksError } from "../../../src/proxy/socks5/codec.ts";

describe("SOCKS5 codec", () => {
  test("decoders return null until the message is complete, at every split", () => {
    const msgs: Array<[(b: Uint8Array) => unknown, number[]]> = [
      [decodeGreeting, [5, 2, 0, 2]],
      [decodeAuth, [1, 3, 97, 98, 99, 2, 120, 121]],
      [decodeRequest, [5, 1, 0, 1, 127, 0, 0, 1, 0, 80]],
      [decodeRequest, [5, 1, 0, 3, 3, 97, 46, 98, 1, 187]],
      [decodeRequest, [5, 1, 0, 4, ...Array(15).fill(0), 1, 31, 144]],
    ];
    for (const [decode, bytes] of msgs) {
      const all = Uint8Array.from([...bytes, 0xee]);
      for (let i = 0; i < bytes.length; i++) expect(decode(all.subarray(0, i))).toBeNull();
      expect(decode(all)).toMatchObject({ consumed: bytes.length });
    }
  });

  test("a greeting with no methods decodes (the session answers it with 0xFF)", () => {
    expect(decodeGreeting(Uint8Array.of(5, 0, 5))).toEqual({ methods: new Uint8Array(0), consumed: 2 });
  });

  test("requests decode to their parts", () => {
    expect(decodeRequest(Uint8Array.of(5, 1, 0, 3, 3, 97, 46, 98, 1, 187))).toMatchObject({ cmd: 1, atyp: 3, port: 443, addr: Uint8Array.of(97, 46, 98) });
  });

  test.each([
    ["greeting version 4", () => decodeGreeting(Uint8Array.of(4, 1, 0)), null],
    ["auth version", () => decodeAuth(Uint8Array.of(5, 1, 97, 1, 97)), null],
    ["request version", () => decodeRequest(Uint8Array.of(4, 1, 0, 1)), 0x01],
    ["reserved byte", () => decodeRequest(Uint8Array.of(5, 1, 1, 1)), 0x01],
    ["unknown ATYP", () => decodeRequest(Uint8Array.of(5, 1, 0, 9)), 0x08],
    ["empty domain", () => decodeRequest(Uint8Array.of(5, 1, 0, 3, 0)), 0x04],
  ])("%s is refused with reply %p", (_what, fn, reply) => {
    try {
      fn();
      throw new Error("did not throw");
    } catch (e) {
      expect(e).toBeInstanceOf(SocksError);
      expect((e as SocksError).reply).toBe(reply);
    }
  });

  test("replies never carry the proxy's own address", () => {
    expect([...encodeReply(0)]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  });
});
