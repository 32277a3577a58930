import { describe, expect, test } from "bun:test";
import { buildConfig, type ConfigSource, type LoadResult, type SecretIo } from "../../src/config/load.ts";
import { effectiveView } from "../../src/config/view.ts";
import { parseNoProxy, upstreamFor } from "../../src/policy/route.ts";
import type { Target } from "../../src/policy/target.ts";

const src: ConfigSource = { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] };
const PW = "hunter2-0123456789";

function load(text: string, env: Record<string, string> = {}, mode = 0o600, files: Record<string, string> = {}): LoadResult {
  const io: SecretIo = {
    env,
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return files[p]!;
    },
    fileMode: () => mode,
  };
  return buildConfig(text, src, io);
}
const ok = (r: LoadResult) => {
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
};
const bad = (r: LoadResult) => {
  if (r.ok) throw new Error("expected problems");
  return r.problems;
};
const t = (host: string, port = 443): Target => ({ kind: /^\d/.test(host) ? "ipv4" : "domain", host, port });

describe("upstream proxy config", () => {
  test("an explicit url: both routes; credentials from password_env; no_proxy and loopback go directly", () => {
    const c = ok(
      load('[network_proxy.upstream]\nurl = "http://alice@proxy.corp:3128"\npassword_env = "PW"\nno_proxy = [".corp", "10.0.0.0/8", "db.example:5432"]\n', {
        PW,
      }),
    );
    const up = upstreamFor(c.route, t("example.com"), true)!;
    expect({ label: up.label, user: up.auth?.username, pw: up.auth?.password.reveal() }).toEqual({ label: "http://proxy.corp:3128", user: "alice", pw: PW });
    expect(upstreamFor(c.route, t("example.com"), false)).toBe(up);
    for (const direct of [t("git.corp"), t("corp"), t("10.1.2.3"), t("db.example", 5432), t("localhost"), t("127.0.0.1")]) {
      expect(`${direct.host}:${direct.port} ${upstreamFor(c.route, direct, true)}`).toBe(`${direct.host}:${direct.port} null`);
    }
    expect(upstreamFor(c.route, t("db.example", 443), true)).toBe(up);
    const shown = JSON.stringify(effectiveView(c));
    expect(shown).not.toContain(PW);
    expect(effectiveView(c).route).toEqual({
      plain_http: "http://proxy.corp:3128 (as alice, password [redacted])",
      tunnels_and_tls: "http://proxy.corp:3128 (as alice, password [redacted])",
      resolve: "local",
      pin_addresses: false,
    });
  });

  test("allow_upstream_proxy takes the environment: HTTPS_PROXY for tunnels, HTTP_PROXY for plain, ALL_PROXY otherwise, NO_PROXY", () => {
    const env = { https_proxy: "http://tls.corp:1", HTTP_PROXY: "http://plain.corp:2", NO_PROXY: "skip.example, .corp" };
    const c = ok(load("[network_proxy]\nallow_upstream_proxy = true\n", env));
    expect(upstreamFor(c.route, t("example.com"), true)?.label).toBe("http://tls.corp:1");
    expect(upstreamFor(c.route, t("example.com"), false)?.label).toBe("http://plain.corp:2");
    expect(upstreamFor(c.route, t("skip.example"), true)).toBeNull();
    const all = ok(load("[network_proxy]\nallow_upstream_proxy = true\n", { ALL_PROXY: `socks5h://u:${PW}@socks.corp:1080` }));
    expect(upstreamFor(all.route, t("example.com"), false)?.label).toBe("socks5h://socks.corp:1080");
    expect(JSON.stringify(effectiveView(all))).not.toContain(PW);
    // Without it, the environment is not read.
    expect(upstreamFor(ok(load("", env)).route, t("example.com"), true)).toBeNull();
    expect(ok(load("[network_proxy]\nallow_upstream_proxy = true\n", {})).warnings).toContain(
      "allow_upstream_proxy is true, but the environment names no upstream (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY): traffic goes directly",
    );
  });

  test("mistakes are errors at their line; a password never appears in one", () => {
    expect(bad(load(`[network_proxy.upstream]\nurl = "http://alice:${PW}@proxy.corp:3128"\n`, {}, 0o644))).toEqual([
      "/cfg/config.toml:2: network_proxy.upstream.url: holds a password, and /cfg/config.toml can be read by others; use network_proxy.upstream.password_env or password_file (or chmod 600 the file)",
    ]);
    expect(ok(load(`[network_proxy.upstream]\nurl = "http://alice:${PW}@proxy.corp:3128"\n`, {}, 0o600)).route.tls?.auth?.password.reveal()).toBe(PW);
    const problems = bad(
      load(
        '[network_proxy.upstream]\nurl = "ftp://proxy.corp"\npassword_env = "MISSING"\nresolve = "upstream"\npin_addresses = true\nno_proxy = ["10.0.0.0/99"]\n',
      ),
    );
    expect(problems).toEqual([
      "/cfg/config.toml:2: network_proxy.upstream.url: the URL uses ftp://; an upstream must be http://, https://, socks5h:// or socks5://",
      '/cfg/config.toml:6: network_proxy.upstream.no_proxy: "10.0.0.0/99" is not a valid CIDR block',
      '/cfg/config.toml:5: network_proxy.upstream.pin_addresses: needs resolve = "local": with "upstream" there is no vetted address to send',
    ]);
    expect(bad(load('[network_proxy.upstream]\nurl = "socks5://s.corp"\nresolve = "upstream"\n'))[0]).toContain('"upstream" needs a socks5h:// upstream');
    expect(bad(load('[network_proxy]\nproxy_url = "127.0.0.1:3128"\n[network_proxy.upstream]\nurl = "http://127.0.0.1:3128"\n'))).toEqual([
      "http://127.0.0.1:3128 is this proxy's own listener: an upstream must be another proxy (is HTTPS_PROXY in this environment pointing at us?)",
    ]);
    expect(bad(load('[network_proxy.upstream]\nurl = "http://proxy.corp"\npassword_file = "pw.txt"\n')).join("\n")).toContain(
      "cannot read password_file /cfg/pw.txt: ENOENT",
    );
  });
});

describe("no_proxy entries", () => {
  test("addresses and blocks in any spelling ipaddr.js takes, names as names, a malformed block named as one", () => {
    const { entries, problems } = parseNoProxy(["10.0.0.0/8", "127.1", "0x7f.0.0.1", "[::1]:8080", "cafe.be", "corp.example", "example.com/8", "10.0.0.0/99"]);
    expect(entries.map((e) => (e.cidr ? `${e.cidr[0].toString()}/${e.cidr[1]}${e.port === null ? "" : `:${e.port}`}` : e.name))).toEqual([
      "10.0.0.0/8",
      "127.0.0.1/32",
      "127.0.0.1/32",
      "::1/128:8080",
      "cafe.be",
      "corp.example",
    ]);
    expect(problems).toEqual(['"example.com/8" is not a valid CIDR block', '"10.0.0.0/99" is not a valid CIDR block']);
  });
});
