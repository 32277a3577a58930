/**
 * A streaming validator for `Transfer-Encoding: chunked` bodies (RFC 9112 section 7.1).
 *
 * It does not copy or decode the data: `feed()` says how many of the given bytes belong to the
 * message, so the caller forwards those bytes as they are (already proven well-framed) and keeps
 * the rest for the next message. Invalid framing throws. Accepted, and nothing else:
 *
 *   chunk-size [ ";" token [ "=" token ] ]* CRLF  chunk-data CRLF
 *   "0" [ extensions ] CRLF  *( field-line CRLF )  CRLF
 *
 * No whitespace, no quoted extension values, at most 13 hex digits (2^52 - 1), size and trailer
 * lines capped, and the CRLF after each chunk must be exactly CRLF.
 */
import { ProxyError, type ErrorCode } from "../../outcomes.ts";

// biome-ignore lint/suspicious/noConstEnum: local to this file, so Bun inlines each state as a number in the byte loop.
const enum S {
  SizeStart,
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  FinalLf,
  Done,
}

const MAX_SIZE_DIGITS = 13;
const MAX_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

export class ChunkedReader {
  #s = S.SizeStart;
  #size = 0;
  #digits = 0;
  #line = 0;
  #trailerBytes = 0;
  #extEq = false;
  #extTokenLen = 0;
  /** Total payload bytes seen (without framing). */
  payload = 0;

  /**
   * `trailers: false` refuses trailer fields (requests carrying a hook's credential: an origin
   * that merges trailers into headers would take a client's `Authorization` from them).
   */
  constructor(
    private readonly errorCode: ErrorCode = "bad_request",
    private readonly trailers = true,
  ) {}

  get done(): boolean {
    return this.#s === S.Done;
  }

  #fail(why: string): never {
    throw new ProxyError(this.errorCode, `invalid chunked body: ${why}`);
  }

  /**
   * Consume `buf[start..]`. Returns the index just past the last byte of this message when the
   * message ended inside `buf`, or `buf.length` when all of it belongs to the message.
   */
  feed(buf: Uint8Array, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#s) {
        case S.Data: {
          const take = Math.min(this.#size, n - i);
          this.#size -= take;
          this.payload += take;
          i += take;
          if (this.#size === 0) this.#s = S.DataCr;
          continue;
        }
        case S.SizeStart: {
          const v = hexVal(buf[i]!);
          if (v < 0) this.#fail("chunk size must start with a hex digit");
          this.#size = v;
          this.#digits = 1;
          this.#line = 1;
          this.#s = S.Size;
          break;
        }
        case S.Size: {
          const c = buf[i]!;
          const v = hexVal(c);
          if (v >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) this.#fail("chunk size too large");
            this.#size = this.#size * 16 + v;
          } else if (c === 0x3b) {
            this.#s = S.Ext;
            this.#extEq = false;
            this.#extTokenLen = 0;
          } else if (c === 0x0d) {
            this.#s = S.SizeLf;
          } else {
            this.#fail(`unexpected byte 0x${c.toString(16)} in chunk size`);
          }
          this.#line++;
          break;
        }
        case S.Ext: {
          const c = buf[i]!;
          if (++this.#line > MAX_LINE) this.#fail("chunk extension too long");
          if (TCHAR[c]) {
            this.#extTokenLen++;
          } else if (c === 0x3d && !this.#extEq && this.#extTokenLen > 0) {
            this.#extEq = true;
            this.#extTokenLen = 0;
          } else if (c === 0x3b && this.#extTokenLen > 0) {
            this.#extEq = false;
            this.#extTokenLen = 0;
          } else if (c === 0x0d && this.#extTokenLen > 0) {
            this.#s = S.SizeLf;
          } else {
            this.#fail(`unexpected byte 0x${c.toString(16)} in chunk extension (only ;token[=token] is accepted)`);
          }
          break;
        }
        case S.SizeLf:
          if (buf[i] !== 0x0a) this.#fail("chunk size line must end with CRLF");
          this.#s = this.#size === 0 ? S.TrailerStart : S.Data;
          this.#line = 0;
          break;
        case S.DataCr:
          if (buf[i] !== 0x0d) this.#fail("chunk data must be followed by CRLF");
          this.#s = S.DataLf;
          break;
        case S.DataLf:
          if (buf[i] !== 0x0a) this.#fail("chunk data must be followed by CRLF");
          this.#s = S.SizeStart;
          break;
        case S.TrailerStart: {
          const c = buf[i]!;
          if (c === 0x0d) {
            this.#s = S.FinalLf;
          } else if (TCHAR[c]) {
            if (!this.trailers) this.#fail("trailer fields are not accepted on requests to a host with mitm_hooks");
            this.#s = S.TrailerName;
          } else {
            this.#fail("malformed trailer field");
          }
          this.#trailer();
          break;
        }
        case S.TrailerName: {
          const c = buf[i]!;
          if (c === 0x3a) this.#s = S.TrailerValue;
          else if (!TCHAR[c]) this.#fail("malformed trailer field name");
          this.#trailer();
          break;
        }
        case S.TrailerValue: {
          const c = buf[i]!;
          if (c === 0x0d) this.#s = S.TrailerLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) this.#fail("control character in a trailer field");
          this.#trailer();
          break;
        }
        case S.TrailerLf:
          if (buf[i] !== 0x0a) this.#fail("trailer line must end with CRLF");
          this.#s = S.TrailerStart;
          this.#trailer();
          break;
        case S.FinalLf:
          if (buf[i] !== 0x0a) this.#fail("chunked body must end with CRLF");
          this.#s = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
      i++;
    }
    return i;
  }

  #trailer(): void {
    if (++this.#trailerBytes > MAX_TRAILERS) this.#fail("trailer section too large");
  }
}

/** How much of a body remains, for either framing; `feed` works like ChunkedReader.feed. */
export interface BodyReader {
  readonly done: boolean;
  /** Body bytes seen so far, without framing. */
  readonly payload: number;
  feed(buf: Uint8Array, start?: number): number;
}

export class LengthReader implements BodyReader {
  payload = 0;
  constructor(private remaining: number) {}
  get done(): boolean {
    return this.remaining === 0;
  }
  feed(buf: Uint8Array, start = 0): number {
    const take = Math.min(this.remaining, buf.length - start);
    this.remaining -= take;
    this.payload += take;
    return start + take;
  }
}

/** A body that ends when the connection closes (responses without framing). */
export class CloseDelimitedReader implements BodyReader {
  done = false;
  payload = 0;
  feed(buf: Uint8Array, start = 0): number {
    this.payload += buf.length - start;
    return buf.length;
  }
}

export const NO_BODY: BodyReader = { done: true, payload: 0, feed: (_buf, start = 0) => start };
