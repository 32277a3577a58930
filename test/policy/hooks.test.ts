import { describe, expect, test } from "bun:test";
import { buildConfig, type ConfigSource, type LoadResult, type SecretIo } from "../../src/config/load.ts";
import { effectiveView } from "../../src/config/view.ts";
import { admit, type AdmissionFacts } from "../../src/policy/admission.ts";
import type { Allow } from "../../src/policy/decide.ts";
import { matchHooks, type HookTable } from "../../src/policy/hooks.ts";
import { globMatcher, normalizePath } from "../../src/policy/http-path.ts";
import { ChunkedReader } from "../../src/proxy/http/chunked.ts";
import type { MethodRequest } from "../../src/policy/method.ts";

const SECRET = "s3cr3t-value-0123456789";
const src: ConfigSource = { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] };
const io = (env: Record<string, string> = { TOKEN: SECRET }, files: Record<string, string> = {}): SecretIo => ({
  env,
  readFile: (p) => {
    if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
    return files[p]!;
  },
});

const HOOK = `
[network_proxy]
mode = "limited"
[network_proxy.mitm]
enabled = true
[[network_proxy.mitm_hooks]]
host = "API.Example.COM."
match.methods = ["GET", "POST"]
match.path_prefixes = ["/repos/acme/widgets/", "pattern:/orgs/*/teams/**"]
actions.strip_request_headers = ["cookie"]
actions.inject_request_headers = [{ name = "authorization", secret_env_var = "TOKEN", prefix = "Bearer " }]
[[network_proxy.mitm_hooks]]
host = "api.example.com"
match.methods = ["GET"]
match.path_prefixes = ["/meta"]
match.headers = { "x-api-version" = [] }
[[network_proxy.mitm_hooks]]
host = "api.example.com"
match.methods = ["GET"]
match.path_prefixes = ["/search"]
match.query = { state = ["open", "pattern:clo*"] }
`;

function load(text: string, secrets = io()): LoadResult {
  return buildConfig(text, src, secrets);
}
function ok(r: LoadResult) {
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}
function problems(r: LoadResult): readonly string[] {
  if (r.ok) throw new Error("expected problems");
  return r.problems;
}

