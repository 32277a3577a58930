/**
 * Entry point (also the entry of the compiled binary).
 *
 * Only `serve`, the command that runs for hours, is imported up front. The others are imported
 * when they are the command: in the compiled program each is a chunk of its own (build.ts), and
 * code a start never runs still costs it time to load.
 */
import { parseArgs, USAGE } from "./cli.ts";
import { processIo, type Io } from "./commands/common.ts";
import { serveCommand } from "./commands/serve.ts";
import { versionLine } from "./version.ts";

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  // The inside of `run --isolate` (not a user command).
  if (argv[0] === "__isolated") return (await import("./isolate/inside.ts")).isolatedMain(argv.slice(1));
  if (argv[0] === "__probe") return (await import("./isolate/inside.ts")).directProbeMain(argv.slice(1));
  const r = parseArgs(argv);
  switch (r.kind) {
    case "version":
      io.out(`${versionLine()}\n`);
      return 0;
    case "help":
      io.out(USAGE[r.command ?? "main"] + "\n");
      return 0;
    case "usage":
      io.err(`codex-network-proxy: ${r.message}\nTry 'codex-network-proxy --help'.\n`);
      return 2;
    case "ok":
      break;
  }
  const o = r.options;
  switch (o.command) {
    case "serve":
      return serveCommand(o, io);
    case "init":
      return (await import("./commands/init.ts")).initCommand(o, io);
    case "check":
      return (await import("./commands/check.ts")).checkCommand(o, io);
    case "explain":
      return (await import("./commands/explain.ts")).explainCommand(o, io);
    case "env":
      return (await import("./commands/env.ts")).envCommand(o, io);
    case "run":
      return (await import("./commands/run.ts")).runCommand(o, io);
    case "doctor":
      return (await import("./commands/doctor.ts")).doctorCommand(o, io);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`codex-network-proxy: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
