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

/**
 * Field names whose values are never logged: any name containing one of these, in any case.
 * (Scans, here and in textValue, rather than regular expressions: a proxy that runs none before
 * it is ready never pages in the engine's code, about 1.3 MiB of idle memory.)
 */
const SECRET_WORDS = ["token", "password", "secret", "authorization", "cookie"];
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
  return isSecretField(key) && value !== null && value !== undefined && value !== "" ? REDACTED : value;
}

/**
 * Whether `key` contains a secret word, ASCII letters compared without case (as the regular
 * expression /token|password|.../i does). No string is made: this runs for every field of every
 * line written, a decision line per request at the default level.
 */
function isSecretField(key: string): boolean {
  for (const w of SECRET_WORDS) if (containsAsciiNoCase(key, w)) return true;
  return false;
}

/** Whether `s` contains `lower` (lower-case ASCII letters), ASCII letters of `s` in either case. */
function containsAsciiNoCase(s: string, lower: string): boolean {
  const m = lower.length;
  for (let i = 0; i + m <= s.length; i++) {
    let j = 0;
    while (j < m) {
      const c = s.charCodeAt(i + j);
      if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(j)) break;
      j++;
    }
    if (j === m) return true;
  }
  return false;
}

/** A value written bare in a text log line: not empty, no white space, no '"' and no '='. */
function isBareValue(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x3d || isWhiteSpace(c)) return false;
  }
  return true;
}

/** What `\s` matches in a regular expression: ECMAScript white space and line terminators. */
function isWhiteSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

function textValue(v: unknown): string {
  if (typeof v === "string") return isBareValue(v) ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return String(v);
}

/** A logger that drops everything; for tests and for library use without output. */
export const silentLogger = new Logger("error", "text", { write: () => {} });