describe("mitm_hooks config", () => {
  test("a valid hook compiles under its canonical host; the secret is read and shown nowhere", () => {
    const c = ok(load(HOOK));
    const hooks = c.hooks.get("api.example.com")!;
    expect(hooks.map((h) => h.label)).toEqual(["mitm_hooks[0] (api.example.com)", "mitm_hooks[1] (api.example.com)", "mitm_hooks[2] (api.example.com)"]);
    expect(hooks[0]!.inject[0]!.value.reveal()).toBe(`Bearer ${SECRET}`);
    expect([...hooks[0]!.strip].sort()).toEqual(["authorization", "cookie"]);
    const shown = JSON.stringify([effectiveView(c), String(hooks[0]!.inject[0]!.value), hooks[0]!.inject[0]!.value]);
    expect(shown).not.toContain(SECRET);
    expect(JSON.stringify(effectiveView(c).network_proxy["mitm_hooks"])).toContain('"secret_env_var":"TOKEN","prefix":"Bearer ","value":"[redacted]"');
    expect(Bun.inspect(hooks[0]!.inject[0])).not.toContain(SECRET);
  });

  test("every problem is an error at its line, names the hook by index and host, and never the secret", () => {
    const text = `
[network_proxy.mitm]
enabled = false
[[network_proxy.mitm_hooks]]
host = "a.example"
match.methods = []
match.path_prefixes = ["/x"]
match.body = "x"
actions.inject_request_headers = [{ name = "x-key", secret_env_var = "MISSING" }, { name = "x-two", secret_env_var = "BAD", secret_file = "f" }]
[[network_proxy.mitm_hooks]]
host = "*.example"
match.methods = ["get"]
match.path_prefixes = ["/a/../b"]
matc = 1
[[network_proxy.mitm_hooks]]
host = "b.example"
match.methods = ["GET"]
match.path_prefixes = ["/"]
actions.strip_request_headers = ["content-length"]
actions.inject_request_headers = [
  { name = "host", secret_env_var = "TOKEN" },
  { name = "x-ctl", secret_env_var = "CTL" },
  { name = "x-empty", secret_file = "empty.txt" },
  { name = "x-gone", secret_file = "/abs/missing.txt" },
]
`;
    const r = load(text, io({ TOKEN: SECRET, CTL: `bad\r\nX-Evil: ${SECRET}`, EMPTYV: "" }, { "/cfg/empty.txt": "\n" }));
    const p = problems(r);
    expect(p).toEqual([
      "/cfg/config.toml:8: network_proxy.mitm_hooks[0].match.body: matching on the body is not supported; leave it out",
      "/cfg/config.toml:6: network_proxy.mitm_hooks[0].match.methods: must list at least one entry",
      "/cfg/config.toml:9: network_proxy.mitm_hooks[0].actions.inject_request_headers[1]: set exactly one of secret_env_var and secret_file",
      "/cfg/config.toml:14: network_proxy.mitm_hooks[1].matc: unknown key; did you mean network_proxy.mitm_hooks[1].match?",
      "/cfg/config.toml:4: network_proxy.mitm_hooks: hooks need [network_proxy.mitm] enabled = true: requests to a hooked host are judged inside intercepted tunnels",
      "/cfg/config.toml:9: network_proxy.mitm_hooks[0].actions.inject_request_headers[0]: (a.example) x-key: the environment variable MISSING is not set",
      '/cfg/config.toml:11: network_proxy.mitm_hooks[1].host: (*.example) must be one exact host name or address: host "*.example" contains "*"',
      "/cfg/config.toml:20: network_proxy.mitm_hooks[2].actions.inject_request_headers[0].name: (b.example) host is managed by the proxy and cannot be injected",
      "/cfg/config.toml:20: network_proxy.mitm_hooks[2].actions.inject_request_headers[1]: (b.example) x-ctl: the value (env CTL) contains a control character, so it cannot be a header value",
      "/cfg/config.toml:20: network_proxy.mitm_hooks[2].actions.inject_request_headers[2]: (b.example) x-empty: the secret (file empty.txt) is empty",
      "/cfg/config.toml:20: network_proxy.mitm_hooks[2].actions.inject_request_headers[3]: (b.example) x-gone: cannot read secret_file /abs/missing.txt: ENOENT",
      "/cfg/config.toml:19: network_proxy.mitm_hooks[2].actions.strip_request_headers: (b.example) content-length is managed by the proxy and cannot be stripped",
    ]);
    expect(p.join("\n")).not.toContain(SECRET);
  });

  test("methods are case-sensitive and path entries must be plain paths", () => {
    const r = load(
      `[network_proxy.mitm]\nenabled = true\n[[network_proxy.mitm_hooks]]\nhost = "a.example"\nmatch.methods = ["get"]\nmatch.path_prefixes = ["/a/%2e%2e/b", "/q?x=1"]\n`,
    );
    expect(problems(r)).toEqual([
      '/cfg/config.toml:5: network_proxy.mitm_hooks[0].match.methods: (a.example) methods are case-sensitive: write "GET"',
      '/cfg/config.toml:6: network_proxy.mitm_hooks[0].match.path_prefixes: (a.example) "/a/%2e%2e/b" is not a usable path: the path has a dot segment (. or ..)',
      '/cfg/config.toml:6: network_proxy.mitm_hooks[0].match.path_prefixes: (a.example) "/q?x=1" is not a usable path: it has a query',
    ]);
  });

  test("secret files are read relative to the config's directory, trailing newlines trimmed", () => {
    const text = `[network_proxy.mitm]\nenabled = true\n[[network_proxy.mitm_hooks]]\nhost = "a.example"\nmatch.methods = ["GET"]\nmatch.path_prefixes = ["/"]\nactions.inject_request_headers = [{ name = "x-key", secret_file = "keys/a.txt" }]\n`;
    const c = ok(load(text, io({}, { "/cfg/keys/a.txt": `${SECRET}\r\n\n` })));
    expect(c.hooks.get("a.example")![0]!.inject[0]!.value.reveal()).toBe(SECRET);
  });
});

