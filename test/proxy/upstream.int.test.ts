/**
 * Chaining through a real upstream proxy: squid (with and without basic authentication) and
 * microsocks (SOCKS5 with a username and password), started per test on loopback. The policy
 * comes first and is unchanged: blocked traffic never reaches the upstream; allowed traffic goes
 * through it (its own log shows it), no_proxy targets go directly, and every failure of the
 * upstream has its own answer. The targets are names (origin.test) that this proxy's test
 * resolver and squid's hosts file map to 127.0.0.1: loopback literals always go directly.
 */
import { describe, expect, test } from "bun:test";
import type { DialAddr, Resolver } from "../../src/policy/decide.ts";
import { makeTestPki } from "../../scripts/lib/pki.ts";
import { freePort, parsePrometheus, sample } from "../helpers/ops.ts";
import { HttpOrigin } from "../helpers/origin.ts";
import { startProxy } from "../helpers/proxy.ts";
import { curl } from "../helpers/raw.ts";
import { until } from "../helpers/until.ts";
import { startMicrosocks, startSquid } from "../helpers/upstreams.ts";

const PASSWORD = `pw-${crypto.randomUUID()}`;
const NAMES = { "origin.test": "127.0.0.1", "direct.test": "127.0.0.1" };

const resolver: Resolver = async (name) => {
  const ip = NAMES[name as keyof typeof NAMES];
  if (!ip) throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return [{ kind: "ipv4", host: ip } satisfies DialAddr];
};
/** A resolver that knows no name at all: a network where outside names do not resolve locally. */
const nothing: Resolver = async (name) => {
  throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: "ENOTFOUND" });
};

function config(upstream: string, extra = ""): string {
  return `[network_proxy]
${extra}
[network_proxy.policy]
allowed_domains = ["origin.test", "direct.test", "127.0.0.1"]
[network_proxy.upstream]
url = "${upstream}"
no_proxy = ["direct.test"]
`;
}

async function tlsOrigin() {
  const pki = await makeTestPki();
  const leaf = await pki.issue(["origin.test"]);
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: leaf, fetch: (req) => new Response(`tls ${new URL(req.url).pathname}`) });
  return { pki, server, [Symbol.dispose]: () => server.stop(true) };
}

