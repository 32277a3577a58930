/**
 * `mitm_hooks` end to end, with the clients users run (curl, Python requests, git) against
 * loopback TLS origins that record the raw request heads they receive: the real secret reaches
 * the hooked host only on requests a hook allows, every client-sent copy of an injected or
 * stripped header is gone, and the secret is nowhere else (other hosts, plain HTTP, redirects,
 * TRACE, the proxy's logs and answers, the admin API, `check`).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki, type TestPki } from "../../scripts/lib/pki.ts";
import { runCli } from "../helpers/cli.ts";
import { GitOrigin, makeRepo } from "../helpers/git.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { curl } from "../helpers/raw.ts";
import { CountingTlsOrigin } from "../helpers/tls-origin.ts";
import { tlsThroughConnect } from "../helpers/tls-tunnel.ts";

const SECRET = `ghp_${crypto.randomUUID().replaceAll("-", "")}`;
const KEY = `key-${crypto.randomUUID()}`;

/** The config of README's GitHub example, for an origin on localhost (127.0.0.1 is the same origin, unhooked). */
function apiConfig(pki: TestPki, mode: "limited" | "full", extra = ""): string {
  return `[network_proxy]
mode = "${mode}"
${extra}
[network_proxy.policy]
allowed_domains = ["localhost", "127.0.0.1"]
[network_proxy.mitm]
enabled = true
upstream_ca_file = "${pki.caFile}"

[[network_proxy.mitm_hooks]]
host = "localhost"
match.methods = ["GET", "POST"]
match.path_prefixes = ["/repos/acme/widgets/"]
actions.strip_request_headers = ["cookie"]
actions.inject_request_headers = [
  { name = "authorization", secret_env_var = "CNP_TEST_TOKEN", prefix = "Bearer " },
  { name = "x-api-key", secret_file = "api.key" },
]
`;
}

/** Header lines of a raw head whose name is `lower` (any case). */
function headerLines(head: string, lower: string): string[] {
  return head
    .split("\r\n")
    .slice(1)
    .filter((l) => l.slice(0, l.indexOf(":")).toLowerCase() === lower)
    .map((l) => l.slice(l.indexOf(":") + 1).trim());
}

interface World extends AsyncDisposable {
  pki: TestPki;
  origin: CountingTlsOrigin;
  proxy: TestProxy;
  ca: string;
}

async function world(mode: "limited" | "full" = "limited", extra = ""): Promise<World> {
  const pki = await makeTestPki();
  const leaf = await pki.issue(["localhost", "127.0.0.1"]);
  // /redirect sends the client to the same origin under the other (unhooked) name.
  const origin: CountingTlsOrigin = new CountingTlsOrigin(leaf, "ORIGIN OK", "127.0.0.1", (head) =>
    head.startsWith("GET /repos/acme/widgets/redirect ")
      ? `HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:${origin.port}/landing\r\nContent-Length: 0\r\n\r\n`
      : null,
  );
  const proxy = await startProxy([], { configText: apiConfig(pki, mode, extra), env: { CNP_TEST_TOKEN: SECRET }, files: { "api.key": `${KEY}\n` } });
  return {
    pki,
    origin,
    proxy,
    ca: proxy.state.config.np.mitm.ca_cert_path,
    async [Symbol.asyncDispose]() {
      await proxy[Symbol.asyncDispose]();
      origin[Symbol.dispose]();
    },
  };
}

