/**
 * A preload for `bun --preload` that records every regular expression the program runs until it
 * writes its ready file, and prints them as one JSON line on stderr at that moment
 * (`REGEXPS-BEFORE-READY [...]`): the first one a process runs pages in the engine's code, about
 * 1.3 MiB of idle memory, so the proxy runs none before it is ready (start-up.int.test.ts).
 *
 * It also prints the packages (node_modules) loaded by then (`PACKAGES-BEFORE-READY [...]`, by
 * name): a package's module code runs as it loads, and ipaddr.js builds regular expressions as
 * it does, so the proxy loads it only when a spelling its own readers do not take needs it.
 *
 * The moment is when the ready file's content is made: JSON.stringify of an object with `pid`,
 * `version` and `admin` (serve.ts writeReadyFile). String methods that take a RegExp go through
 * RegExp.prototype.exec, so wrapping exec and test sees them all.
 */
const seen = new Map<string, string>();
let inside = false;

function note(re: RegExp): void {
  if (inside) return;
  inside = true;
  try {
    const key = String(re);
    if (!seen.has(key)) seen.set(key, (new Error().stack ?? "").split("\n").slice(3, 8).join(" <"));
  } finally {
    inside = false;
  }
}

const exec = RegExp.prototype.exec;
RegExp.prototype.exec = function (this: RegExp, s: string) {
  note(this);
  return exec.call(this, s);
};
const test = RegExp.prototype.test;
RegExp.prototype.test = function (this: RegExp, s: string) {
  note(this);
  return test.call(this, s);
};

const stringify = JSON.stringify;
let reported = false;
JSON.stringify = ((value: unknown, ...rest: unknown[]) => {
  const v = value as Record<string, unknown> | null;
  if (!reported && v !== null && typeof v === "object" && "pid" in v && "version" in v && "admin" in v) {
    reported = true;
    process.stderr.write(`REGEXPS-BEFORE-READY ${stringify([...seen])}\n`);
    const packages = new Set<string>();
    for (const path of Object.keys(require.cache)) {
      const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(path);
      if (m) packages.add(m[1]!.replaceAll("\\", "/"));
    }
    process.stderr.write(`PACKAGES-BEFORE-READY ${stringify([...packages].sort())}\n`);
  }
  return (stringify as (...a: unknown[]) => string)(value, ...rest);
}) as typeof JSON.stringify;
