/**
 * What every command shares: building the logger and loading the config with problems printed
 * for humans.
 */
import type { CliOptions } from "../cli.ts";
import { loadConfig, type LoadedConfig, type LoadOptions } from "../config/load.ts";
import { warningLines } from "../config/warning-lines.ts";
import { Logger } from "../log.ts";

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
};

export function loadOptions(o: CliOptions, io: Io): LoadOptions {
  return { configPath: o.configPath, overrides: o.overrides, env: io.env };
}

/**
 * Load the config, or print every problem and return the exit status: `invalid` for a config
 * with problems, 2 when the command line named a config file that is not there. Warnings are
 * logged, past a hundred counted (warning-lines.ts), or with `everyWarning` all of them (check).
 */
export function loadOrReport(o: CliOptions, io: Io, log: Logger, invalid = 2, everyWarning = false): LoadedConfig | number {
  const r = loadConfig(loadOptions(o, io));
  if (!r.ok) {
    const code = r.usage ? 2 : invalid;
    if (o.logFormat === "json") {
      // One structured line, like every other event, for log collectors.
      // First lines only, as for reloads: a syntax error's quoted lines may hold a secret.
      log.error("invalid config", { path: r.source.path, exists: r.source.exists, problems: r.problems.map((p) => p.split("\n", 1)[0]!) });
      return code;
    }
    io.err(`codex-network-proxy: invalid config (${r.source.exists ? r.source.path : "no file at " + r.source.path}):\n`);
    for (const p of r.problems) io.err(`  - ${p.replace(/\n/g, "\n    ")}\n`);
    return code;
  }
  const c = r.config;
  if (c.source.exists) log.info("loaded config", { path: c.source.path });
  else log.info("no config file found; using defaults", { looked_for: c.source.path });
  for (const w of everyWarning ? c.warnings : warningLines(c.warnings)) log.warn(w);
  return c;
}

export function makeLogger(o: CliOptions): Logger {
  return new Logger(o.logLevel, o.logFormat);
}
