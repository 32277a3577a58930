/**
 * Entry point (also the entry of the compiled binary).
 */
import { parseArgs, USAGE } from "./cli.ts";
import { checkCommand } from "./commands/check.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { processIo, type Io } from "./commands/common.ts";
import { envCommand } from "./commands/env.ts";
import { explainCommand } from "./commands/explain.ts";
import { initCommand } from "./commands/init.ts";
import { runCommand } from "./commands/run.ts";
import { serveCommand } from "./commands/serve.ts";
import { directProbeMain, isolatedMain } from "./isolate/inside.ts";
import { versionLine } from "./version.ts";

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  // The inside of `run --isolate` (not a user command).
  if (argv[0] === "__isolated") return isolatedMain(argv.slice(1));
  if (argv[0] === "__probe") return directProbeMain(argv.slice(1));
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
      return initCommand(o, io);
    case "check":
      return checkCommand(o, io);
    case "explain":
      return explainCommand(o, io);
    case "env":
      return envCommand(o, io);
    case "run":
      return runCommand(o, io);
    case "doctor":
      return doctorCommand(o, io);
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
