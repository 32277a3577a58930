/**
 * Where secrets in the config come from: the proxy's environment and files beside the config.
 * Reading is IO, so it is handed to the (otherwise pure) config build; errors name the source
 * and never hold a value.
 */
import { isAbsolute, join } from "node:path";
import type { SecretReader } from "../policy/hooks.ts";

/** The environment and files (relative to the config's directory) secrets are read from. */
export interface SecretIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readFile(path: string): string;
  /** Permission bits of a file, or null when they cannot be read. */
  fileMode?(path: string): number | null;
}

/** For pure uses (tests, explain of a config text): no environment, no files. */
export const NO_SECRETS: SecretIo = {
  env: {},
  readFile: () => {
    throw new Error("no file access here");
  },
};

/** A hook's secret: from its environment variable or its file. */
export function secretReader(io: SecretIo, dir: string): SecretReader {
  return (h) => (h.secret_env_var !== null ? readEnv(io, h.secret_env_var) : readSecretFile(io, dir, h.secret_file!, "secret_file"));
}

export function readEnv(io: SecretIo, name: string): { value: string } | { error: string } {
  const v = io.env[name];
  return v === undefined ? { error: `the environment variable ${name} is not set` } : { value: v };
}

/** A file's content with trailing newlines trimmed; `key` names the setting in errors. */
export function readSecretFile(io: SecretIo, dir: string, file: string, key: string): { value: string } | { error: string } {
  const path = isAbsolute(file) ? file : join(dir, file);
  try {
    return { value: io.readFile(path).replace(/(\r?\n)+$/, "") };
  } catch (e) {
    return { error: `cannot read ${key} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}
