/**
 * What a request handler (CONNECT, x-unix-socket) may do with the session that read the request:
 * the narrow face of HttpSession, so the handlers need not import it.
 */
import type { ProxyContext } from "../context.ts";
import type { Conn } from "../conn.ts";
import type { ClientGone } from "../dial.ts";
import type { ExchangeSpec } from "./exchange.ts";

export interface SessionHandle {
  readonly ctx: ProxyContext;
  readonly client: Conn;
  readonly peer: string;
  /** Set when the client goes away (cancels dials). */
  readonly gone: ClientGone;
  /** Client bytes read past the request head (and empty the buffer). */
  takeBuffered(): Buffer | null;
  /** The connection is a tunnel from now on (its bytes are no longer requests). */
  becomeTunnel(): void;
  /** Write a final answer and close. */
  closeWith(answer: Buffer): void;
  /** Answer locally (a block) and carry on with the next request, or close. */
  answerLocal(answer: Buffer, close: boolean): void;
  /** Forward the request as an exchange. */
  forward(spec: ExchangeSpec): void;
}
