import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenAddress, parseHostPort } from "../../src/config/addr.ts";
import { buildConfig, keepListeners, loadConfig, riskWarnings, type ConfigSource, type LoadResult } from "../../src/config/load.ts";
import { parseOverride } from "../../src/config/overrides.ts";
import { allKeys, validate } from "../../src/config/schema.ts";
import { suggest } from "../../src/config/suggest.ts";
import { effectiveView } from "../../src/config/view.ts";

const src = (overrides: string[] = [], path = "/cfg/config.toml"): ConfigSource => ({ path, exists: true, dir: "/cfg", overrides });

function ok(r: LoadResult) {
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}
function problems(r: LoadResult): readonly string[] {
  if (r.ok) throw new Error("expected problems");
  return r.problems;
}

describe("defaults (codex-behavior.md 1.2, plus ours)", () => {
  test("no file at all gives every default", () => {
    const c = ok(buildConfig(null, { ...src(), exists: false }));
    expect(c.np).toMatchObject({
      enabled: true,
      proxy_url: "http://127.0.0.1:3128",
      admin_url: "http://127.0.0.1:8080",
      socks_url: "http://127.0.0.1:8081",
      enable_socks5: true,
      mode: "full",
      dangerously_allow_non_loopback: false,
      dangerously_allow_non_loopback_admin: false,
      policy: { allowed_domains: [], denied_domains: [], allow_unix_sockets: [], allow_local_binding: false },
      mitm: {
        enabled: false,
        inspect: false,
        max_body_bytes: 4096,
        ca_cert_path: "/cfg/network_proxy/mitm/ca.pem",
        ca_key_path: "/cfg/network_proxy/mitm/ca.key",
      },
    });
    expect(c.listeners).toEqual({
      http: { host: "127.0.0.1", port: 3128 },
      socks: { host: "127.0.0.1", port: 8081 },
      admin: { host: "127.0.0.1", port: 8080 },
    });
    expect(c.warnings).toEqual([
      'network_proxy.policy.allowed_domains is empty: every request will be blocked; list the hosts clients may reach, e.g. allowed_domains = ["example.com", "*.example.com"]',
    ]);
  });

  test("the seed README example loads", () => {
    const text = `
[network_proxy]
enabled = true
proxy_url = "http://127.0.0.1:3128"
admin_url = "http://127.0.0.1:8080"
dangerously_allow_non_loopback = false
dangerously_allow_non_loopback_admin = false
mode = "limited" # or "full"

[network_proxy.policy]
allowed_domains = ["*.openai.com"]
denied_domains = ["evil.example"]
allow_local_binding = false
allow_unix_sockets = ["/tmp/example.sock"]

[network_proxy.mitm]
enabled = true
inspect = false
max_body_bytes = 4096
ca_cert_path = "network_proxy/mitm/ca.pem"
ca_key_path = "network_proxy/mitm/ca.key"
`;
    const c = ok(buildConfig(text, src()));
    expect(c.np.mode).toBe("limited");
    expect(c.policy.allow.size).toBe(1);
    expect(c.np.mitm.ca_key_path).toBe("/cfg/network_proxy/mitm/ca.key");
  });

  test("every schema key has a default and documentation", () => {
    for (const { key, spec } of allKeys()) {
      expect(spec.doc.length).toBeGreaterThan(10);
      expect(key.startsWith("network_proxy.")).toBe(true);
    }
  });
});

