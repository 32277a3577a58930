/**
 * `check`: validate and print the effective config.
 */
import { stringify } from "smol-toml";
import type { CliOptions } from "../cli.ts";
import { effectiveView } from "../config/view.ts";
import { loadOrReport, makeLogger, type Io } from "./common.ts";

export function checkCommand(o: CliOptions, io: Io): number {
  const c = loadOrReport(o, io, makeLogger(o), 1, true);
  if (typeof c === "number") return c;
  const view = effectiveView(c);
  io.out(o.format === "json" ? JSON.stringify(view, null, 2) + "\n" : stringify(view) + "\n");
  return 0;
}
