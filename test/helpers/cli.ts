/**
 * Run the CLI as a real subprocess (`bun src/main.ts ...`, or the compiled binary when
 * CNP_BINARY is set), and wait for lines on its stderr. Proxies that only need to be running
 * start through ProxyProcess (scripts/lib/proxy-process.ts), which reads their addresses from
 * the ready file instead of the log.
 */
import { CapturedProcess, cliCommand } from "../../scripts/lib/proxy-process.ts";

export { CapturedProcess, cliCommand, MAIN, ProxyProcess, ROOT } from "../../scripts/lib/proxy-process.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const p = Bun.spawn(cliCommand(args), { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** The CLI (`bun src/main.ts ...` or CNP_BINARY) as a process whose stderr can be awaited. */
export class CliProcess extends CapturedProcess {
  constructor(args: readonly string[], env: Record<string, string> = {}) {
    super(cliCommand(args), env);
  }
}