describe("errors are for humans, and all of them are reported at once", () => {
  test("TOML syntax error names file, line and column", () => {
    const p = problems(buildConfig("[network_proxy]\nmode = limited\n", src()));
    expect(p[0]).toStartWith("/cfg/config.toml:2:8: TOML syntax error: invalid value");
  });

  test("wrong types name the dotted key, what was expected and what was found", () => {
    const p = problems(
      buildConfig(
        `[network_proxy]
enabled = "yes"
mode = "FULL"
max_blocked_events = 0
[network_proxy.policy]
allowed_domains = "example.com"
denied_domains = ["ok.com", 42]
[network_proxy.limits]
connect_timeout_ms = 1.5
`,
        src(),
      ),
    );
    expect(p).toEqual([
      '/cfg/config.toml:2: network_proxy.enabled: expected a boolean (true or false), found a string ("yes")',
      '/cfg/config.toml:3: network_proxy.mode: expected one of "full", "limited", found "FULL"',
      "/cfg/config.toml:4: network_proxy.max_blocked_events: must be between 1 and 100000, found 0",
      '/cfg/config.toml:6: network_proxy.policy.allowed_domains: expected an array of strings, found a string ("example.com")',
      "/cfg/config.toml:7: network_proxy.policy.denied_domains[1]: expected a string, found an integer (42)",
      "/cfg/config.toml:9: network_proxy.limits.connect_timeout_ms: expected an integer, found a float (1.5)",
    ]);
  });

  test("unknown keys and tables under network_proxy are errors with their line and a did-you-mean", () => {
    const text = [
      "[other_table]", // another program's settings: left alone
      "x = 1",
      "[network_proxy]",
      'mod = "full"',
      "allowedDomains = []",
      "[network_proxy.policy]",
      "allowed_domain = []",
      "foo = 1",
      "[network_proxy.polcy]",
      "y = 2",
      "[network_proxy.mitm]",
      'enabled = true # "x = 1" in a comment',
      'note = """',
      "ca_cert_path = 1",
      '"""',
    ].join("\n");
    expect(problems(buildConfig(text, src()))).toEqual([
      "/cfg/config.toml:7: network_proxy.policy.allowed_domain: unknown key; did you mean network_proxy.policy.allowed_domains?",
      "/cfg/config.toml:8: network_proxy.policy.foo: unknown key",
      "/cfg/config.toml:13: network_proxy.mitm.note: unknown key",
      "/cfg/config.toml:4: network_proxy.mod: unknown key; did you mean network_proxy.mode?",
      "/cfg/config.toml:5: network_proxy.allowedDomains: unknown key; did you mean network_proxy.policy.allowed_domains?",
      "/cfg/config.toml:9: network_proxy.polcy: unknown table; did you mean network_proxy.policy?",
    ]);
  });

  test("a top-level table spelled almost like network_proxy is an error; other tables are not", () => {
    for (const name of ["network_prox", "networkProxy", "network-proxy", "netwrk_proxy"]) {
      expect(problems(buildConfig(`model = "m"\n[${name}]\nmode = "limited"\n`, src()))).toEqual([
        `/cfg/config.toml:2: ${name}: unknown table; did you mean [network_proxy]?`,
      ]);
    }
    ok(buildConfig('[mcp_servers.x]\ncommand = "y"\n[network]\na = 1\n[profiles.p]\nmodel = "m"\n', src()));
  });

  test("-c keys outside network_proxy are errors with a suggestion; -c problems name the -c", () => {
    expect(
      problems(
        buildConfig(null, src(["proxy_url=127.0.0.1:1", "network_prox.mode=limited", "network_proxy.limits.foo=1", "network_proxy.mode=fast", "zzz.qqq=1"])),
      ),
    ).toEqual([
      '-c "proxy_url=127.0.0.1:1": only network_proxy.* keys are read; did you mean network_proxy.proxy_url?',
      '-c "network_prox.mode=limited": only network_proxy.* keys are read; did you mean network_proxy.mode?',
      '-c "zzz.qqq=1": only network_proxy.* keys are read',
      '-c "network_proxy.mode=fast": network_proxy.mode: expected one of "full", "limited", found "fast"',
      '-c "network_proxy.limits.foo=1": network_proxy.limits.foo: unknown key',
    ]);
  });

  test("suggestions across naming styles", () => {
    expect(suggest("allowedDomains", ["allowed_domains", "denied_domains"])).toBe("allowed_domains");
    expect(suggest("zzz", ["allowed_domains"])).toBeUndefined();
  });

  test("risky settings warn once at load: an empty allowlist, unix sockets off macOS, no admin auth", () => {
    const risky = { ...ok(buildConfig(null, src())).np, dangerously_disable_admin_auth: true };
    const policy = { ...risky.policy, allow_unix_sockets: ["/tmp/s"] };
    expect(riskWarnings({ ...risky, policy }, "linux")).toEqual([
      expect.stringContaining("allowed_domains is empty: every request will be blocked"),
      "network_proxy.policy.allow_unix_sockets has no effect on linux: x-unix-socket works on macOS only, and such requests get 501 unix_sockets_unsupported",
      "network_proxy.dangerously_disable_admin_auth is true: anything that can reach the admin API can switch the mode and reload the config",
    ]);
    expect(riskWarnings({ ...risky, policy: { ...policy, allowed_domains: ["a.com"] }, dangerously_disable_admin_auth: false }, "darwin")).toEqual([]);
    expect(ok(buildConfig('[network_proxy.policy]\nallowed_domains = ["a.com"]\n', src())).warnings).toEqual([]);
  });

  test("a non-table network_proxy is an error", () => {
    expect(validate({ network_proxy: 3 }).problems[0]).toMatchObject({ severity: "error", key: "network_proxy" });
  });

  test("bad patterns, half-set SOCKS credentials and clashing ports are errors", () => {
    const p = problems(
      buildConfig(
        `[network_proxy]
admin_url = "127.0.0.1:3128"
[network_proxy.policy]
denied_domains = ["*"]
[network_proxy.socks5]
username = "u"
`,
        src(),
      ),
    );
    expect(p).toHaveLength(3);
    expect(p[0]).toContain("network_proxy.policy.denied_domains[0]");
    expect(p[1]).toContain("set both username and password");
    expect(p[2]).toContain("both listen on 127.0.0.1:3128");
  });
});

