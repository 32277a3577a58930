/**
 * The admin API's bearer token: `network_proxy.admin_token` if set, otherwise the contents of
 * `network_proxy/admin.token` beside the config file, created once (0600, create-new + fsync +
 * link) when missing. The comparison runs in constant time.
 */
import { lstatSync, readFileSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { ensureDir, FileExistsError, secretFileProblem, writeFileCreateNew } from "../fsutil.ts";
import { constantTimeEqual } from "../secret-compare.ts";

export function tokenPath(configDir: string): string {
  return join(configDir, "network_proxy", "admin.token");
}

/** 256 random bits, URL-safe. */
export function newToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export class TokenError extends Error {
  readonly code = "token_error";
}

/** Read the token file, creating it with a fresh random token when it does not exist. */
export function loadOrCreateToken(path: string): { token: string; created: boolean } {
  for (let attempt = 0; attempt < 2; attempt++) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new TokenError(`cannot read ${path}: ${(e as Error).message}`);
      const token = newToken();
      try {
        ensureDir(dirname(path));
        writeFileCreateNew(path, token + "\n", 0o600);
        return { token, created: true };
      } catch (w) {
        if (w instanceof FileExistsError) continue; // another process won the race: read theirs
        throw new TokenError(`cannot create the admin token file ${path}: ${(w as Error).message}`);
      }
    }
    const problem = secretFileProblem(path, st, "admin token");
    if (problem) throw new TokenError(problem);
    const token = readFileSync(path, "utf8").trim();
    if (token.length < 16) throw new TokenError(`admin token in ${path} is shorter than 16 characters; delete the file to have a new one created`);
    return { token, created: false };
  }
  throw new TokenError(`cannot create the admin token file ${path}`);
}

/** Constant-time check of an `Authorization: Bearer <token>` header. */
export function bearerMatches(header: string | null, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  return constantTimeEqual(Buffer.from(header.slice(7).trim()), Buffer.from(token));
}