describe("matching a request against a host's hooks", () => {
  const hooks = ok(load(HOOK)).hooks.get("api.example.com")!;
  const m = (method: string, target: string, headers: Array<[string, string]> = [], overrides: string[] = []) => {
    const v = matchHooks("api.example.com", hooks, { method, target, headers: headers.map(([lower, value]) => ({ lower, value })), overrides });
    return v.kind === "match" ? v.hook.label : `${v.reason}: ${v.explain}`;
  };
  const first = "mitm_hooks[0] (api.example.com)";

  test("method, path prefix or glob, query and headers must all match; the first match wins", () => {
    const search = "mitm_hooks[2] (api.example.com)";
    expect(m("GET", "/repos/acme/widgets/issues")).toBe(first);
    expect(m("POST", "/repos/acme/widgets/issues?anything=1")).toBe(first);
    expect(m("GET", "/orgs/acme/teams/a/b")).toBe(first);
    expect(m("GET", "/orgs/acme/x/teams/a")).toStartWith("mitm_hook_no_match");
    expect(m("DELETE", "/repos/acme/widgets/issues")).toStartWith(
      "mitm_hook_no_match: no mitm_hooks entry for api.example.com allows DELETE /repos/acme/widgets/issues",
    );
    expect(m("GET", "/search?state=open")).toBe(search);
    expect(m("GET", "/search?state=closed&x=1")).toBe(search);
    expect(m("GET", "/search?sta%74e=clo%73ed")).toBe(search);
    expect(m("GET", "/search")).toStartWith("mitm_hook_no_match"); // a named key must be there
    expect(m("GET", "/search?state=merged")).toStartWith("mitm_hook_no_match");
    // Every copy of a constrained key must match.
    expect(m("GET", "/search?state=open&state=merged")).toStartWith("mitm_hook_no_match");
    expect(m("GET", "/search?state=%zz")).toStartWith("mitm_hook_no_match");
    // Keys in any case are the same key: some servers read them without case.
    expect(m("GET", "/search?state=open&STATE=merged")).toStartWith("mitm_hook_no_match");
    expect(m("GET", "/search?State=open")).toBe(search);
    expect(m("GET", "/repos/acme/widgetsX")).toStartWith("mitm_hook_no_match");
    expect(m("GET", "/meta")).toStartWith("mitm_hook_no_match"); // the header is required
    expect(m("GET", "/meta", [["x-api-version", "1"]])).toBe("mitm_hooks[1] (api.example.com)");
    expect(m("GET", "/meta", [["x_api_version", "1"]])).toBe("mitm_hooks[1] (api.example.com)");
  });

  test("what origins read differently is refused, not matched", () => {
    for (const t of [
      "/repos/acme/widgets/../../secrets",
      "/repos/acme/widgets/%2e%2e/x",
      "/repos/acme/widgets/..;/x",
      "/repos/acme/widgets%2Fx",
      "/repos/acme/widgets/a%5cb",
      "/repos/acme/widgets/\\..\\x",
      "/repos/acme/widgets/%zz",
      "/repos/acme/widgets/%25",
      "/repos/acme/widgets/..%3B/..%3B/admin",
      "/repos/acme/widgets/x;.pdf",
      "/repos/acme/widgets/x%00.pdf",
      "/repos/acme/widgets/%C0%AE%C0%AE/x",
      "/repos/acme/widgets/%EF%BC%8E%EF%BC%8E/x",
      "http://api.example.com/repos/acme/widgets/",
    ]) {
      expect(`${t}: ${m("GET", t)}`).toStartWith(`${t}: mitm_hook_no_match: api.example.com has mitm_hooks and`);
    }
    // Unreserved characters written as escapes are the same path.
    expect(m("GET", "/repos/%61cme/widgets/x")).toBe(first);
    expect(m("GET", "/repos/acme/widgets/a%20b")).toBe(first);
  });

  test("a method override must be a method the hook allows; TRACE is refused outright", () => {
    expect(m("POST", "/repos/acme/widgets/x", [], ["GET"])).toBe(first);
    expect(m("POST", "/repos/acme/widgets/x", [], ["DELETE"])).toStartWith("mitm_hook_no_match");
    // The `_method` query parameter frameworks honour on POST is an override too.
    expect(m("POST", "/repos/acme/widgets/x?_method=DELETE")).toStartWith("mitm_hook_no_match");
    expect(m("POST", "/repos/acme/widgets/x?_METHOD=get")).toBe(first);
    // Headers that make servers take another path are refused, whatever the hook.
    expect(m("GET", "/repos/acme/widgets/x", [["x-original-url", "/admin"]])).toStartWith(
      "mitm_hook_no_match: api.example.com has mitm_hooks, and the x-original-url header",
    );
    expect(m("GET", "/repos/acme/widgets/x", [["x_rewrite_url", "/admin"]])).toStartWith("mitm_hook_no_match");
    expect(m("TRACE", "/repos/acme/widgets/x")).toStartWith("method_not_allowed: TRACE to api.example.com is refused");
  });
});

