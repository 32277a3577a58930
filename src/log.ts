/**
 * One line per event on stderr, as text or JSON.
 *
 * Fields whose name says they carry a secret are redacted here, in one place, so that no
 * caller can leak a token by passing it along. Formatting happens only when the level is
 * enabled, so a disabled debug line on the hot path costs one comparison.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS = Object.keys(LEVEL_RANK) as LogLevel[];
export const LOG_FORMATS: LogFormat[] = ["text", "json"];

const SECRET_FIELD = /token|password|secret|authorization|cookie/i;
const REDACTED = "[redacted]";

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

export class Logger {
  readonly #rank: number;

  constructor(
    readonly level: LogLevel = "info",
    readonly format: LogFormat = "text",
    private readonly sink: LogSink = stderrSink,
  ) {
    this.#rank = LEVEL_RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.#rank;
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.#rank <= 10) this.#emit("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    if (this.#rank <= 20) this.#emit("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    if (this.#rank <= 30) this.#emit("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#emit("error", msg, fields);
  }

  #emit(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    const ts = new Date().toISOString();
    if (this.format === "json") {
      const obj: LogFields = { ts, level, msg };
      if (fields) for (const [k, v] of Object.entries(fields)) obj[k] = redact(k, v);
      this.sink.write(JSON.stringify(obj) + "\n");
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        line += ` ${k}=${textValue(redact(k, v))}`;
      }
    }
    this.sink.write(line + "\n");
  }
}

function redact(key: string, value: unknown): unknown {
  return SECRET_FIELD.test(key) && value !== null && value !== undefined && value !== "" ? REDACTED : value;
}

function textValue(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return String(v);
}

/** A logger that drops everything; for tests and for library use without output. */
export const silentLogger = new Logger("error", "text", { write: () => {} });