describe("credential injection with curl", () => {
  test("a matching request gets the real secret once; every client copy of injected and stripped headers is gone", async () => {
    await using w = await world();
    const url = `https://localhost:${w.origin.port}/repos/acme/widgets/issues`;
    const r = await curl([
      "-x",
      w.proxy.url,
      "--cacert",
      w.ca,
      "-H",
      "Authorization: Bearer codex-network-proxy-placeholder-CNP_TEST_TOKEN",
      "-H",
      "AUTHORIZATION: a second copy",
      "-H",
      "X-API-KEY: from-the-client",
      "-H",
      "X_Api_Key: underscore-spelling",
      "-H",
      "Cookie: session=client",
      "-H",
      "Connection: authorization",
      url,
    ]);
    expect(r.stdout).toBe("ORIGIN OK");
    const head = w.origin.requests.at(-1)!.head;
    expect(headerLines(head, "authorization")).toEqual([`Bearer ${SECRET}`]);
    expect(headerLines(head, "x-api-key")).toEqual([KEY]);
    expect(headerLines(head, "x_api_key")).toEqual([]);
    expect(headerLines(head, "cookie")).toEqual([]);
    // The decision line names the hook and what it injected, never the values.
    expect(w.proxy.log).toContain('rule="mitm_hooks[0] (localhost) injects authorization, x-api-key"');
  });

  test("a POST a hook allows passes in limited mode; anything else to the hooked host is refused with its reason", async () => {
    await using w = await world();
    const base = `https://localhost:${w.origin.port}`;
    const cli = ["-x", w.proxy.url, "--cacert", w.ca, "-i"];
    const post = await curl([...cli, "-X", "POST", "-d", '{"title":"x"}', `${base}/repos/acme/widgets/issues`]);
    expect(post.stdout).toContain("ORIGIN OK");
    expect(w.origin.requests.at(-1)!.head).toStartWith("POST /repos/acme/widgets/issues HTTP/1.1");
    const before = w.origin.requests.length;
    const other = await curl([...cli, "-X", "POST", "-d", "x", `${base}/repos/acme/other/issues`]);
    expect(other.stdout).toContain(`HTTP/1.1 403 Blocked by codex-network-proxy: localhost:${w.origin.port} mitm_hook_no_match`);
    expect(other.stdout).toContain("x-proxy-error: blocked-by-mitm-hook");
    expect(other.stdout).toContain("Why: no mitm_hooks entry for localhost allows POST /repos/acme/other/issues");
    const del = await curl([...cli, "-X", "DELETE", `${base}/repos/acme/widgets/issues/1`]);
    expect(del.stdout).toContain("mitm_hook_no_match");
    const sneaky = await curl([...cli, "--path-as-is", `${base}/repos/acme/widgets/../../admin`]);
    expect(sneaky.stdout).toContain("mitm_hook_no_match");
    const trace = await curl([...cli, "-X", "TRACE", `${base}/repos/acme/widgets/x`]);
    expect(trace.stdout).toContain("x-proxy-error: blocked-by-method-policy");
    expect(w.origin.requests.length).toBe(before);
    const events = w.proxy.state.blocked.since(0).map((e) => [e.method, e.reason, e.protocol]);
    expect(events).toEqual([
      ["POST", "mitm_hook_no_match", "https"],
      ["DELETE", "mitm_hook_no_match", "https"],
      ["GET", "mitm_hook_no_match", "https"],
      ["TRACE", "method_not_allowed", "https"],
    ]);
  });

  test("no secret on another host, on a redirect the client follows there, over plain HTTP, or through SOCKS5", async () => {
    await using w = await world("full");
    using plain = new HttpOrigin();
    const cli = ["-x", w.proxy.url, "--cacert", w.ca];
    // Full mode: the hooked host is intercepted all the same (the client must trust our CA).
    const hooked = await curl([...cli, `https://localhost:${w.origin.port}/repos/acme/widgets/x`]);
    expect(hooked.stdout).toBe("ORIGIN OK");
    expect(headerLines(w.origin.requests.at(-1)!.head, "authorization")).toEqual([`Bearer ${SECRET}`]);
    // The unhooked name of the same origin: a plain tunnel, the client's own header as sent.
    const other = await curl([
      "-x",
      w.proxy.url,
      "--cacert",
      w.pki.caFile,
      "-H",
      "Authorization: placeholder",
      `https://127.0.0.1:${w.origin.port}/repos/acme/widgets/x`,
    ]);
    expect(other.stdout).toBe("ORIGIN OK");
    expect(headerLines(w.origin.requests.at(-1)!.head, "authorization")).toEqual(["placeholder"]);
    // A redirect to the other name: curl follows it with its own trust; nothing of ours goes along.
    const n = w.origin.requests.length;
    // Trust for both legs: our CA (the intercepted hooked host) and the origin's (the plain tunnel).
    const both = join(mkdtempSync(join(tmpdir(), "cnp-hooks-ca-")), "both.pem");
    writeFileSync(both, readFileSync(w.ca, "utf8") + readFileSync(w.pki.caFile, "utf8"));
    const redirected = await curl(["-x", w.proxy.url, "--cacert", both, "-L", `https://localhost:${w.origin.port}/repos/acme/widgets/redirect`]);
    expect(redirected.stdout).toBe("ORIGIN OK");
    const [first, second] = w.origin.requests.slice(n).map((q) => q.head);
    expect(headerLines(first!, "authorization")).toEqual([`Bearer ${SECRET}`]);
    expect(second).toStartWith("GET /landing HTTP/1.1");
    expect(second).not.toContain(SECRET);
    expect(second).not.toContain(KEY);
    // Plain HTTP to the hooked name: refused, since the hook injects a credential.
    const http = await curl(["-x", w.proxy.url, "-i", `http://localhost:${plain.port}/repos/acme/widgets/x`]);
    expect(http.stdout).toContain("x-proxy-error: blocked-by-mitm-hook");
    expect(http.stdout).toContain('"reason":"mitm_hook_plaintext"');
    expect(plain.requests).toBe(0);
    // SOCKS5 cannot be inspected, so a hooked host is not reachable through it.
    const socks = await curl([
      "--proxy",
      `socks5h://127.0.0.1:${w.proxy.socksPort}`,
      "--cacert",
      w.pki.caFile,
      `https://localhost:${w.origin.port}/repos/acme/widgets/x`,
    ]);
    expect(socks.code).toBe(97);
    expect(w.proxy.state.blocked.since(0).map((e) => [e.reason, e.protocol])).toEqual([
      ["mitm_hook_plaintext", "http"],
      ["mitm_required", "socks5"],
    ]);
  });

  test("dangerously_allow_plaintext_credential_injection lets a plain-HTTP request carry it", async () => {
    await using w = await world("limited", "dangerously_allow_plaintext_credential_injection = true");
    const seen: string[] = [];
    const plain = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        seen.push(req.headers.get("authorization") ?? "");
        return new Response("plain");
      },
    });
    try {
      const r = await curl(["-x", w.proxy.url, `http://localhost:${plain.port}/repos/acme/widgets/x`]);
      expect(r.stdout).toBe("plain");
      expect(seen).toEqual([`Bearer ${SECRET}`]);
    } finally {
      plain.stop(true);
    }
  });
});

