/**
 * Command-line parsing (pure): argv in, a typed command out, or a usage error with a message.
 */
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";

export type Command = "serve" | "init" | "check" | "explain" | "env" | "run" | "doctor";
export const COMMANDS: readonly Command[] = ["serve", "init", "check", "explain", "env", "run", "doctor"];

export interface CliOptions {
  readonly command: Command;
  readonly configPath: string | undefined;
  readonly overrides: readonly string[];
  readonly logFormat: LogFormat;
  readonly logLevel: LogLevel;
  /** --log-level was given (run defaults to quieter logs otherwise). */
  readonly logLevelSet: boolean;
  /** check: output format. */
  readonly format: "toml" | "json";
  /** env: shell syntax. */
  readonly shell: "sh" | "fish" | "powershell" | "json";
  /** explain: do not resolve names. */
  readonly noDns: boolean;
  /** run: in namespaces where the proxy is the only way out. */
  readonly isolate: boolean;
  /** serve: write the bound addresses here (JSON) once every listener accepts. */
  readonly readyFile: string | undefined;
  /** explain: targets; run: the command and its arguments. */
  readonly args: readonly string[];
}

export type CliResult =
  | { kind: "ok"; options: CliOptions }
  | { kind: "help"; command: Command | null }
  | { kind: "version" }
  | { kind: "usage"; message: string };

export const USAGE: Record<Command | "main", string> = {
  main: `codex-network-proxy: a local network-policy proxy (HTTP, CONNECT, SOCKS5, admin API)

Usage:
  codex-network-proxy [OPTIONS]                 run the proxy
  codex-network-proxy init [OPTIONS]            create the MITM CA (idempotent)
  codex-network-proxy check [OPTIONS]           validate and print the effective config
  codex-network-proxy explain [OPTIONS] TARGET  show the policy decision for a URL or host:port
  codex-network-proxy env [--shell SHELL]       print the environment that points clients here
  codex-network-proxy run [OPTIONS] -- CMD ...  run CMD behind a private proxy instance
  codex-network-proxy doctor [OPTIONS]          check that the set-up does what you think

Options:
  --config PATH         config file (default: $CODEX_HOME/config.toml, CODEX_HOME=~/.codex)
  -c KEY=VALUE          override a config key; VALUE is TOML, else a plain string
                        e.g. -c network_proxy.mode='"limited"'
                             -c 'network_proxy.policy.allowed_domains=["example.com"]'
  --log-format FORMAT   text (default) or json
  --log-level LEVEL     debug, info (default), warn or error
  -h, --help            show help (also: codex-network-proxy COMMAND --help)
  -V, --version         show the version

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.`,
  serve: `Usage: codex-network-proxy [--config PATH] [-c KEY=VALUE]... [--log-format text|json] [--log-level LEVEL] [--ready-file PATH]

Runs the HTTP proxy, the SOCKS5 proxy and the admin API until SIGINT or SIGTERM.
--ready-file PATH: once every listener accepts, write {"pid","version","http","socks","admin"}
(each {"host","port"}, socks null when off) to PATH as JSON, atomically.
On a signal it stops accepting, gives in-flight work network_proxy.limits.shutdown_grace_ms,
and exits 0.`,
  init: `Usage: codex-network-proxy init [--config PATH] [-c KEY=VALUE]...

Creates the MITM directory and, if neither exists yet, the CA key (0600) and certificate (0644)
at network_proxy.mitm.ca_key_path / ca_cert_path. Safe to run again: existing files are kept.
Prints where the CA is and how to make clients trust it.`,
  check: `Usage: codex-network-proxy check [--config PATH] [-c KEY=VALUE]... [--format toml|json]

Validates the config and prints the effective configuration (after defaults, overrides and
listener clamping). Exits 1 and lists every problem when the config is invalid.`,
  explain: `Usage: codex-network-proxy explain [--config PATH] [-c KEY=VALUE]... [--no-dns] TARGET...

Prints the policy decision for each TARGET (a URL such as http://example.com/x, or host:port)
under the current config, without connecting anywhere. Allowed names are resolved (as the proxy
would) unless --no-dns is given.`,
  env: `Usage: codex-network-proxy env [--config PATH] [-c KEY=VALUE]... [--shell sh|bash|zsh|fish|powershell|json]

Prints the environment variables that point HTTP, HTTPS and SOCKS clients at this proxy.`,
  run: `Usage: codex-network-proxy run [--config PATH] [-c KEY=VALUE]... [--isolate] -- CMD [ARGS...]

Starts a private proxy on free loopback ports, runs CMD with the environment pointing at it,
prints a summary of blocked requests when CMD exits, and exits with CMD's status.

--isolate (Linux) runs CMD in its own user and network namespaces, where the proxy is the only
way out: programs that ignore the proxy variables cannot reach the network at all.`,
  doctor: `Usage: codex-network-proxy doctor [--config PATH] [-c KEY=VALUE]...

Checks that this machine and this config do what you think: the config, the listeners, the admin
token, the MITM CA, this shell's proxy variables, and a live probe through a private instance.
Prints pass/warn/fail with a fix for each; exits 1 when any check fails.`,
};

