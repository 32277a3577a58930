/**
 * Request heads out of the bytes a client sends: the scan for the end of a head resumes where
 * it stopped (a client sending one byte at a time costs linear work), empty lines before a
 * request line are skipped up to a limit, and the bytes after a head (a body, pipelined
 * requests) stay in the queue.
 */
import { ProxyError } from "../../outcomes.ts";
import { ByteQueue } from "../bytes.ts";
import { findHeadEnd, leadingCrlf, parseRequestHead, type HeadLimits, type RequestHead } from "./head.ts";

/** Empty lines tolerated before a request line (RFC 9112 section 2.2 allows at least one). */
const MAX_EMPTY_LINES = 32;

export class HeadReader {
  readonly buf = new ByteQueue();
  #scan = 0;
  /** Empty lines skipped before the current request line, over all reads. */
  #emptyLines = 0;

  /**
   * The next complete head, taken off the queue; "empty" when only empty lines were there (no
   * request has started); "more" when the head is incomplete. Throws ProxyError on a bad head.
   */
  next(limits: HeadLimits): RequestHead | "empty" | "more" {
    if (this.buf.length === 0) return "empty";
    const skip = leadingCrlf(this.buf.view());
    if (skip > 0) {
      this.#emptyLines += skip / 2;
      if (this.#emptyLines > MAX_EMPTY_LINES) throw new ProxyError("bad_request", "too many empty lines before the request line");
      this.buf.consume(skip);
      this.#scan = 0;
      if (this.buf.length === 0) return "empty";
    }
    const buf = this.buf.view();
    const end = findHeadEnd(buf, this.#scan, limits, "request");
    if (end < 0) {
      this.#scan = Math.max(0, buf.length - 3);
      return "more";
    }
    const req = parseRequestHead(buf, limits, end);
    this.#scan = 0;
    this.#emptyLines = 0;
    this.buf.consume(end);
    return req;
  }
}