describe("credential injection with Python requests", () => {
  test("a matching GET carries the secret; a refused one raises with the reason in the status line", async () => {
    await using w = await world();
    const code = [
      "import os, requests",
      "p = {'https': os.environ['P'], 'http': os.environ['P']}",
      "r = requests.get(os.environ['BASE'] + '/repos/acme/widgets/pulls', proxies=p, verify=os.environ['CA'], headers={'Authorization': 'token placeholder'})",
      "print(r.status_code, r.text)",
      "r = requests.put(os.environ['BASE'] + '/repos/acme/widgets/pulls/1', proxies=p, verify=os.environ['CA'], data='x')",
      "print(r.status_code, r.reason)",
    ].join("\n");
    // Asynchronously: the proxy runs in this process and must keep serving meanwhile.
    const p = Bun.spawn(["python3", "-c", code], {
      env: { ...process.env, P: w.proxy.url, BASE: `https://localhost:${w.origin.port}`, CA: w.ca },
      stdout: "pipe",
    });
    const out = await new Response(p.stdout).text();
    expect(out.trim().split("\n")).toEqual(["200 ORIGIN OK", `403 Blocked by codex-network-proxy: localhost:${w.origin.port} mitm_hook_no_match`]);
    expect(headerLines(w.origin.requests.at(-1)!.head, "authorization")).toEqual([`Bearer ${SECRET}`]);
  });
});

