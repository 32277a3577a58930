/**
 * Proxy authentication: with `[network_proxy.auth]` set, the HTTP listener answers 407 to
 * requests and CONNECTs without the right `Proxy-Authorization: Basic`, the SOCKS5 listener asks
 * for the same pair, and `env`/`run` hand clients URLs that carry it. Real clients (curl, Python
 * requests) authenticate from those URLs.
 */
import { describe, expect, test } from "bun:test";
import { runCli } from "../../helpers/cli.ts";
import { HttpOrigin } from "../../helpers/origin.ts";
import { socks5Connect } from "../../helpers/ops.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { curl, rawRequest } from "../../helpers/raw.ts";

// A password that needs percent-encoding in a URL.
const USER = "agent";
const PASS = "p@ss:w/rd%";
const AUTH = ['network_proxy.auth.username="agent"', `network_proxy.auth.password=${JSON.stringify(PASS)}`];
const basic = (user: string, pass: string) => `Proxy-Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}\r\n`;
const proxyUrl = (port: number) => `http://${USER}:${encodeURIComponent(PASS)}@127.0.0.1:${port}`;

describe("proxy authentication", () => {
  test("407 with Proxy-Authenticate without credentials, with wrong ones, or with another scheme; through with the right ones", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, ...AUTH]);
    const get = (extra: string) => rawRequest(proxy.port, `GET ${origin.url("/echo")} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    for (const extra of ["", basic(USER, "wrong"), basic("other", PASS), `Proxy-Authorization: Bearer ${PASS}\r\n`, basic(USER, `${PASS}x`)]) {
      const r = await get(extra);
      expect({ extra, status: r.status, error: r.headers["x-proxy-error"], challenge: r.headers["proxy-authenticate"] }).toEqual({
        extra,
        status: 407,
        error: "proxy-auth-required",
        challenge: 'Basic realm="codex-network-proxy"',
      });
    }
    const ok = await get(basic(USER, PASS));
    expect(ok.status).toBe(200);
    // The credentials are the proxy's: they never travel on to the origin.
    expect(JSON.parse(ok.body.toString()).headers["proxy-authorization"]).toBeUndefined();
    const connect = await rawRequest(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expect(connect.status).toBe(407);
    expect(proxy.state.metrics.errors.get({ code: "proxy_auth_required" })).toBe(6);
    expect(proxy.log).not.toContain(PASS);
    expect(proxy.log).not.toContain(Buffer.from(`${USER}:${PASS}`).toString("base64"));
  });

  test("curl and Python requests authenticate from the proxy URL, for plain HTTP and CONNECT", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, ...AUTH]);
    const url = proxyUrl(proxy.port);
    const plain = await curl(["-x", url, origin.url("/echo")]);
    expect(plain.code).toBe(0);
    // CONNECT to a plain-text origin, then HTTP inside the tunnel.
    const tunnel = await curl(["-x", url, "--proxytunnel", origin.url("/echo")]);
    expect(tunnel.code).toBe(0);
    const denied = await curl(["-x", `http://127.0.0.1:${proxy.port}`, "-o", "/dev/null", "-w", "%{http_code}", origin.url("/echo")]);
    expect(denied.stdout).toBe("407");
    const py = Bun.spawn(
      ["python3", "-c", "import requests, sys; print(requests.get(sys.argv[2], proxies={'http': sys.argv[1]}).status_code)", url, origin.url("/echo")],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_PROXY: "" } },
    );
    const [out, err] = await Promise.all([new Response(py.stdout).text(), new Response(py.stderr).text()]);
    expect({ out: out.trim(), err }).toEqual({ out: "200", err: "" });
  });

  test("the SOCKS5 listener asks for the same pair", async () => {
    using origin = new HttpOrigin();
    await using proxy = await startProxy([ALLOW_LOOPBACK, ...AUTH]);
    const none = await socks5Connect(proxy.socksPort, "127.0.0.1", origin.port);
    none.client[Symbol.dispose]();
    expect(none.method).toBe(0xff);
    const ok = await socks5Connect(proxy.socksPort, "127.0.0.1", origin.port, { user: USER, pass: PASS });
    ok.client[Symbol.dispose]();
    expect(ok.reply).toBe(0);
  });

  test("the older socks5.username/password protect the HTTP listener too, with a warning; different pairs are an error", async () => {
    const old = await runCli(["check", "-c", 'network_proxy.socks5.username="a"', "-c", 'network_proxy.socks5.password="b"']);
    expect(old.code).toBe(0);
    expect(old.stderr).toContain("network_proxy.socks5.username/password now protect the HTTP listener too; move them to [network_proxy.auth]");
    const both = await runCli([
      "check",
      ...AUTH.flatMap((c) => ["-c", c]),
      "-c",
      'network_proxy.socks5.username="a"',
      "-c",
      'network_proxy.socks5.password="b"',
    ]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("network_proxy.socks5 and network_proxy.auth set different credentials");
  });

  test("env and run hand out URLs with the credentials, percent-encoded", async () => {
    const env = await runCli(["env", "--shell", "json", ...AUTH.flatMap((c) => ["-c", c])]);
    const vars = JSON.parse(env.stdout) as Record<string, string>;
    const userinfo = `${USER}:${encodeURIComponent(PASS)}@`;
    expect(vars["HTTP_PROXY"]).toBe(`http://${userinfo}127.0.0.1:3128`);
    expect(vars["ALL_PROXY"]).toBe(`socks5h://${userinfo}127.0.0.1:8081`);
    using origin = new HttpOrigin();
    const r = await runCli([
      "run",
      "-c",
      ALLOW_LOOPBACK,
      ...AUTH.flatMap((c) => ["-c", c]),
      "--",
      "sh",
      "-c",
      `curl -sS -o /dev/null -w '%{http_code} ' ${origin.url("/echo")}; curl -sS -o /dev/null -w '%{http_code}' --proxy "$ALL_PROXY" ${origin.url("/echo")}`,
    ]);
    expect(r.stdout).toBe("200 200");
  });
});