describe("the seed's key spelling and its alias", () => {
  test("dangerously_allow_non_loopback_proxy is accepted as an alias", () => {
    const c = ok(buildConfig('[network_proxy]\ndangerously_allow_non_loopback_proxy = true\nproxy_url = "0.0.0.0:3128"\n', src()));
    expect(c.np.dangerously_allow_non_loopback).toBe(true);
    expect(c.listeners.http).toEqual({ host: "0.0.0.0", port: 3128 });
    expect(c.warnings).toContain("DANGEROUS: HTTP proxy listening on non-loopback address 0.0.0.0:3128");
  });
  test("both spellings with different values is an error", () => {
    expect(problems(buildConfig("[network_proxy]\ndangerously_allow_non_loopback = true\ndangerously_allow_non_loopback_proxy = false\n", src()))[0]).toContain(
      "conflicts with",
    );
  });
});

describe("-c overrides (TOML value, else bare string)", () => {
  test.each([
    ['network_proxy.mode="limited"', ["network_proxy", "mode"], "limited"],
    ["network_proxy.mode=limited", ["network_proxy", "mode"], "limited"],
    ['network_proxy.policy.allowed_domains=["example.com"]', ["network_proxy", "policy", "allowed_domains"], ["example.com"]],
    ["network_proxy.limits.max_headers=50", ["network_proxy", "limits", "max_headers"], 50],
    ["network_proxy.enabled=false", ["network_proxy", "enabled"], false],
    ['a."b.c".d = x y', ["a", "b.c", "d"], "x y"],
  ] as const)("%s", (arg, path, value) => {
    expect(parseOverride(arg)).toMatchObject({ path: [...path], value });
  });

  test.each(["noequals", "=x", "a..b=1", "a.=1", 'a."b=1'])("%j is rejected", (arg) => {
    expect(() => parseOverride(arg)).toThrow();
  });

  test("overrides win over the file and create missing tables", () => {
    const c = ok(
      buildConfig(
        '[network_proxy]\nmode = "full"\n',
        src(["network_proxy.mode=limited", "network_proxy.mitm.enabled=true", 'network_proxy.policy.allowed_domains=["a.com"]']),
      ),
    );
    expect(c.np.mode).toBe("limited");
    expect(c.np.mitm.enabled).toBe(true);
    expect(c.np.policy.allowed_domains).toEqual(["a.com"]);
  });

  test("a bad override is reported", () => {
    expect(problems(buildConfig(null, src(["network_proxy.mode"])))[0]).toContain("expected KEY=VALUE");
    expect(problems(buildConfig(null, src(["network_proxy.mode=42"])))[0]).toContain("network_proxy.mode: expected one of");
  });
});