describe("admission for a hooked host", () => {
  const c = ok(load(HOOK));
  const allow: Allow = { verdict: "allow", target: { kind: "domain", host: "api.example.com", port: 443 }, rule: null, addresses: [] };
  const facts = (mode: "full" | "limited", hooks: HookTable = c.hooks, plaintextInjection = false): AdmissionFacts => ({
    mode,
    mitm: true,
    hooks,
    plaintextInjection,
  });
  const req = (method: string, path: string, extra: Partial<MethodRequest> = {}): MethodRequest => ({
    method,
    hasBody: false,
    upgrade: false,
    overrides: [],
    path,
    headers: [],
    ...extra,
  });
  const verdict = (a: ReturnType<typeof admit>) =>
    a.verdict === "block" ? `${a.block.reason}` : a.verdict === "pass" ? `pass ${a.hook?.label ?? "-"}` : a.verdict;

  test("CONNECT is intercepted in both modes; SOCKS5 cannot be inspected", () => {
    expect(verdict(admit("connect", allow, null, facts("full")))).toBe("intercept");
    expect(verdict(admit("connect", allow, null, facts("limited")))).toBe("intercept");
    const s = admit("socks5", allow, null, facts("full"));
    expect(s).toMatchObject({ verdict: "block", block: { reason: "mitm_required", explain: expect.stringContaining("SOCKS5 cannot show them") } });
  });

  test("the hook decides the method, in limited mode too; the rest of limited mode stays", () => {
    expect(verdict(admit("https", allow, req("POST", "/repos/acme/widgets/i", { hasBody: true }), facts("limited")))).toBe(
      "pass mitm_hooks[0] (api.example.com)",
    );
    expect(verdict(admit("https", allow, req("GET", "/repos/acme/widgets/i", { hasBody: true }), facts("limited")))).toBe("method_not_allowed");
    expect(verdict(admit("https", allow, req("GET", "/repos/acme/widgets/i", { hasBody: true }), facts("full")))).toBe("pass mitm_hooks[0] (api.example.com)");
    // An upgrade opens a channel no hook judges: only a hook naming the upgrade header allows it, in either mode.
    expect(verdict(admit("https", allow, req("GET", "/repos/acme/widgets/i", { upgrade: true }), facts("limited")))).toBe("mitm_hook_no_match");
    expect(verdict(admit("https", allow, req("GET", "/repos/acme/widgets/i", { upgrade: true }), facts("full")))).toBe("mitm_hook_no_match");
    const ws = ok(
      load(
        '[network_proxy.mitm]\nenabled = true\n[[network_proxy.mitm_hooks]]\nhost = "api.example.com"\nmatch.methods = ["GET"]\nmatch.path_prefixes = ["/ws"]\nmatch.headers = { upgrade = ["websocket"] }\n',
      ),
    ).hooks;
    const upgrade = req("GET", "/ws", { upgrade: true, headers: [{ lower: "upgrade", value: "websocket" }] });
    expect(verdict(admit("https", allow, upgrade, facts("limited", ws)))).toBe("pass mitm_hooks[0] (api.example.com)");
    expect(verdict(admit("https", allow, upgrade, facts("full", ws)))).toBe("pass mitm_hooks[0] (api.example.com)");
    expect(verdict(admit("https", allow, req("DELETE", "/repos/acme/widgets/i"), facts("full")))).toBe("mitm_hook_no_match");
  });

  test("credentials only over TLS: a plain-HTTP match with an injection is refused unless explicitly allowed", () => {
    expect(verdict(admit("http", allow, req("GET", "/repos/acme/widgets/i"), facts("limited")))).toBe("mitm_hook_plaintext");
    expect(verdict(admit("http", allow, req("GET", "/repos/acme/widgets/i"), facts("limited", c.hooks, true)))).toBe("pass mitm_hooks[0] (api.example.com)");
    // The second hook injects nothing: plain HTTP is fine for it.
    expect(verdict(admit("http", allow, req("GET", "/meta", { headers: [{ lower: "x-api-version", value: "1" }] }), facts("limited")))).toBe(
      "pass mitm_hooks[1] (api.example.com)",
    );
  });

  test("hosts without hooks keep plain limited mode", () => {
    const other: Allow = { ...allow, target: { kind: "domain", host: "other.example", port: 443 } };
    expect(verdict(admit("https", other, req("POST", "/repos/acme/widgets/i"), facts("limited")))).toBe("method_not_allowed");
    expect(verdict(admit("connect", other, null, facts("full")))).toBe("pass -");
  });
});