describe("through squid", () => {
  test("plain HTTP, CONNECT and SOCKS5 go through it; blocked targets never reach it; no_proxy goes directly", async () => {
    await using squid = await startSquid({ hosts: NAMES });
    using origin = new HttpOrigin();
    using tls = await tlsOrigin();
    await using proxy = await startProxy([], { configText: config(squid.url), resolver });
    const plain = await curl(["-x", proxy.url, `http://origin.test:${origin.port}/echo`]);
    expect(plain.code).toBe(0);
    const tunnel = await curl(["-x", proxy.url, "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/tunnel`]);
    expect(tunnel.stdout).toBe("tls /tunnel");
    const socks = await curl(["--proxy", `socks5h://127.0.0.1:${proxy.socksPort}`, "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/socks`]);
    expect(socks.stdout).toBe("tls /socks");
    expect(squid.log()).toContain(`GET http://origin.test:${origin.port}/echo`);
    await until(() => squid.log().match(new RegExp(`CONNECT origin.test:${tls.server.port}`, "g"))?.length === 2, "squid to log both tunnels");
    // Blocked: answered here, never sent on. no_proxy: allowed, and dialed directly.
    const blocked = await curl(["-x", proxy.url, "-i", "http://blocked.test/"]);
    expect(blocked.stdout).toContain("x-proxy-error: blocked-by-allowlist");
    const direct = await curl(["-x", proxy.url, `http://direct.test:${origin.port}/direct`]);
    expect(direct.code).toBe(0);
    expect(squid.log()).not.toContain("blocked.test");
    expect(squid.log()).not.toContain("direct.test");
    expect(origin.requests).toBe(2);
    expect(proxy.log).toMatch(/decision protocol=http .* target=origin\.test:\d+ decision=allow .* route=upstream status=200/);
    expect(proxy.log).toMatch(/decision protocol=http .* target=direct\.test:\d+ decision=allow .* route=direct status=200/);
    const m = parsePrometheus(await (await proxy.admin("/metrics")).text());
    expect(sample(m, "cnp_routed_total", { protocol: "http", route: "upstream" })).toBe(1);
    expect(sample(m, "cnp_routed_total", { protocol: "http-connect", route: "upstream" })).toBe(1);
    expect(sample(m, "cnp_routed_total", { protocol: "socks5", route: "upstream" })).toBe(1);
    expect(sample(m, "cnp_routed_total", { protocol: "http", route: "direct" })).toBe(1);
  });

  test("the upstream leg of intercepted HTTPS (limited mode) goes through it, verified end to end", async () => {
    await using squid = await startSquid({ hosts: NAMES });
    using tls = await tlsOrigin();
    await using proxy = await startProxy([], {
      configText: config(squid.url, `mode = "limited"\n[network_proxy.mitm]\nenabled = true\nupstream_ca_file = "${tls.pki.caFile}"`),
      resolver,
    });
    const r = await curl(["-x", proxy.url, "--cacert", proxy.state.config.np.mitm.ca_cert_path, `https://origin.test:${tls.server.port}/mitm`]);
    expect(r.stdout).toBe("tls /mitm");
    // squid logs a tunnel when it ends: the kept-alive upstream leg ends with the client.
    await until(() => squid.log().includes(`CONNECT origin.test:${tls.server.port}`), "squid to log the upstream leg's CONNECT");
    // The origin's certificate is checked through the tunnel too: a name it does not hold fails.
    const wrong = await startProxy([], {
      configText: config(squid.url, `mode = "limited"\n[network_proxy.mitm]\nenabled = true`),
      resolver,
    });
    await using _w = wrong;
    const unverified = await curl(["-x", wrong.url, "-i", "--cacert", wrong.state.config.np.mitm.ca_cert_path, `https://origin.test:${tls.server.port}/mitm`]);
    expect(unverified.stdout).toContain("x-proxy-error: upstream-tls");
  });

  test("basic authentication: the right credentials pass; wrong ones are upstream_proxy_auth_failed; none of it is shown", async () => {
    await using squid = await startSquid({ auth: { user: "alice", pass: PASSWORD }, hosts: NAMES });
    using origin = new HttpOrigin();
    using tls = await tlsOrigin();
    const cfg = (pw: string) => config(`http://alice@127.0.0.1:${squid.port}`).replace("no_proxy", `password_env = "CORP_PW"\nno_proxy`) + `# ${pw.length}\n`;
    await using good = await startProxy([], { configText: cfg(PASSWORD), resolver, env: { CORP_PW: PASSWORD } });
    expect((await curl(["-x", good.url, `http://origin.test:${origin.port}/auth`])).code).toBe(0);
    expect((await curl(["-x", good.url, "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/auth`])).stdout).toBe("tls /auth");
    const socksIn = await curl([
      "--proxy",
      `socks5h://127.0.0.1:${good.socksPort}`,
      "--cacert",
      tls.pki.caFile,
      `https://origin.test:${tls.server.port}/socks`,
    ]);
    expect(socksIn.stdout).toBe("tls /socks");
    const mitmCfg = cfg(PASSWORD).replace(
      "[network_proxy]\n",
      `[network_proxy]\nmode = "limited"\n[network_proxy.mitm]\nenabled = true\nupstream_ca_file = "${tls.pki.caFile}"\n`,
    );
    await using mitm = await startProxy([], { configText: mitmCfg, resolver, env: { CORP_PW: PASSWORD } });
    const inspected = await curl(["-x", mitm.url, "--cacert", mitm.state.config.np.mitm.ca_cert_path, `https://origin.test:${tls.server.port}/mitm`]);
    expect(inspected.stdout).toBe("tls /mitm");
    await until(() => (squid.log().match(/ alice /g)?.length ?? 0) >= 4, "squid to log all four as alice");
    // Our credentials for squid never come back to the client, in any answer.
    await using bad = await startProxy([], { configText: cfg("nope"), resolver, env: { CORP_PW: "nope" } });
    for (const url of [`http://origin.test:${origin.port}/x`, `https://origin.test:${tls.server.port}/x`]) {
      const r = await curl(["-x", bad.url, "-i", "--cacert", tls.pki.caFile, url]);
      expect(`${url}: ${r.stdout}`).toContain("x-proxy-error: upstream-proxy-auth-failed");
      expect(r.stdout).not.toContain("nope");
    }
    const view = await (await good.admin("/config")).text();
    expect(JSON.parse(view).route.tunnels_and_tls).toBe(`http://127.0.0.1:${squid.port} (as alice, password [redacted])`);
    for (const text of [good.log, bad.log, view, await (await good.admin("/metrics")).text()]) expect(text).not.toContain(PASSWORD);
  });

  test('resolve = "upstream": with a resolver that knows no name, names go to squid, which resolves them', async () => {
    await using squid = await startSquid({ hosts: NAMES });
    using origin = new HttpOrigin();
    using tls = await tlsOrigin();
    const cfg = config(squid.url).replace("no_proxy = [", 'resolve = "upstream"\nno_proxy = [');
    await using proxy = await startProxy([], { configText: cfg, resolver: nothing });
    expect((await curl(["-x", proxy.url, `http://origin.test:${origin.port}/by-name`])).code).toBe(0);
    expect((await curl(["-x", proxy.url, "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/by-name`])).stdout).toBe("tls /by-name");
    await until(() => squid.log().includes(`CONNECT origin.test:${tls.server.port}`), "squid to log the CONNECT");
    expect(proxy.state.config.warnings).toContain(
      'upstream.resolve = "upstream": names sent upstream are judged by name alone; a name the upstream resolves to a private or local address is not caught here',
    );
    // A no_proxy name is dialed here, so it needs our resolver, which fails closed.
    const direct = await curl(["-x", proxy.url, "-i", `http://direct.test:${origin.port}/`]);
    expect(direct.stdout).toContain("x-proxy-error: dns-failed");
  });

  test("a dead upstream is upstream_proxy_unreachable, over HTTP and SOCKS5", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([], { configText: config(`http://127.0.0.1:${freePort()}`), resolver });
    const r = await curl(["-x", proxy.url, "-i", `http://origin.test:${origin.port}/`]);
    expect(r.stdout).toContain("HTTP/1.1 502 Bad Gateway");
    expect(r.stdout).toContain("x-proxy-error: upstream-proxy-unreachable");
    const s = await curl(["--proxy", `socks5h://127.0.0.1:${proxy.socksPort}`, `http://origin.test:${origin.port}/`]);
    expect(s.stderr).toContain("(1)"); // SOCKS5 reply 0x01, general failure
    expect(origin.requests).toBe(0);
  });
});

describe("through a SOCKS5 upstream (microsocks)", () => {
  test("with username and password: tunnels pass by address (socks5://); a wrong password is upstream_proxy_auth_failed", async () => {
    await using socks = await startMicrosocks({ user: "bob", pass: PASSWORD });
    using origin = new HttpOrigin();
    using tls = await tlsOrigin();
    const cfg = config(`socks5://bob@127.0.0.1:${socks.port}`).replace("no_proxy", `password_env = "SOCKS_PW"\nno_proxy`);
    await using proxy = await startProxy([], { configText: cfg, resolver, env: { SOCKS_PW: PASSWORD } });
    const before = socks.output().length;
    expect((await curl(["-x", proxy.url, "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/s`])).stdout).toBe("tls /s");
    expect((await curl(["-x", proxy.url, `http://origin.test:${origin.port}/p`])).code).toBe(0);
    // microsocks prints one line per client it served.
    expect(socks.output().slice(before)).toContain("127.0.0.1");
    await using bad = await startProxy([], { configText: cfg, resolver, env: { SOCKS_PW: "wrong" } });
    const r = await curl(["-x", bad.url, "-i", "--cacert", tls.pki.caFile, `https://origin.test:${tls.server.port}/s`]);
    expect(r.stdout).toContain("x-proxy-error: upstream-proxy-auth-failed");
    expect(proxy.log + bad.log).not.toContain(PASSWORD);
  });
});