export function parseArgs(argv: readonly string[]): CliResult {
  let command: Command = "serve";
  let configPath: string | undefined;
  const overrides: string[] = [];
  let logFormat: LogFormat = "text";
  let logLevel: LogLevel = "info";
  let logLevelSet = false;
  let format: "toml" | "json" = "toml";
  let shell: CliOptions["shell"] = "sh";
  let noDns = false;
  let isolate = false;
  let readyFile: string | undefined;
  const args: string[] = [];
  let help = false;

  let i = 0;
  const first = argv[0];
  if (first !== undefined && (COMMANDS as readonly string[]).includes(first) && first !== "serve") {
    command = first as Command;
    i = 1;
  } else if (first !== undefined && !first.startsWith("-")) {
    return { kind: "usage", message: `unknown command ${JSON.stringify(first)}; commands: init, check, explain, env, run, doctor` };
  }

  const value = (name: string, inline: string | undefined): string | CliResult => {
    if (inline !== undefined) return inline;
    const v = argv[++i];
    if (v === undefined) return { kind: "usage", message: `${name} needs a value` };
    return v;
  };

  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    let v: string | CliResult;
    switch (name) {
      case "-h":
      case "--help":
        help = true;
        break;
      case "-V":
      case "--version":
        return { kind: "version" };
      case "--config":
        v = value(name, inline);
        if (typeof v !== "string") return v;
        configPath = v;
        break;
      case "-c":
      case "--config-override":
        v = value(name, inline);
        if (typeof v !== "string") return v;
        overrides.push(v);
        break;
      case "--log-format":
        v = value(name, inline);
        if (typeof v !== "string") return v;
        if (!(LOG_FORMATS as string[]).includes(v)) return { kind: "usage", message: `--log-format must be text or json, not ${JSON.stringify(v)}` };
        logFormat = v as LogFormat;
        break;
      case "--log-level":
        v = value(name, inline);
        if (typeof v !== "string") return v;
        if (!(LOG_LEVELS as string[]).includes(v))
          return { kind: "usage", message: `--log-level must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(v)}` };
        logLevel = v as LogLevel;
        logLevelSet = true;
        break;
      case "--format":
        if (command !== "check") return { kind: "usage", message: "--format is an option of check" };
        v = value(name, inline);
        if (typeof v !== "string") return v;
        if (v !== "toml" && v !== "json") return { kind: "usage", message: `--format must be toml or json, not ${JSON.stringify(v)}` };
        format = v;
        break;
      case "--shell":
        if (command !== "env") return { kind: "usage", message: "--shell is an option of env" };
        v = value(name, inline);
        if (typeof v !== "string") return v;
        // bash and zsh take the same `export NAME='value'` lines as sh.
        if (v === "bash" || v === "zsh") v = "sh";
        if (v !== "sh" && v !== "fish" && v !== "powershell" && v !== "json") {
          return { kind: "usage", message: `--shell must be sh (or bash, zsh), fish, powershell or json, not ${JSON.stringify(v)}` };
        }
        shell = v;
        break;
      case "--ready-file":
        if (command !== "serve") return { kind: "usage", message: "--ready-file is an option of the proxy itself (no command)" };
        v = value(name, inline);
        if (typeof v !== "string") return v;
        readyFile = v;
        break;
      case "--isolate":
        if (command !== "run") return { kind: "usage", message: "--isolate is an option of run" };
        isolate = true;
        break;
      case "--no-dns":
        if (command !== "explain") return { kind: "usage", message: "--no-dns is an option of explain" };
        noDns = true;
        break;
      default:
        if (arg.startsWith("-c") && arg.length > 2 && !arg.startsWith("--")) {
          overrides.push(arg.slice(2));
          break;
        }
        if (arg.startsWith("-")) return { kind: "usage", message: `unknown option ${JSON.stringify(arg)}` };
        if (command === "explain") {
          args.push(arg);
          break;
        }
        return { kind: "usage", message: `unexpected argument ${JSON.stringify(arg)}` };
    }
  }
  if (help) return { kind: "help", command: command === "serve" && argv[0] !== "serve" ? null : command };
  if (command === "explain" && args.length === 0) return { kind: "usage", message: "explain needs at least one TARGET (a URL or host:port)" };
  if (command === "run" && args.length === 0)
    return { kind: "usage", message: "run needs a command after --, e.g. codex-network-proxy run -- curl http://example.com/" };
  if (command !== "run" && command !== "explain" && args.length > 0) return { kind: "usage", message: `unexpected arguments after --: ${args.join(" ")}` };
  return { kind: "ok", options: { command, configPath, overrides, logFormat, logLevel, logLevelSet, format, shell, noDns, isolate, readyFile, args } };
}
