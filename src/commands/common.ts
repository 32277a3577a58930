/**
 * What every command shares: building the logger and loading the config with problems printed
 * for humans.
 */
import type { CliOptions } from "../cli.ts";
import { loadConfig, type LoadedConfig, type LoadOptions } from "../config/load.ts";
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

/** Load the config, or print every problem and return null. */
export function loadOrReport(o: CliOptions, io: Io, log: Logger): LoadedConfig | null {
  const r = loadConfig(loadOptions(o, io));
  if (!r.ok) {
    if (o.logFormat === "json") {
      // One structured line, like every other event, for log collectors.
      // First lines only, as for reloads: a syntax error's quoted lines may hold a secret.
      log.error("invalid config", { path: r.source.path, exists: r.source.exists, problems: r.problems.map((p) => p.split("\n", 1)[0]!) });
      return null;
    }
    io.err(`codex-network-proxy: invalid config (${r.source.exists ? r.source.path : "no file at " + r.source.path}):\n`);
    for (const p of r.problems) io.err(`  - ${p.replace(/\n/g, "\n    ")}\n`);
    return null;
  }
  const c = r.config;
  if (c.source.exists) log.info("loaded config", { path: c.source.path });
  else log.info("no config file found; using defaults", { looked_for: c.source.path });
  for (const w of c.warnings) log.warn(w);
  return c;
}

export function makeLogger(o: CliOptions): Logger {
  return new Logger(o.logLevel, o.logFormat);
}
