/**
 * The least a proxy's process on this Bun does before it serves anything, as the reference for
 * the start-up and idle-memory rows (the bun-relay column there): compiled the way ours is
 * (bun build --compile, minified, bytecode), it reads $CODEX_HOME/config.toml through node:fs
 * when there is one (as any proxy with a config file must), opens the same three listeners on
 * 127.0.0.1:0 (two Bun.listen, one Bun.serve for the admin API) and writes the same ready file
 * (renamed into place once all of them accept). It parses, decides and logs nothing.
 *
 *   bare [-c ANYTHING]... --ready-file PATH      (the -c arguments ours takes are ignored)
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv;
const at = args.indexOf("--ready-file");
if (at < 0 || at + 1 >= args.length) throw new Error("usage: bare [-c ...] --ready-file PATH");
const readyFile = args[at + 1]!;
const home = process.env["CODEX_HOME"];
let configBytes = 0;
if (home) {
  try {
    configBytes = readFileSync(join(home, "config.toml")).length;
  } catch {
    // No config file: ours runs on its defaults and the overrides then.
  }
}
const socket = { data() {}, open() {} };
const http = Bun.listen({ hostname: "127.0.0.1", port: 0, socket });
const socks = Bun.listen({ hostname: "127.0.0.1", port: 0, socket });
const admin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
const tmp = `${readyFile}.tmp`;
writeFileSync(
  tmp,
  JSON.stringify({
    pid: process.pid,
    version: "bare",
    configBytes,
    http: { host: "127.0.0.1", port: http.port },
    socks: { host: "127.0.0.1", port: socks.port },
    admin: { host: "127.0.0.1", port: admin.port },
  }),
);
renameSync(tmp, readyFile);
const stop = (): never => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
