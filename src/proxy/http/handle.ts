/**
 * What a request handler (CONNECT, x-unix-socket) may do with the session that read the request:
 * the narrow face of HttpSession, so the handlers need not import it.
 */
import type { ProxyContext } from "../context.ts";
import type { Conn } from "../conn.ts";
import type { ClientGone } from "../dial.ts";
import type { ProxyError } from "../../outcomes.ts";
import type { DecisionLine } from "../../runtime/gate.ts";
import type { ExchangeSpec } from "./exchange-spec.ts";
import type { Ingress } from "./ingress.ts";

export interface SessionHandle {
  readonly ctx: ProxyContext;
  readonly client: Conn;
  readonly peer: string;
  /** Where the requests come from (the HTTP listener, or inside an intercepted tunnel). */
  readonly ingress: Ingress;
  /** A request is being handled (false once the client went away). */
  readonly busy: boolean;
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
  /** Fail a request that has a decision line (which counts it), answer and close. */
  failLine(line: DecisionLine, e: ProxyError): void;
  /** Forward the request as an exchange. */
  forward(spec: ExchangeSpec): void;
}
