/**
 * SOCKS5 wire format (RFC 1928, and RFC 1929 username/password): pure, incremental decoders
 * that return null until a whole message is buffered, and encoders. No sockets here.
 */

import { SOCKS_REPLY } from "../../outcomes.ts";

export const SOCKS_VERSION = 0x05;
export const AUTH_VERSION = 0x01;

export const METHOD = { NO_AUTH: 0x00, USER_PASS: 0x02, NO_ACCEPTABLE: 0xff } as const;
export const CMD = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;
export const ATYP = { IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 } as const;

/** A violation of the protocol. `reply` is the REP code to send before closing, if one fits. */
export class SocksError extends Error {
  constructor(
    message: string,
    readonly reply: number | null,
  ) {
    super(message);
  }
}

/*
 * Greeting (client -> server):
 *   +----+----------+----------+
 *   |VER | NMETHODS | METHODS  |
 *   +----+----------+----------+
 *   | 1  |    1     | 1 to 255 |
 */
export function decodeGreeting(buf: Uint8Array): { methods: Uint8Array; consumed: number } | null {
  if (buf.length < 1) return null;
  if (buf[0] !== SOCKS_VERSION) throw new SocksError(`not SOCKS5 (version byte 0x${buf[0]!.toString(16)})`, null);
  if (buf.length < 2) return null;
  const n = buf[1]!;
  // NMETHODS = 0 offers nothing acceptable: the session answers 0xFF like any other miss.
  if (buf.length < 2 + n) return null;
  return { methods: buf.subarray(2, 2 + n), consumed: 2 + n };
}

/** Method selection (server -> client): VER | METHOD */
export function encodeMethod(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

/*
 * Username/password request (RFC 1929):
 *   +----+------+----------+------+----------+
 *   |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
 *   +----+------+----------+------+----------+
 *   | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
 */
export function decodeAuth(buf: Uint8Array): { username: Uint8Array; password: Uint8Array; consumed: number } | null {
  if (buf.length < 1) return null;
  if (buf[0] !== AUTH_VERSION) throw new SocksError(`bad username/password sub-negotiation version 0x${buf[0]!.toString(16)}`, null);
  if (buf.length < 2) return null;
  const ulen = buf[1]!;
  if (buf.length < 3 + ulen) return null;
  const plen = buf[2 + ulen]!;
  if (buf.length < 3 + ulen + plen) return null;
  return { username: buf.subarray(2, 2 + ulen), password: buf.subarray(3 + ulen, 3 + ulen + plen), consumed: 3 + ulen + plen };
}

/** Username/password status: VER | STATUS (0 = success). */
export function encodeAuthStatus(ok: boolean): Uint8Array {
  return Uint8Array.of(AUTH_VERSION, ok ? 0x00 : 0x01);
}

export interface SocksRequest {
  readonly cmd: number;
  readonly atyp: 1 | 3 | 4;
  readonly addr: Uint8Array;
  readonly port: number;
  readonly consumed: number;
}

/*
 * Request (client -> server):
 *   +----+-----+-------+------+----------+----------+
 *   |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *   +----+-----+-------+------+----------+----------+
 *   | 1  |  1  | X'00' |  1   | Variable |    2     |
 */
export function decodeRequest(buf: Uint8Array): SocksRequest | null {
  if (buf.length < 1) return null;
  if (buf[0] !== SOCKS_VERSION) throw new SocksError(`request has version 0x${buf[0]!.toString(16)}, expected 5`, SOCKS_REPLY.GENERAL_FAILURE);
  if (buf.length < 4) return null;
  const cmd = buf[1]!;
  if (buf[2] !== 0x00) throw new SocksError("reserved byte is not zero", SOCKS_REPLY.GENERAL_FAILURE);
  const atyp = buf[3]!;
  let addrStart = 4;
  let addrLen: number;
  switch (atyp) {
    case ATYP.IPV4:
      addrLen = 4;
      break;
    case ATYP.IPV6:
      addrLen = 16;
      break;
    case ATYP.DOMAIN:
      if (buf.length < 5) return null;
      addrLen = buf[4]!;
      addrStart = 5;
      if (addrLen === 0) throw new SocksError("empty domain name", SOCKS_REPLY.HOST_UNREACHABLE);
      break;
    default:
      throw new SocksError(`address type 0x${atyp.toString(16)} is not supported`, SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const end = addrStart + addrLen + 2;
  if (buf.length < end) return null;
  const port = (buf[end - 2]! << 8) | buf[end - 1]!;
  return { cmd, atyp: atyp as 1 | 3 | 4, addr: buf.subarray(addrStart, addrStart + addrLen), port, consumed: end };
}

/*
 * Reply (server -> client):
 *   +----+-----+-------+------+----------+----------+
 *   |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
 *   +----+-----+-------+------+----------+----------+
 *
 * BND.ADDR/BND.PORT are always 0.0.0.0:0: for CONNECT a client has no use for them, and the
 * proxy's outbound address and port are nobody's business (the original leaked them, W15).
 */
export function encodeReply(rep: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, rep, 0x00, ATYP.IPV4, 0, 0, 0, 0, 0, 0);
}
