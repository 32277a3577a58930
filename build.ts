/**
 * `bun run build`: one self-contained executable, dist/codex-network-proxy.
 *
 * - autoload of .env and bunfig.toml is off: a policy proxy must behave the same whatever
 *   directory it is started in;
 * - the version is injected with `define` (the binary never reads package.json);
 * - minified; errors are matched by literal `code` fields, never by class names, so minifying
 *   identifiers is safe.
 */
import pkg from "./package.json" with { type: "json" };

const outfile = process.argv[2] ?? "dist/codex-network-proxy";
const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: true,
  sourcemap: "none",
  define: { BUILD_VERSION: JSON.stringify(pkg.version) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const size = Bun.file(outfile).size;
console.log(`built ${outfile} (${(size / 1024 / 1024).toFixed(1)} MiB) in ${Math.round(performance.now() - started)} ms, version ${pkg.version}`);
