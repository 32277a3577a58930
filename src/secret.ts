/**
 * A credential the proxy holds for a client (a `mitm_hooks` injected header's value). Its text
 * is reachable only through `reveal()`, which the one place that writes it onto an outgoing
 * request calls: printing, logging, JSON-encoding or string-concatenating a Secret gives
 * "[redacted]", so a slip elsewhere cannot leak it.
 */
const REDACTED = "[redacted]";

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}