describe("listener addresses (codex-behavior.md 1.4)", () => {
  test.each([
    ["", 3128, "127.0.0.1", 3128],
    ["   ", 3128, "127.0.0.1", 3128],
    ["127.0.0.1:8080", 3128, "127.0.0.1", 8080],
    ["http://example.com:8080/some/path", 3128, "example.com", 8080],
    ["http://user:pass@host.example:5555", 3128, "host.example", 5555],
    ["http://[::1]:9999", 3128, "::1", 9999],
    ["2001:db8::1", 3128, "2001:db8::1", 3128],
    ["example.com:notaport", 3128, "example.com", 3128],
    ["localhost", 8080, "localhost", 8080],
  ])("parseHostPort(%j)", (input, def, host, port) => {
    expect(parseHostPort(input, def)).toEqual({ host, port });
  });

  const clamp = (url: string, allow: boolean, unix = false) =>
    listenAddress(
      { name: "HTTP proxy", url, key: "network_proxy.proxy_url", defaultPort: 3128, allowNonLoopback: allow, flagName: "dangerously_allow_non_loopback" },
      unix,
    );

  test("loopback is kept as is", () => {
    expect(clamp("127.0.0.2:1", false)).toEqual({ addr: { host: "127.0.0.2", port: 1 }, warnings: [] });
    expect(clamp("[::1]:1", false)).toEqual({ addr: { host: "::1", port: 1 }, warnings: [] });
    expect(clamp("localhost:7", false).addr).toEqual({ host: "127.0.0.1", port: 7 });
  });
  test("non-loopback is clamped to 127.0.0.1 with a warning naming the flag", () => {
    expect(clamp("0.0.0.0:3128", false)).toEqual({
      addr: { host: "127.0.0.1", port: 3128 },
      warnings: ["HTTP proxy requested non-loopback bind (0.0.0.0:3128); clamping to 127.0.0.1:3128 (set dangerously_allow_non_loopback to override)"],
    });
    expect(clamp("[::]:3128", false).addr).toEqual({ host: "127.0.0.1", port: 3128 });
  });
  test("names never resolve: they bind 127.0.0.1, with a warning", () => {
    const r = clamp("http://example.com:5555", false);
    expect(r.addr).toEqual({ host: "127.0.0.1", port: 5555 });
    expect(r.warnings[0]).toContain("never resolved");
  });
  test("unix sockets force loopback over the dangerous flag", () => {
    const r = clamp("0.0.0.0:3128", true, true);
    expect(r.addr).toEqual({ host: "127.0.0.1", port: 3128 });
    expect(r.warnings.at(-1)).toBe("unix socket proxying is enabled; ignoring dangerously_allow_non_loopback and clamping HTTP proxy to loopback");
    expect(clamp("[::1]:3128", false, true).addr).toEqual({ host: "127.0.0.1", port: 3128 });
  });
  test("allow_unix_sockets clamps all three listeners", () => {
    const c = ok(
      buildConfig(
        '[network_proxy]\nproxy_url="0.0.0.0:1"\nadmin_url="0.0.0.0:2"\nsocks_url="0.0.0.0:3"\ndangerously_allow_non_loopback=true\ndangerously_allow_non_loopback_admin=true\n[network_proxy.policy]\nallow_unix_sockets=["/tmp/x.sock"]\n',
        src(),
      ),
    );
    expect(c.listeners).toEqual({ http: { host: "127.0.0.1", port: 1 }, socks: { host: "127.0.0.1", port: 3 }, admin: { host: "127.0.0.1", port: 2 } });
  });
});

