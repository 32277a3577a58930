/**
 * The tools agents use, driven through `codex-network-proxy run -- ...` (so `env` and `run` are
 * exercised too), against loopback origins: each must work for an allowed target and fail with
 * the proxy's 403 for a blocked one. The commands are README's snippets (checked to be there),
 * with example.com replaced by the loopback origin.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, ProxyProcess, runCli } from "../helpers/cli.ts";
import { FULL, home, limitedMitm, origins, README, runArgs, snippet, trustOrigin } from "../helpers/clients.ts";
import { GitOrigin, makeRepo } from "../helpers/git.ts";
import { freePort } from "../helpers/ops.ts";
import { NPM_PACKAGE, PackageOrigin, PY_PACKAGE } from "../helpers/packages.ts";
import { makeTestPki, type TestPki } from "../../scripts/lib/pki.ts";

describe("run", () => {
  test("passes the exit status through and prints a one-line summary of blocks", async () => {
    const r = await runCli(
      ["run", "-c", 'network_proxy.policy.allowed_domains=["example.com"]', "--", "sh", "-c", "curl -s -o /dev/null http://blocked.invalid/; exit 7"],
      { CODEX_HOME: home() },
    );
    expect(r.code).toBe(7);
    expect(r.stderr.trim().split("\n").at(-1)).toBe("codex-network-proxy: 1 request blocked: 1 not_allowed (blocked.invalid)");
  });

  test("the summary brackets IPv6 targets, as explain does", async () => {
    const r = await runCli(
      [
        "run",
        "-c",
        'network_proxy.policy.allowed_domains=["example.com"]',
        "--",
        "sh",
        "-c",
        "curl -s -o /dev/null http://[::1]:18006/; curl -s -o /dev/null http://[::1]/",
      ],
      { CODEX_HOME: home() },
    );
    expect(r.stderr.trim().split("\n").at(-1)).toBe("codex-network-proxy: 2 requests blocked: 2 not_allowed_local ([::1]:18006, [::1])");
  });

  test("CODEX_NETWORK_PROXY_ADMIN_URL can be read through the proxy (GET /health, /blocked, /metrics only); nothing else", async () => {
    const reads = [
      'curl -sS "$CODEX_NETWORK_PROXY_ADMIN_URL/health"; echo',
      "curl -s -o /dev/null http://blocked.invalid/",
      'curl -sS "$CODEX_NETWORK_PROXY_ADMIN_URL/blocked?since=0"; echo',
      'curl -sS -I "$CODEX_NETWORK_PROXY_ADMIN_URL/metrics" | head -1',
      "python3 -c \"import os, requests; r = requests.get(os.environ['CODEX_NETWORK_PROXY_ADMIN_URL'] + '/metrics'); print(r.status_code, 'cnp_blocks_total' in r.text)\"",
    ];
    const ok = await runCli(["run", "-c", 'network_proxy.policy.allowed_domains=["example.com"]', "--", "sh", "-c", reads.join("; ")], { CODEX_HOME: home() });
    const [health, blocked, head, viaPython] = ok.stdout.trim().split("\n");
    expect(health).toBe("ok");
    expect(JSON.parse(blocked!).blocked.map((e: { host: string; reason: string }) => [e.host, e.reason])).toEqual([["blocked.invalid", "not_allowed"]]);
    expect(head!.trim()).toBe("HTTP/1.1 200 OK");
    expect(viaPython).toBe("200 True");
    // Only the real block is in the summary: the reads are not blocks.
    expect(ok.stderr.trim().split("\n").at(-1)).toBe("codex-network-proxy: 1 request blocked: 1 not_allowed (blocked.invalid)");

    const writes = [
      'curl -s -o /dev/null -w "%{http_code}\\n" -X POST -d \'{"mode":"full"}\' "$CODEX_NETWORK_PROXY_ADMIN_URL/mode"',
      'curl -s -o /dev/null -w "%{http_code}\\n" "$CODEX_NETWORK_PROXY_ADMIN_URL/blocked?drain=1"',
      'curl -s -o /dev/null -w "%{http_code}\\n" "$CODEX_NETWORK_PROXY_ADMIN_URL/config"',
      'curl -s -o /dev/null -w "%{http_code}\\n" -x "" "$CODEX_NETWORK_PROXY_ADMIN_URL/blocked?drain=1"',
      'curl -s -w "\\n" "$CODEX_NETWORK_PROXY_ADMIN_URL/reload" -X POST',
      'curl -s -x "" -X POST "$CODEX_NETWORK_PROXY_ADMIN_URL/reload"',
    ];
    const no = await runCli(["run", "-c", 'network_proxy.policy.allowed_domains=["example.com"]', "--", "sh", "-c", writes.join("; ")], { CODEX_HOME: home() });
    const lines = no.stdout.trim().split("\n");
    // Through the proxy: refused as the proxy's own listener. Directly: the token lives only in
    // the proxy's memory, so the child cannot drain the audit trail or reload either.
    expect(lines.slice(0, 4)).toEqual(["403", "403", "403", "401"]);
    expect(JSON.parse(lines[4]!)).toMatchObject({ status: "blocked", reason: "own_listener" });
    expect(JSON.parse(lines[4]!).hint).toBeUndefined();
    expect(JSON.parse(lines[5]!).error).toBe(
      "missing or wrong bearer token; send Authorization: Bearer <token>, the token exists only in the memory of this proxy, which `run` started: nothing else can change it",
    );
    expect(no.stderr.trim().split("\n").at(-1)).toMatch(/^codex-network-proxy: 4 requests blocked: 4 own_listener \(127\.0\.0\.1:\d+\)$/);
  });

  test("forwards signals to the command and reports its death by signal", async () => {
    await using p = new CliProcess(["run", "--log-level", "info", "--", "sh", "-c", "trap 'exit 42' TERM; echo ready >&2; while :; do sleep 0.05; done"], {
      CODEX_HOME: home(),
    });
    await p.waitFor(/ready/);
    p.proc.kill("SIGTERM");
    expect(await p.proc.exited).toBe(42);
    await using q = new CliProcess(["run", "--", "sh", "-c", "echo ready >&2; exec sleep 30"], { CODEX_HOME: home() });
    await q.waitFor(/ready/);
    q.proc.kill("SIGINT");
    expect(await q.proc.exited).toBe(130);
  });

  test("the command cannot use the admin API to lift the policy: the token lives only in memory", async () => {
    using o = await origins();
    const h = home();
    // Even the token configured in the file (which the command could read) does not work.
    const post = `curl -s -o /dev/null -w '%{http_code}' --noproxy '*' -X POST -H 'Authorization: Bearer known' -d '{"mode":"full"}' "$CODEX_NETWORK_PROXY_ADMIN_URL/mode"`;
    const write = `curl -s -X POST -d x http://localhost:${o.http.port}/echo`;
    const r = await runCli(
      [
        "run",
        "-c",
        'network_proxy.admin_token="known"',
        "-c",
        "network_proxy.mode=limited",
        ...FULL.flatMap((c) => ["-c", c]),
        "--",
        "sh",
        "-c",
        `${post}; echo; ${write}`,
      ],
      { CODEX_HOME: h },
    );
    const [status, body] = r.stdout.split("\n");
    expect(status).toBe("401");
    expect(JSON.parse(body!)).toMatchObject({ status: "blocked", reason: "method_not_allowed" });
    expect(existsSync(join(h, "network_proxy", "admin.token"))).toBe(false);
  });

  test("a command that cannot be started exits 127", async () => {
    const r = await runCli(["run", "--", "/nonexistent/tool"], { CODEX_HOME: home() });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('cannot run "/nonexistent/tool"');
  });

  test('on_unlisted = "ask" is refused (exit 2, the command never runs): nobody could answer a private proxy', async () => {
    const marker = join(home(), "ran");
    const r = await runCli(["run", "-c", 'network_proxy.policy.on_unlisted="ask"', "--", "touch", marker], { CODEX_HOME: home() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy.on_unlisted = "ask" needs someone to answer on the admin API');
    expect(existsSync(marker)).toBe(false);
  });

  test("the README one-liner's shape works", async () => {
    using o = await origins();
    const cmd = snippet(`codex-network-proxy run -c 'network_proxy.policy.allowed_domains=["example.com"]' -- curl https://example.com/`, "");
    expect(cmd).toContain("-- curl");
    const r = await runCli(
      ["run", "-c", 'network_proxy.policy.allowed_domains=["localhost"]', "--", "curl", "-sS", `https://localhost:${o.https.port}/one-liner`],
      trustOrigin(o.pki),
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: "/one-liner" });
  });
});

describe("env", () => {
  test("every shell syntax; NO_PROXY empty with the reason; the CA bundle is content-addressed and 0644", async () => {
    const h = home();
    const sh = await runCli(["env", "-c", "network_proxy.mitm.enabled=true"], { CODEX_HOME: h });
    expect(sh.code).toBe(0);
    expect(sh.stdout).toContain("export HTTP_PROXY='http://127.0.0.1:3128'");
    expect(sh.stdout).toContain("export ALL_PROXY='socks5h://127.0.0.1:8081'");
    expect(sh.stdout).toMatch(/# empty on purpose: .*\nexport NO_PROXY=''/);
    const bash = Bun.spawnSync(["bash", "-c", 'eval "$1"; printf "%s|%s|%s" "$HTTPS_PROXY" "$NO_PROXY" "$SSL_CERT_FILE"', "_", sh.stdout]);
    const [https, noProxy, bundle] = bash.stdout.toString().split("|");
    expect([https, noProxy]).toEqual(["http://127.0.0.1:3128", ""]);
    expect(bundle).toMatch(/\/network_proxy\/mitm\/ca-bundle-[0-9a-f]{16}\.pem$/);
    expect(statSync(bundle!).mode & 0o777).toBe(0o644);
    const text = readFileSync(bundle!, "utf8");
    expect(text).toContain(readFileSync(join(h, "network_proxy/mitm/ca.pem"), "utf8").trim());
    expect(text.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(50);
    const again = await runCli(["env", "--shell", "json", "-c", "network_proxy.mitm.enabled=true"], { CODEX_HOME: h });
    const json = JSON.parse(again.stdout);
    expect(json["SSL_CERT_FILE"]).toBe(bundle);
    for (const k of [
      "REQUESTS_CA_BUNDLE",
      "CURL_CA_BUNDLE",
      "NODE_EXTRA_CA_CERTS",
      "GIT_SSL_CAINFO",
      "PIP_CERT",
      "npm_config_cafile",
      "CARGO_HTTP_CAINFO",
      "DENO_CERT",
    ])
      expect(json[k]).toBe(bundle);
    for (const k of [
      "WS_PROXY",
      "WSS_PROXY",
      "http_proxy",
      "https_proxy",
      "all_proxy",
      "npm_config_proxy",
      "npm_config_https_proxy",
      "YARN_HTTP_PROXY",
      "YARN_HTTPS_PROXY",
      "PIP_PROXY",
    ])
      expect(json[k]).toBeTruthy();
    expect(json["NODE_USE_ENV_PROXY"]).toBe("1");
    const plain = await runCli(["env", "--shell", "sh"], { CODEX_HOME: h });
    expect(plain.stdout).toContain("export HTTP_PROXY='http://127.0.0.1:3128'");
    for (const alias of ["bash", "zsh"]) expect((await runCli(["env", "--shell", alias], { CODEX_HOME: h })).stdout).toBe(plain.stdout);
    const bad = await runCli(["env", "--shell", "csh"], { CODEX_HOME: h });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--shell must be sh (or bash, zsh), fish, powershell or json, not "csh"');
    const fish = await runCli(["env", "--shell", "fish", "-c", "network_proxy.enable_socks5=false"], { CODEX_HOME: h });
    expect(fish.stdout).toContain("set -gx ALL_PROXY 'http://127.0.0.1:3128'");
    expect(fish.stdout).not.toContain("SSL_CERT_FILE");
    const ps = await runCli(["env", "--shell", "powershell"], { CODEX_HOME: h });
    expect(ps.stdout).toContain("$env:HTTP_PROXY = 'http://127.0.0.1:3128'");
  });

  test('eval "$(env)" again and again in one shell: the same bundle, whatever the CA variables already say', async () => {
    const h = home();
    const bundleOf = async (env: Record<string, string>) => {
      const r = await runCli(["env", "--shell", "json", "-c", "network_proxy.mitm.enabled=true"], { CODEX_HOME: h, ...env });
      const path = (JSON.parse(r.stdout) as Record<string, string>)["SSL_CERT_FILE"]!;
      return { path, text: readFileSync(path, "utf8") };
    };
    const first = await bundleOf({});
    // Our CA is in it exactly once.
    const ca = readFileSync(join(h, "network_proxy/mitm/ca.pem"), "utf8").trim().split("\n").slice(1, -1).join("");
    expect(first.text.replace(/\n/g, "").split(ca).length - 1).toBe(1);
    // As after `eval "$(codex-network-proxy env)"`: every CA variable points at the bundle itself.
    let prev = first;
    for (let i = 0; i < 3; i++) {
      const vars = Object.fromEntries(
        ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"].map((k) => [k, prev.path]),
      );
      const next = await bundleOf(vars);
      expect(next).toEqual(first);
      prev = next;
    }
    // And a variable pointing at some other single certificate changes nothing either.
    const other = join(h, "other.pem");
    writeFileSync(other, readFileSync(join(h, "network_proxy/mitm/ca.pem"), "utf8"));
    expect(await bundleOf({ SSL_CERT_FILE: other, NODE_EXTRA_CA_CERTS: other, SSL_CERT_DIR: "/nonexistent" })).toEqual(first);
  });
});

describe("env against a running proxy", () => {
  test('eval "$(codex-network-proxy env)" points curl at the proxy the config describes', async () => {
    using o = await origins();
    // Free loopback ports for a long-running proxy started like a user would.
    const ports = [freePort(), freePort(), freePort()];
    const h = home();
    const settings = [
      `network_proxy.proxy_url="127.0.0.1:${ports[0]}"`,
      `network_proxy.socks_url="127.0.0.1:${ports[1]}"`,
      `network_proxy.admin_url="127.0.0.1:${ports[2]}"`,
      "network_proxy.mode=limited",
      "network_proxy.mitm.enabled=true",
      `network_proxy.mitm.upstream_ca_file="${o.pki.caFile}"`,
      ...FULL,
    ];
    await using proxy = await ProxyProcess.start({ config: settings, env: { CODEX_HOME: h } });
    expect(proxy.http).toBe(ports[0]!);
    const env = await runCli(["env", ...settings.flatMap((c) => ["-c", c])], { CODEX_HOME: h });
    expect(env.code).toBe(0);
    const base = `https://localhost:${o.https.port}`;
    const sh = Bun.spawn(["sh", "-c", `eval "$1"; curl -sS ${base}/via-env; echo; curl -s -X POST -d x ${base}/w | head -1`, "_", env.stdout], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: h },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = await new Response(sh.stdout).text();
    const [get, post] = out.trim().split("\n");
    expect(JSON.parse(get!)).toMatchObject({ tls: true, method: "GET", path: "/via-env" });
    expect(post).toBe("Codex blocked this request: method not allowed in limited mode.");
  });
});

describe("curl", () => {
  test("plain HTTP, HTTPS via CONNECT and via SOCKS5h in full mode; blocked targets get 403", async () => {
    using o = await origins();
    const base = `https://localhost:${o.https.port}`;
    const cmds = [
      `${snippet("curl https://example.com/", base)} && echo`,
      `${snippet('curl --proxy "$ALL_PROXY" https://example.com/', base)} && echo`,
      `curl -s http://localhost:${o.http.port}/echo`,
    ].join(" && ");
    const ok = await runCli(runArgs(FULL, cmds), trustOrigin(o.pki));
    expect(ok.code).toBe(0);
    expect(ok.stdout.match(/"tls":true/g)?.length).toBe(2);
    expect(ok.stdout).toContain('"path":"/echo"');
    const blocked = await runCli(
      runArgs(
        FULL,
        'curl -sS https://blocked.invalid/; echo curl=$?; curl -s http://blocked.invalid/; echo; curl -sS --proxy "$ALL_PROXY" https://socks.blocked.invalid/; echo curl=$?; curl -sv -o /dev/null http://plain.blocked.invalid/ 2>&1 | grep "< HTTP/" >&2',
      ),
      trustOrigin(o.pki),
    );
    const [tunnel, plain, socks] = blocked.stdout.trim().split("\n");
    expect(tunnel).toBe("curl=56");
    expect(blocked.stderr).toContain("CONNECT tunnel failed, response 403");
    // curl -v shows the status line, and its reason phrase names the target and the reason.
    expect(blocked.stderr).toContain("< HTTP/1.1 403 Blocked by codex-network-proxy: plain.blocked.invalid:80 not_allowed");
    expect(JSON.parse(plain!)).toMatchObject({ status: "blocked", reason: "not_allowed", host: "blocked.invalid" });
    // SOCKS5 has no status line: the block is reply 0x02, "connection not allowed by ruleset".
    expect(socks).toBe("curl=97");
    expect(blocked.stderr).toContain("Can't complete SOCKS5 connection to socks.blocked.invalid. (2)");
    expect(blocked.stderr).toContain("4 requests blocked: 4 not_allowed");
  });

  test("HTTPS through MITM in limited mode with the env's CA bundle; writes refused with the explanation", async () => {
    using o = await origins();
    const base = `https://localhost:${o.https.port}`;
    const r = await runCli(runArgs(limitedMitm(o.pki), `${snippet("curl https://example.com/", base)} && echo && curl -s -X POST -d x ${base}/w`), {
      CODEX_HOME: home(),
    });
    expect(r.code).toBe(0);
    const [get, post] = r.stdout.split("\n");
    expect(JSON.parse(get!)).toMatchObject({ tls: true, method: "GET" });
    expect(post).toBe("Codex blocked this request: method not allowed in limited mode.");
    expect(r.stdout).toContain("Why: method POST is not allowed in limited mode (only GET, HEAD, OPTIONS)");
    expect(r.stderr).toContain("1 request blocked: 1 method_not_allowed (localhost:");
  });
});

describe("git", () => {
  test("clone over smart HTTP (full mode); a blocked host fails with 403", async () => {
    using g = new GitOrigin();
    makeRepo(g.root, "repo", "hello from smart http\n");
    const dest = join(home(), "clone");
    const base = `http://localhost:${g.port}`;
    const cmd = `${snippet("git clone https://example.com/owner/repo.git", base).replace("/owner/repo.git", "/repo.git")} ${dest} 2>&1`;
    const r = await runCli(runArgs(FULL, cmd), { CODEX_HOME: home(), GIT_CONFIG_NOSYSTEM: "1", HOME: home() });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dest, "README.md"), "utf8")).toBe("hello from smart http\n");
    expect(g.methods).toContain("POST");
    const blocked = await runCli(runArgs(FULL, `git clone http://git.blocked.invalid/repo.git ${join(home(), "x")} 2>&1; echo git=$?`), {
      CODEX_HOME: home(),
      HOME: home(),
    });
    expect(blocked.stdout).toContain("403");
    expect(blocked.stdout).toContain("git=128");
  });

  test("clone over HTTPS through MITM in limited mode: the dumb protocol works, the smart one is refused", async () => {
    const pki = await makeTestPki();
    using g = new GitOrigin(await pki.issue(["localhost"]));
    makeRepo(g.root, "dumb", "read-only clone\n", { dumbOnly: true });
    makeRepo(g.root, "smart", "needs POST\n");
    const dest = join(home(), "dumb");
    const ok = await runCli(runArgs(limitedMitm(pki), `git clone https://localhost:${g.port}/dumb.git ${dest} 2>&1`), { CODEX_HOME: home(), HOME: home() });
    expect(ok.stderr).toContain("codex-network-proxy: no requests blocked");
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dest, "README.md"), "utf8")).toBe("read-only clone\n");
    expect(g.methods.every((m) => m === "GET")).toBe(true);
    const smart = await runCli(runArgs(limitedMitm(pki), `git clone https://localhost:${g.port}/smart.git ${join(home(), "s")} 2>&1; echo git=$?`), {
      CODEX_HOME: home(),
      HOME: home(),
    });
    expect(smart.stdout).toContain("git=128");
    expect(smart.stderr).toContain("1 method_not_allowed (localhost:");
    const blocked = await runCli(runArgs(limitedMitm(pki), `git clone https://git.blocked.invalid/repo.git ${join(home(), "b")} 2>&1; echo git=$?`), {
      CODEX_HOME: home(),
      HOME: home(),
      GIT_CURL_VERBOSE: "1",
    });
    expect(blocked.stdout).toContain("CONNECT tunnel failed, response 403");
    expect(blocked.stdout).toContain("<= Recv header: HTTP/1.1 403 Blocked by codex-network-proxy: git.blocked.invalid:443 not_allowed");
    expect(blocked.stdout).toContain("git=128");
    expect(blocked.stderr).toContain("1 request blocked: 1 not_allowed (git.blocked.invalid)");
  });
});

describe("Python requests and urllib", () => {
  const py = (base: string) =>
    [
      snippet('import requests; requests.get("https://example.com/")', base).replace("requests.get(", "print(requests.get(").replace('/")', '/").text)'),
      snippet('import urllib.request; urllib.request.urlopen("https://example.com/")', base)
        .replace("urllib.request.urlopen(", "print(urllib.request.urlopen(")
        .replace('/")', '/").read().decode())'),
    ].join("\n");

  test("full mode (CONNECT) and limited mode (MITM, CA bundle from env); blocked hosts raise with 403", async () => {
    using o = await origins();
    const base = `https://localhost:${o.https.port}`;
    for (const [config, env] of [
      [FULL, trustOrigin(o.pki)],
      [limitedMitm(o.pki), { CODEX_HOME: home() }],
    ] as const) {
      const r = await runCli(["run", ...config.flatMap((c) => ["-c", c]), "--", "python3", "-c", py(base)], env);
      expect(r.stderr.split("\n").filter((l) => l.includes("Traceback"))).toEqual([]);
      expect(r.stdout.match(/"tls":true/g)?.length).toBe(2);
      const blocked = await runCli(
        [
          "run",
          ...config.flatMap((c) => ["-c", c]),
          "--",
          "python3",
          "-c",
          "import requests, urllib.request\nfor get in (requests.get, urllib.request.urlopen):\n try:\n  get('https://blocked.invalid/')\n except Exception as e: print(type(e).__name__, e)",
        ],
        env,
      );
      const [viaRequests, viaUrllib] = blocked.stdout.trim().split("\n");
      expect(viaRequests).toContain("ProxyError");
      // Python prints the status line's reason phrase: it says who refused what, and why.
      expect(viaRequests).toContain("Tunnel connection failed: 403 Blocked by codex-network-proxy: blocked.invalid:443 not_allowed");
      expect(viaUrllib).toBe("URLError <urlopen error Tunnel connection failed: 403 Blocked by codex-network-proxy: blocked.invalid:443 not_allowed>");
    }
  });
});

describe("pip and npm", () => {
  /** Full mode (CONNECT, the origin's CA trusted directly) and limited mode (MITM, the bundle from `env`). */
  const modes = (pki: TestPki) =>
    [
      ["full", FULL, trustOrigin(pki)],
      ["limited", limitedMitm(pki), { CODEX_HOME: home() }],
    ] as const;

  test("pip installs from an index through the proxy in both modes; a blocked index fails with 403", async () => {
    const pki = await makeTestPki();
    using o = new PackageOrigin(await pki.issue(["localhost"]));
    // Nothing from the user's or the machine's pip set-up: no config file, no local wheels, no cache.
    const quiet = { PIP_CONFIG_FILE: "/dev/null", PIP_FIND_LINKS: "", PIP_NO_CACHE_DIR: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" };
    for (const [mode, config, env] of modes(pki)) {
      const target = join(home(), "site");
      const install = snippet("pip install --index-url https://example.com/simple/ PACKAGE", `https://localhost:${o.port}`).replace("PACKAGE", PY_PACKAGE);
      const r = await runCli(runArgs(config, `${install} --target ${target} 2>&1`), { ...env, ...quiet });
      expect({ mode, code: r.code, blocks: r.stderr.trim().split("\n").at(-1) }).toEqual({ mode, code: 0, blocks: "codex-network-proxy: no requests blocked" });
      expect(readFileSync(join(target, PY_PACKAGE, "__init__.py"), "utf8")).toContain("hello from the pip origin");
      const blocked = await runCli(
        runArgs(config, `pip download --retries 1 -d ${home()} --index-url https://pypi.blocked.invalid/simple/ ${PY_PACKAGE} 2>&1; echo pip=$?`),
        { ...env, ...quiet },
      );
      expect(blocked.stdout).toContain("Tunnel connection failed: 403 Blocked by codex-network-proxy: pypi.blocked.invalid:443 not_allowed");
      expect(blocked.stdout).toContain("pip=1");
      // pip names the 403 only when it retries; with --retries 0 it just finds no distribution.
      expect(blocked.stderr).toContain("2 requests blocked: 2 not_allowed (pypi.blocked.invalid)");
    }
    expect(o.requests.toSorted()).toEqual(
      [`GET /simple/${PY_PACKAGE.replace("_", "-")}/`, `GET /files/${PY_PACKAGE}-1.0-py3-none-any.whl`].flatMap((r) => [r, r]).sort(),
    );
  });

  test("npm installs from a registry through the proxy in both modes; limited mode refuses only the audit POST", async () => {
    const pki = await makeTestPki();
    using o = new PackageOrigin(await pki.issue(["localhost"]));
    for (const [mode, config, env] of modes(pki)) {
      const h = home();
      writeFileSync(join(h, "package.json"), "{}");
      writeFileSync(join(h, "npmrc"), "");
      // A fresh cache and no user config (this machine's sets cafile, audit=false, and more).
      const npmEnv = {
        ...env,
        npm_config_userconfig: join(h, "npmrc"),
        npm_config_cache: join(h, "cache"),
        npm_config_update_notifier: "false",
        npm_config_fund: "false",
      };
      const install = snippet("npm install --registry https://example.com/ PACKAGE", `https://localhost:${o.port}`).replace("PACKAGE", NPM_PACKAGE);
      const r = await runCli(runArgs(config, `cd ${h} && ${install} 2>&1`), npmEnv);
      expect({ mode, code: r.code }).toEqual({ mode, code: 0 });
      expect(readFileSync(join(h, "node_modules", NPM_PACKAGE, "index.js"), "utf8")).toContain("hello from the npm origin");
      // npm audits by default: a POST, which limited mode refuses while the install goes on.
      expect({ mode, blocks: r.stderr.trim().split("\n").at(-1) }).toEqual({
        mode,
        blocks:
          mode === "limited"
            ? `codex-network-proxy: 1 request blocked: 1 method_not_allowed (localhost:${o.port})`
            : "codex-network-proxy: no requests blocked",
      });
      const blocked = await runCli(
        runArgs(config, `cd ${h} && npm view ${NPM_PACKAGE} --registry https://registry.blocked.invalid/ 2>&1; echo npm=$?`),
        npmEnv,
      );
      expect(blocked.stdout).toContain("npm error code E403");
      expect(blocked.stdout).toContain("npm=1");
      expect(blocked.stderr).toContain("1 request blocked: 1 not_allowed (registry.blocked.invalid)");
    }
    // The audit POST reached the origin in full mode only (it answers 405, which npm shrugs off).
    expect(o.requests.filter((r) => r.startsWith("POST"))).toEqual(["POST /-/npm/v1/security/advisories/bulk"]);
    expect(o.requests.filter((r) => r.startsWith("GET")).sort()).toEqual(
      [`GET /${NPM_PACKAGE}`, `GET /${NPM_PACKAGE}/-/${NPM_PACKAGE}-1.0.0.tgz`].flatMap((r) => [r, r]).sort(),
    );
  });
});