describe("git with a credential, through hooks: fetch everywhere, push to one repository", () => {
  test("fetches and the push to the writable repository carry the injected token; a push anywhere else is refused", async () => {
    const pki = await makeTestPki();
    const token = `Basic ${btoa(`git:${SECRET}`)}`;
    using g = new GitOrigin(await pki.issue(["localhost"]), token);
    makeRepo(g.root, "repo", "hello through a hook\n", { writable: true });
    makeRepo(g.root, "widgets", "push here\n", { writable: true });
    const dir = mkdtempSync(join(tmpdir(), "cnp-hooks-git-"));
    // README's example, for a host called localhost.
    const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
    const example = /```toml\n(# git\.example\.com: fetch[\s\S]*?)```/.exec(readme)![1]!.replaceAll("git.example.com", "localhost").replaceAll("/acme/", "/");
    const config = `[network_proxy]
mode = "limited"
[network_proxy.policy]
allowed_domains = ["localhost"]
[network_proxy.mitm]
enabled = true
upstream_ca_file = "${pki.caFile}"
${example}`;
    await using proxy = await startProxy([], { configText: config, files: { "git.token": `${token}\n` } });
    const env = { ...process.env, HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_SSL_CAINFO: proxy.state.config.np.mitm.ca_cert_path, HTTPS_PROXY: proxy.url };
    // Asynchronously: the proxy runs in this process and must keep serving meanwhile.
    const git = async (args: string[], cwd = dir) => {
      const p = Bun.spawn(["git", "-c", "user.email=a@b", "-c", "user.name=a", ...args], { cwd, env, stderr: "pipe", stdout: "pipe" });
      const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      return { stderr, code };
    };
    for (const repo of ["repo", "widgets"]) {
      const clone = await git(["clone", `https://localhost:${g.port}/${repo}.git`, repo]);
      expect(clone.stderr).not.toContain("fatal");
      expect((await git(["fetch"], join(dir, repo))).code).toBe(0);
      await git(["commit", "-q", "--allow-empty", "-m", "change"], join(dir, repo));
    }
    expect(readFileSync(join(dir, "repo", "README.md"), "utf8")).toBe("hello through a hook\n");
    const allowed = await git(["push", "origin", "HEAD"], join(dir, "widgets"));
    expect(allowed.code).toBe(0);
    const refused = await git(["push", "origin", "HEAD"], join(dir, "repo"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("403");
    // Every request that reached the origin carried the token; the refused push never reached it.
    expect(g.requests.every((r) => r.authorized)).toBe(true);
    expect(g.requests.filter((r) => r.path.includes("receive-pack")).map((r) => r.path.split("?")[0])).toEqual([
      "/widgets.git/info/refs",
      "/widgets.git/git-receive-pack",
    ]);
    expect(proxy.state.blocked.since(0).map((e) => [e.method, e.reason])).toEqual([["GET", "mitm_hook_no_match"]]);
  });
});

describe("the secret is nowhere but on the allowed requests", () => {
  test("log (all levels), /config, /blocked, /metrics, check --format json, explain, env and run hold only its source or a placeholder", async () => {
    await using w = await world();
    const cli = ["-x", w.proxy.url, "--cacert", w.ca];
    await curl([...cli, `https://localhost:${w.origin.port}/repos/acme/widgets/x`]);
    await curl([...cli, "-X", "POST", `https://localhost:${w.origin.port}/nope`]);
    const admin = await Promise.all(["/config", "/blocked", "/metrics"].map(async (p) => (await w.proxy.admin(p)).text()));
    expect(admin[0]).toContain('"secret_env_var":"CNP_TEST_TOKEN","prefix":"Bearer ","value":"[redacted]"');
    const home = w.proxy.configPath.replace(/\/config\.toml$/, "");
    const env = { CODEX_HOME: home, CNP_TEST_TOKEN: SECRET };
    const check = await runCli(["check", "--format", "json", "--log-level", "debug"], env);
    expect(check.code).toBe(0);
    const explain = await runCli(["explain", "--no-dns", "POST", `https://localhost:${w.origin.port}/repos/acme/widgets/issues`], env);
    expect(explain.stdout).toContain(
      "via request inside an intercepted tunnel (POST /repos/acme/widgets/issues): ALLOW by mitm_hooks[0] (localhost); strips cookie; injects authorization (from env CNP_TEST_TOKEN); injects x-api-key (from file api.key)",
    );
    const shown = await runCli(["env", "--shell", "json"], env);
    expect(JSON.parse(shown.stdout)["CNP_TEST_TOKEN"]).toBe("codex-network-proxy-placeholder-CNP_TEST_TOKEN");
    const run = await runCli(["run", "--log-level", "debug", "--", "sh", "-c", 'echo "child sees $CNP_TEST_TOKEN"'], env);
    expect(run.stdout).toBe("child sees codex-network-proxy-placeholder-CNP_TEST_TOKEN\n");
    for (const text of [w.proxy.log, ...admin, check.stdout, check.stderr, explain.stdout, explain.stderr, shown.stdout, run.stdout, run.stderr]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(KEY);
    }
  });

  test("run: the child holds a placeholder, the origin gets the real token", async () => {
    const pki = await makeTestPki();
    using origin = new CountingTlsOrigin(await pki.issue(["localhost"]));
    const home = mkdtempSync(join(tmpdir(), "cnp-hooks-run-"));
    writeFileSync(join(home, "config.toml"), apiConfig(pki, "limited").replace(/\s*\{ name = "x-api-key".*\n/, "\n"));
    const r = await runCli(
      ["run", "--", "sh", "-c", `curl -sS -H "Authorization: Bearer $CNP_TEST_TOKEN" https://localhost:${origin.port}/repos/acme/widgets/x`],
      { CODEX_HOME: home, CNP_TEST_TOKEN: SECRET },
    );
    expect(r.stdout).toBe("TLS REACHED");
    expect(headerLines(origin.requests.at(-1)!.head, "authorization")).toEqual([`Bearer ${SECRET}`]);
  });
});

describe("upgrades to a hooked host", () => {
  test("only a hook that names the upgrade header lets one through, in limited mode too; the handshake carries the credential", async () => {
    const pki = await makeTestPki();
    const leaf = await pki.issue(["localhost"]);
    using origin = new CountingTlsOrigin(leaf, "ORIGIN OK", "127.0.0.1", (head) =>
      // The 101, then the end of the channel (so the client's read of it ends).
      /\r\nupgrade: websocket/i.test(head)
        ? { response: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", close: true }
        : null,
    );
    const hooks = (named: boolean) => `[network_proxy]
mode = "${named ? "limited" : "full"}"
[network_proxy.policy]
allowed_domains = ["localhost"]
[network_proxy.mitm]
enabled = true
upstream_ca_file = "${pki.caFile}"
[[network_proxy.mitm_hooks]]
host = "localhost"
match.methods = ["GET"]
match.path_prefixes = ["/ws"]
${named ? 'match.headers = { upgrade = ["websocket"] }' : ""}
actions.inject_request_headers = [{ name = "authorization", secret_env_var = "CNP_TEST_TOKEN", prefix = "Bearer " }]
`;
    const request = `GET /ws HTTP/1.1\r\nHost: localhost:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;
    for (const named of [true, false]) {
      await using proxy = await startProxy([], { configText: hooks(named), env: { CNP_TEST_TOKEN: SECRET } });
      const before = origin.requests.length;
      const r = await tlsThroughConnect({
        proxyPort: proxy.port,
        authority: `localhost:${origin.port}`,
        caPem: readFileSync(proxy.state.config.np.mitm.ca_cert_path, "utf8"),
        sni: "localhost",
        request,
      });
      if (named) {
        expect(r.status).toBe(101);
        expect(headerLines(origin.requests.at(-1)!.head, "authorization")).toEqual([`Bearer ${SECRET}`]);
      } else {
        // Full mode, and the hook allows GET /ws: but not an upgrade, which no hook would judge afterwards.
        expect(r.status).toBe(403);
        expect(r.headers["x-proxy-error"]).toBe("blocked-by-mitm-hook");
        expect(origin.requests.length).toBe(before);
      }
    }
  });
});