describe("what a hook's request may carry", () => {
  test("a chunked body to a hooked host may not have trailers (origins that merge them into headers)", () => {
    const body = Buffer.from("3\r\nabc\r\n0\r\nAuthorization: Bearer attacker\r\n\r\n");
    expect(new ChunkedReader("bad_request", true).feed(body)).toBe(body.length);
    expect(() => new ChunkedReader("bad_request", false).feed(body)).toThrow("trailer fields are not accepted on requests to a host with mitm_hooks");
    const plain = Buffer.from("3\r\nabc\r\n0\r\n\r\n");
    expect(new ChunkedReader("bad_request", false).feed(plain)).toBe(plain.length);
  });

  test("globs take linear time: a hostile path cannot stall the proxy", () => {
    // Backtracking regular expressions took hours on this (cubic in the length of the run).
    const glob = globMatcher("/releases/*-*-*.tar.gz", true);
    expect(glob(`/releases/${"-".repeat(32 * 1024)}`)).toBe(false);
    expect(glob("/releases/a-b-c.tar.gz")).toBe(true);
    expect(globMatcher("*a*a*a*b", false)("a".repeat(32 * 1024))).toBe(false);
  });
});

describe("path helpers", () => {
  test("normalizePath keeps the query apart and spells escapes one way", () => {
    expect(normalizePath("/a%7eb/%3a?q=%2F")).toEqual({ ok: true, path: "/a~b/%3A", query: "q=%2F" });
  });
  test("globs: * stays in a segment in paths, crosses everything in values", () => {
    expect(globMatcher("/a/*/c", true)("/a/b/c")).toBe(true);
    expect(globMatcher("/a/*/c", true)("/a/b/x/c")).toBe(false);
    expect(globMatcher("/a/**", true)("/a/b/x/c")).toBe(true);
    expect(globMatcher("v*", false)("v1/2")).toBe(true);
    expect(globMatcher("a.b", false)("axb")).toBe(false);
  });
});