describe("loading from disk", () => {
  test("--config path, CODEX_HOME, and a missing file", () => {
    const dir = mkdtempSync(join(tmpdir(), "cnp-cfg-"));
    writeFileSync(
      join(dir, "config.toml"),
      '[network_proxy]\nmode = "limited"\n[network_proxy.mitm]\nca_cert_path = "certs/ca.pem"\nca_key_path = "/abs/ca.key"\n',
    );
    const viaHome = ok(loadConfig({ env: { CODEX_HOME: dir } }));
    expect(viaHome.np.mode).toBe("limited");
    const st = statSync(join(dir, "config.toml"), { bigint: true });
    // Written just now: the stamp is marked racy (config/stamp.ts).
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:racy`;
    expect(viaHome.source).toEqual({ path: join(dir, "config.toml"), exists: true, dir, overrides: [], stamp });
    expect(ok(loadConfig({ env: { CODEX_HOME: join(dir, "nowhere") } })).source.stamp).toBeNull();
    expect(viaHome.np.mitm.ca_cert_path).toBe(join(dir, "certs/ca.pem"));
    expect(viaHome.np.mitm.ca_key_path).toBe("/abs/ca.key");
    const viaFlag = ok(loadConfig({ configPath: join(dir, "config.toml"), env: {} }));
    expect(viaFlag.np.mode).toBe("limited");
    // The default path may be missing (defaults apply); a path the user named may not.
    const missing = ok(loadConfig({ env: { CODEX_HOME: join(dir, "empty") } }));
    expect(missing.source.exists).toBe(false);
    expect(missing.np.mode).toBe("full");
    const named = loadConfig({ configPath: join(dir, "nope.toml"), env: { CODEX_HOME: dir } });
    expect(named).toMatchObject({ ok: false, usage: true });
    expect(problems(named)).toEqual([
      `${join(dir, "nope.toml")}: no such config file (named by --config; leave --config out to use ${join(dir, "config.toml")})`,
    ]);
  });

  test("the effective view redacts secrets and shows clamped addresses and the runtime mode", () => {
    const c = ok(
      buildConfig('[network_proxy]\nadmin_token = "s3cret"\nproxy_url = "0.0.0.0:9"\n[network_proxy.socks5]\nusername = "u"\npassword = "p"\n', src()),
    );
    const v = effectiveView(c, "limited").network_proxy;
    expect(v["admin_token"]).toBe("[redacted]");
    expect((v["socks5"] as Record<string, string>)["password"]).toBe("[redacted]");
    expect(v["proxy_url"]).toBe("http://127.0.0.1:9");
    expect(v["mode"]).toBe("limited");
    expect(JSON.stringify(v)).not.toContain("s3cret");
  });

  test("the loaded config is immutable", () => {
    const c = ok(buildConfig(null, src()));
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.np)).toBe(true);
    expect(Object.isFrozen(c.np.policy)).toBe(true);
    expect(Object.isFrozen(c.np.policy.allowed_domains)).toBe(true);
    for (const o of [
      c.np.mitm,
      c.np.limits,
      c.np.socks5,
      c.listeners,
      c.listeners.http,
      c.listeners.socks,
      c.listeners.admin,
      c.source,
      c.source.overrides,
      c.warnings,
    ]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
  });

  test("a malformed -c override is reported with every other problem", () => {
    const r = problems(buildConfig('[network_proxy]\nmode = "x"\n', src(["noequals", "network_proxy.enabled=3"])));
    expect(r.some((p) => p.includes("noequals"))).toBe(true);
    expect(r.some((p) => p.includes("network_proxy.mode"))).toBe(true);
    expect(r.some((p) => p.includes("network_proxy.enabled"))).toBe(true);
  });

  test("a reload keeps the running listeners and says a changed address needs a restart", () => {
    const prev = ok(buildConfig('[network_proxy]\nproxy_url = "127.0.0.1:39128"\n', src()));
    const next = ok(buildConfig('[network_proxy]\nproxy_url = "127.0.0.1:39999"\nenable_socks5 = false\nmode = "limited"\n', src()));
    const { config, notes } = keepListeners(prev, next);
    expect(config.listeners).toBe(prev.listeners);
    expect(effectiveView(config).network_proxy["proxy_url"]).toBe("http://127.0.0.1:39128");
    expect(config.np.enable_socks5).toBe(true);
    expect(config.np.mode).toBe("limited"); // everything else comes from the new file
    expect(Object.isFrozen(config) && Object.isFrozen(config.np)).toBe(true);
    expect(notes).toEqual([
      "proxy_url 127.0.0.1:39128 -> 127.0.0.1:39999 takes effect at the next restart (still listening on 127.0.0.1:39128)",
      "socks_url 127.0.0.1:8081 -> off takes effect at the next restart (still listening on 127.0.0.1:8081)",
    ]);
    const same = ok(buildConfig('[network_proxy]\nproxy_url = "127.0.0.1:39128"\nmode = "limited"\n', src()));
    expect(keepListeners(prev, same)).toEqual({ config: same, notes: [] });
  });
});
