/**
 * loadConfig for a reload: the same read and the same steps, run in slices that give the event
 * loop back between them (steps.ts), so that compiling a long allowlist does not stall the
 * requests being forwarded meanwhile. Start-up keeps the synchronous loadConfig: nothing is
 * forwarded yet.
 */
import { buildConfigSteps, readConfig, type LoadOptions, type LoadResult } from "./load.ts";
import { runStepsSliced } from "./steps.ts";

export async function loadConfigSliced(opts: LoadOptions = {}): Promise<LoadResult> {
  const read = readConfig(opts);
  if ("result" in read) return read.result;
  // Reading the file and parsing it (the first step) are two pieces: a turn between them.
  await new Promise<void>((resolve) => setImmediate(resolve));
  return runStepsSliced(buildConfigSteps(read.text, read.source, read.io));
}