const GO_PROGRAM = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Each argument is "METHOD URL"; prints the status and body, or the error.
func main() {
	for _, arg := range os.Args[1:] {
		method, url, _ := strings.Cut(arg, " ")
		var resp *http.Response
		var err error
		if method == "GET" {
			${'resp, err := http.Get("https://example.com/")'}
		} else {
			resp, err = http.Post(url, "text/plain", strings.NewReader("x"))
		}
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.ReplaceAll(strings.TrimSpace(string(body)), "\\n", " | "))
	}
}
`;

describe.skipIf(!Bun.which("go"))("Go net/http", () => {
  test("the default transport in full mode (CONNECT) and limited mode (MITM, SSL_CERT_FILE from env); blocks are 403", async () => {
    const pki = await makeTestPki();
    // Go bypasses the proxy for "localhost" and loopback IPs, so the origin is named app.localhost.
    const leaf = await pki.issue(["app.localhost"]);
    using https = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: leaf, fetch: (req) => Response.json({ tls: true, method: req.method }) });
    const dir = home();
    expect(README).toContain('resp, err := http.Get("https://example.com/")');
    writeFileSync(join(dir, "main.go"), GO_PROGRAM.replace('resp, err := http.Get("https://example.com/")', "resp, err = http.Get(url)"));
    const build = Bun.spawnSync(["go", "build", "-o", join(dir, "get"), join(dir, "main.go")], {
      cwd: dir,
      env: { ...process.env, GO111MODULE: "off", GOCACHE: join(dir, "cache"), GOPATH: join(dir, "gopath") },
    });
    expect(build.stderr.toString()).toBe("");
    const base = `https://app.localhost:${https.port}/`;
    const config = ['network_proxy.policy.allowed_domains=["app.localhost"]'];
    const limited = [...config, "network_proxy.mode=limited", "network_proxy.mitm.enabled=true", `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`];
    for (const [mode, cfg, env] of [
      ["full", config, trustOrigin(pki)],
      ["limited", limited, { CODEX_HOME: home() }],
    ] as const) {
      const r = await runCli(
        [
          "run",
          ...cfg.flatMap((c) => ["-c", c]),
          "--",
          join(dir, "get"),
          `GET ${base}`,
          `POST ${base}`,
          "GET http://blocked.invalid/",
          "GET https://blocked.invalid/",
        ],
        env,
      );
      const [get, post, plain, tunnel] = r.stdout.trim().split("\n");
      expect({ mode, get }).toEqual({ mode, get: '200 {"tls":true,"method":"GET"}' });
      expect({ mode, post }).toEqual({
        mode,
        post:
          mode === "full" ? '200 {"tls":true,"method":"POST"}' : expect.stringContaining("403 Codex blocked this request: method not allowed in limited mode."),
      });
      expect(plain).toStartWith('403 {"status":"blocked","host":"blocked.invalid","reason":"not_allowed"');
      // Go prints the status line's reason phrase.
      expect(tunnel).toBe('error: Get "https://blocked.invalid/": Blocked by codex-network-proxy: blocked.invalid:443 not_allowed');
    }
  });
});
