/**
 * A git origin over HTTP(S): `git http-backend` (the real CGI) behind Bun.serve on loopback,
 * serving bare repositories made for the test. A repository made with `dumbOnly` is served as
 * plain files (the dumb protocol: GET only), the way limited mode allows.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function git(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["git", ...args], {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t", GIT_CONFIG_NOSYSTEM: "1" },
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** Make `<root>/<name>.git` with one commit holding README.md = `content`. */
export function makeRepo(root: string, name: string, content: string, opts: { dumbOnly?: boolean; writable?: boolean } = {}): void {
  const work = mkdtempSync(join(tmpdir(), "cnp-gitwork-"));
  git(["init", "-q", "-b", "main", work], root);
  writeFileSync(join(work, "README.md"), content);
  git(["add", "README.md"], work);
  git(["commit", "-q", "-m", "initial"], work);
  git(["clone", "-q", "--bare", work, join(root, `${name}.git`)], root);
  // git http-backend takes pushes only where http.receivepack says so (no REMOTE_USER here).
  if (opts.writable) git(["config", "http.receivepack", "true"], join(root, `${name}.git`));
  if (opts.dumbOnly) {
    git(["update-server-info"], join(root, `${name}.git`));
    writeFileSync(join(root, `${name}.git`, "dumb-only"), "");
  }
}

export class GitOrigin implements Disposable {
  readonly root = mkdtempSync(join(tmpdir(), "cnp-gitroot-"));
  readonly server: ReturnType<typeof Bun.serve>;
  readonly methods: string[] = [];
  /** Every request: method, path with query, and whether it carried `auth` (true when none is required). */
  readonly requests: Array<{ method: string; path: string; authorized: boolean }> = [];

  /** `auth`: the Authorization value every request must carry (else 401), or none. */
  constructor(
    tls?: { key: string; cert: string },
    readonly auth?: string,
  ) {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls ? { tls } : {}),
      fetch: (req) => this.#cgi(req),
    });
  }

  async #cgi(req: Request): Promise<Response> {
    this.methods.push(req.method);
    const url = new URL(req.url);
    const authorized = this.auth === undefined || req.headers.get("authorization") === this.auth;
    this.requests.push({ method: req.method, path: url.pathname + url.search, authorized });
    if (!authorized) return new Response("authentication required", { status: 401, headers: { "www-authenticate": 'Basic realm="git"' } });
    const repo = decodeURIComponent(url.pathname).split("/").filter(Boolean)[0] ?? "";
    if (existsSync(join(this.root, repo, "dumb-only"))) {
      // Static files, as a plain web server would serve them; `..` is not in test paths.
      const file = join(this.root, decodeURIComponent(url.pathname));
      if (req.method !== "GET" || !existsSync(file) || !statSync(file).isFile()) return new Response("not found", { status: 404 });
      return new Response(readFileSync(file));
    }
    const body = req.method === "POST" ? new Uint8Array(await req.arrayBuffer()) : null;
    const p = Bun.spawn(["git", "http-backend"], {
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: this.root,
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_NOSYSTEM: "1",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers.get("content-type") ?? "",
        CONTENT_LENGTH: body ? String(body.length) : "",
        HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
        GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
        REMOTE_ADDR: "127.0.0.1",
        SERVER_PROTOCOL: "HTTP/1.1",
      },
      stdin: body ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = Buffer.from(await new Response(p.stdout).arrayBuffer());
    await p.exited;
    let sep = out.indexOf("\r\n\r\n");
    let skip = 4;
    if (sep < 0) {
      sep = out.indexOf("\n\n");
      skip = 2;
    }
    const headers = new Headers();
    let status = 200;
    for (const line of out.subarray(0, sep).toString().split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
      else headers.append(k, v);
    }
    return new Response(out.subarray(sep + skip), { status, headers });
  }

  get port(): number {
    return this.server.port!;
  }
  [Symbol.dispose](): void {
    this.server.stop(true);
  }
}
