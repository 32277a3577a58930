/**
 * The compiled reference programs (bench/bare.ts, bench/bare-work.ts), built once per run the
 * way ours is, and the fresh copies of them and of ours that the page-cache-sensitive rows run.
 */
import { chmodSync, copyFileSync } from "node:fs";
import { basename, join } from "node:path";
import { compile } from "../build.ts";
import { buildInfo } from "../scripts/lib/build-info.ts";
import { makeTempDir, removeTempDir } from "./lib/procs.ts";

const compiled = new Map<string, Promise<string>>();

/**
 * bench/`entry` compiled once per run by build.ts's own compile(), as ours is (minified,
 * bytecode, no autoloaded .env or bunfig).
 */
function compiledProgram(entry: "bare.ts" | "bare-work.ts"): Promise<string> {
  let binary = compiled.get(entry);
  if (binary === undefined) {
    binary = (async () => {
      const name = entry.replace(/\.ts$/, "");
      const outfile = join(makeTempDir(`bun-${name}`), `bun-${name}`);
      await compile({ outfile, info: buildInfo(join(import.meta.dir, "..")), entry: join(import.meta.dir, entry) });
      return outfile;
    })();
    compiled.set(entry, binary);
  }
  return binary;
}

/**
 * Run `body` with ours and the compiled bare programs started from copies written now, in new
 * files; the copies are removed after. The rows whose figures depend on how a compiled
 * program's file sits in the page cache (idle memory, start-up) run inside it.
 *
 * Why: a compiled Bun program is a file of about 110 MB, mapped, and its resident size counts
 * the pages a start maps. A file written a moment ago is held in the page cache in large folios,
 * and a fault maps the whole folio; the same bytes read back from disk after the cache dropped
 * them come in smaller folios. The same proxy binary idled at 40.4 MiB from a fresh copy and
 * 34.9 MiB from its file read back (bench/bare-work.ts: 35.6 and 30.0; ext4, Linux 6.18); a
 * long benchmark run can see ours in either state, while the bare programs are compiled during
 * the run. Started from fresh copies, all are in the same state: the one right after an install
 * or a build.
 */
export async function withFreshPrograms<O extends { readonly binary: string }, T>(ours: O, body: (ours: O) => Promise<T>): Promise<T> {
  const dir = makeTempDir("fresh");
  const copy = (binary: string, name: string): string => {
    const to = join(dir, name);
    copyFileSync(binary, to);
    chmodSync(to, 0o755);
    return to;
  };
  const entries = ["bare.ts", "bare-work.ts"] as const;
  // Compiled (once per run) before the copies stand in for them, and back in place after.
  const originals = await Promise.all(entries.map((e) => compiledProgram(e)));
  try {
    for (const [i, e] of entries.entries()) compiled.set(e, Promise.resolve(copy(originals[i]!, e.replace(/\.ts$/, ""))));
    return await body({ ...ours, binary: copy(ours.binary, basename(ours.binary)) });
  } finally {
    for (const [i, e] of entries.entries()) compiled.set(e, Promise.resolve(originals[i]!));
    removeTempDir(dir);
  }
}

/** bench/bare.ts compiled. The start-up and memory rows call it before they time anything. */
export function compiledBare(): Promise<string> {
  return compiledProgram("bare.ts");
}

/** bench/bare-work.ts compiled: the memory row's floor. */
export function compiledBareWork(): Promise<string> {
  return compiledProgram("bare-work.ts");
}
