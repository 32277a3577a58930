import { describe, expect, test } from "bun:test";
import * as x509 from "@peculiar/x509";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DialAddr } from "../../src/policy/decide.ts";
import { pattern, patternSha, RawOrigin } from "../helpers/origin.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { curl, RawClient } from "../helpers/raw.ts";
import { makeTestPki, selfSigned, type TestPki } from "../../scripts/lib/pki.ts";
import { until } from "../helpers/until.ts";

const ROOT = join(import.meta.dir, "../..");

/** An HTTPS origin on 127.0.0.1 with a certificate for localhost/127.0.0.1 from a per-run CA. */
class TlsOrigin implements Disposable {
  server!: ReturnType<typeof Bun.serve>;
  readonly ports = new Set<number>();
  requests = 0;
  static async start(pki: TestPki, cert?: { cert: string; key: string }): Promise<TlsOrigin> {
    const o = new TlsOrigin();
    const c = cert ?? (await pki.issue(["localhost", "127.0.0.1"]));
    o.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { key: c.key, cert: c.cert },
      fetch: async (req, server) => {
        o.requests++;
        o.ports.add(server.requestIP(req)!.port);
        const url = new URL(req.url);
        if (url.pathname.startsWith("/bytes/")) return new Response(pattern(0, Number(url.pathname.slice(7))));
        const body = await req.arrayBuffer();
        return Response.json({ method: req.method, path: url.pathname + url.search, host: req.headers.get("host"), bodyLength: body.byteLength });
      },
    });
    return o;
  }
  get port(): number {
    return this.server.port!;
  }
  [Symbol.dispose](): void {
    this.server.stop(true);
  }
}

async function limitedMitm(pki: TestPki, extra: string[] = [], opts = {}): Promise<TestProxy> {
  return startProxy(
    [
      'network_proxy.policy.allowed_domains=["localhost", "127.0.0.1"]',
      "network_proxy.mode=limited",
      "network_proxy.mitm.enabled=true",
      `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`,
      ...extra,
    ],
    opts,
  );
}

function ourCa(proxy: TestProxy): string {
  return proxy.state.config.np.mitm.ca_cert_path;
}

describe("read-only HTTPS through MITM in limited mode", () => {
  test("curl: GET/HEAD/OPTIONS pass, POST/PUT/DELETE are refused inside the tunnel and recorded", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const base = ["--cacert", ourCa(proxy), "-x", proxy.url];
    const get = await curl([...base, `https://localhost:${origin.port}/r?q=1`]);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ method: "GET", path: "/r?q=1", host: `localhost:${origin.port}`, bodyLength: 0 });
    expect((await curl([...base, "-I", `https://localhost:${origin.port}/`])).stdout).toStartWith("HTTP/1.1 200 Connection Established");
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await curl([...base, "-i", "-X", method, "-d", "data", `https://localhost:${origin.port}/w`]);
      expect(r.stdout).toContain(`HTTP/1.1 403 Blocked by codex-network-proxy: localhost:${origin.port} method_not_allowed`);
      expect(r.stdout).toContain("x-proxy-error: blocked-by-method-policy");
      expect(r.stdout).toContain("Codex blocked this request: method not allowed in limited mode.");
    }
    expect(origin.requests).toBe(2);
    const events = proxy.state.blocked.since(0);
    expect(events.map((e) => [e.method, e.reason, e.protocol, e.mode])).toEqual([
      ["POST", "method_not_allowed", "https", "limited"],
      ["PUT", "method_not_allowed", "https", "limited"],
      ["DELETE", "method_not_allowed", "https", "limited"],
    ]);
  });

  test("Bun fetch and Node (undici, NODE_EXTRA_CA_CERTS) trust our CA", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const ca = await Bun.file(ourCa(proxy)).text();
    const res = await fetch(`https://localhost:${origin.port}/bun`, { proxy: proxy.url, tls: { ca } });
    expect(await res.json()).toMatchObject({ path: "/bun" });
    const post = await fetch(`https://localhost:${origin.port}/bun`, { proxy: proxy.url, tls: { ca }, method: "POST", body: "x" });
    expect(post.status).toBe(403);
    expect(post.headers.get("x-proxy-error")).toBe("blocked-by-method-policy");

    const script = `
      const { EnvHttpProxyAgent, fetch } = require("undici");
      const agent = new EnvHttpProxyAgent();
      (async () => {
        const ok = await fetch(process.argv[1], { dispatcher: agent });
        const post = await fetch(process.argv[1], { dispatcher: agent, method: "POST", body: "x" });
        console.log(JSON.stringify({ ok: await ok.json(), post: post.status, header: post.headers.get("x-proxy-error") }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const p = Bun.spawn(["node", "-e", script, `https://localhost:${origin.port}/node`], {
      env: { ...process.env, HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NO_PROXY: "", NODE_EXTRA_CA_CERTS: ourCa(proxy) },
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect(err).toBe("");
    expect(JSON.parse(out)).toEqual({ ok: expect.objectContaining({ path: "/node" }), post: 403, header: "blocked-by-method-policy" });
  });

  test("Python's ssl module in strict X.509 mode accepts our leaf (it needs AKI)", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const py = `
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=ctx)
c.set_tunnel("localhost", int(sys.argv[3]))
c.request("GET", "/python")
r = c.getresponse()
print(r.status, r.read().decode())`;
    const p = Bun.spawn(["python3", "-c", py, ourCa(proxy), String(proxy.port), String(origin.port)], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect(err).toBe("");
    expect(out).toStartWith("200 ");
    expect(out).toContain('"path":"/python"');
  });

  test("keep-alive inside the tunnel reuses one upstream TLS connection", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const urls = [1, 2, 3, 4, 5].map((i) => `https://localhost:${origin.port}/k${i}`);
    const r = await curl(["--cacert", ourCa(proxy), "-x", proxy.url, ...urls]);
    expect(r.stdout.match(/"path"/g)?.length).toBe(5);
    expect(origin.requests).toBe(5);
    expect(origin.ports.size).toBe(1);
  });

  test("large downloads arrive intact", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const size = 64 * 1024 * 1024 + 3;
    const p = Bun.spawn(["curl", "-sS", "--cacert", ourCa(proxy), "-x", proxy.url, `https://localhost:${origin.port}/bytes/${size}`], { stdout: "pipe" });
    const hasher = new Bun.CryptoHasher("sha256");
    let n = 0;
    for await (const chunk of p.stdout) {
      hasher.update(chunk);
      n += chunk.length;
    }
    expect(n).toBe(size);
    expect(hasher.digest("hex")).toBe(patternSha(size));
  });

  test("inspect logs body sizes, never contents, and no query string unless asked", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki, ["network_proxy.mitm.inspect=true", "network_proxy.mitm.max_body_bytes=100"]);
    await curl(["--cacert", ourCa(proxy), "-x", proxy.url, `https://localhost:${origin.port}/bytes/1000?token=secret123`]);
    const line = proxy.log.split("\n").find((l) => l.includes("MITM inspected"))!;
    expect(line).toContain("path=/bytes/1000 ");
    expect(line).toContain("response_body_len=1000 response_truncated=true");
    expect(line).toContain("request_body_len=0 request_truncated=false");
    expect(proxy.log).not.toContain("secret123");
  });

  test("log_query = true puts the query string in the inspect line", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki, ["network_proxy.mitm.inspect=true", "network_proxy.mitm.log_query=true"]);
    await curl(["--cacert", ourCa(proxy), "-x", proxy.url, `https://localhost:${origin.port}/bytes/10?token=shown123`]);
    const line = proxy.log.split("\n").find((l) => l.includes("MITM inspected"))!;
    expect(line).toContain('path="/bytes/10?token=shown123" ');
  });
});

describe("pinned to the CONNECT target", () => {
  test("a Host or absolute-form target that differs from the tunnel is 400 host mismatch; CONNECT inside is 405", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const base = ["--cacert", ourCa(proxy), "-x", proxy.url, "-i"];
    const u = `https://localhost:${origin.port}/x`;
    const otherHost = await curl([...base, "-H", "Host: 127.0.0.1", u]);
    expect(otherHost.stdout).toContain("HTTP/1.1 400 Bad Request");
    expect(otherHost.stdout).toContain("host mismatch");
    const otherPort = await curl([...base, "-H", `Host: localhost:${origin.port + 1}`, u]);
    expect(otherPort.stdout).toContain("400 Bad Request");
    const connect = await curl([...base, "-X", "CONNECT", u]);
    expect(connect.stdout).toContain("HTTP/1.1 405 Method Not Allowed");
    expect(connect.stdout).toContain("CONNECT not supported inside MITM");
    expect(origin.requests).toBe(0);
  });

  test("absolute-form inside the tunnel naming another host is refused; naming the target is rewritten to origin-form", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const ca = await Bun.file(ourCa(proxy)).text();
    const tunnel = async (requestLine: string) => {
      const py = `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", ${proxy.port}))
s.sendall(b"CONNECT localhost:${origin.port} HTTP/1.1\\r\\n\\r\\n")
assert s.recv(100).startswith(b"HTTP/1.1 200")
ctx = ssl.create_default_context(cadata=sys.argv[1])
t = ctx.wrap_socket(s, server_hostname="localhost")
t.sendall(sys.argv[2].encode() + b"\\r\\nHost: localhost:${origin.port}\\r\\nConnection: close\\r\\n\\r\\n")
out = b""
while True:
    d = t.recv(65536)
    if not d: break
    out += d
print(out.decode().split("\\r\\n")[0])`;
      const p = Bun.spawn(["python3", "-c", py, ca, requestLine], { stdout: "pipe", stderr: "pipe" });
      return (await new Response(p.stdout).text()).trim() + (await new Response(p.stderr).text());
    };
    expect(await tunnel(`GET https://127.0.0.1:${origin.port}/evil HTTP/1.1`)).toBe("HTTP/1.1 400 Bad Request");
    expect(await tunnel(`GET https://localhost:${origin.port + 1}/other-port HTTP/1.1`)).toBe("HTTP/1.1 400 Bad Request");
    expect(await tunnel(`GET https://localhost/default-port HTTP/1.1`)).toBe("HTTP/1.1 400 Bad Request");
    expect(await tunnel(`GET http://localhost:${origin.port}/plain HTTP/1.1`)).toBe("HTTP/1.1 400 Bad Request");
    expect(await tunnel(`GET https://localhost:${origin.port}/ok HTTP/1.1`)).toBe("HTTP/1.1 200 OK");
    expect(origin.requests).toBe(1);
  });

  test("an SNI that differs from the CONNECT host closes the tunnel and is recorded (domain fronting)", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await limitedMitm(pki);
    const p = Bun.spawn(
      ["openssl", "s_client", "-proxy", `127.0.0.1:${proxy.port}`, "-connect", `localhost:${origin.port}`, "-servername", "evil.test", "-CAfile", ourCa(proxy)],
      { stdin: "pipe", stdout: "pipe", stderr: "pipe" },
    );
    p.stdin.write(`GET / HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
    await p.stdin.end();
    await p.exited;
    await until(() => proxy.state.blocked.since(0).length > 0, "the SNI block to be recorded");
    expect(proxy.state.blocked.since(0)[0]).toMatchObject({ reason: "sni_mismatch", host: "localhost", protocol: "https" });
    expect(origin.requests).toBe(0);
  });
});

describe("upstream verification", () => {
  test("an upstream with a bad certificate is 502 upstream-tls with the reason; never a silent downgrade", async () => {
    const pki = await makeTestPki();
    const cases: Array<[string, { cert: string; key: string }, string]> = [
      ["self-signed", await selfSigned(["localhost"]), "failed verification"],
      ["wrong name", await pki.issue(["other.test"]), "does not match"],
      [
        "expired",
        await pki.issue(["localhost"], { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }),
        "expired",
      ],
    ];
    for (const [what, cert, why] of cases) {
      using origin = await TlsOrigin.start(pki, cert);
      await using proxy = await limitedMitm(pki);
      const r = await curl(["--cacert", ourCa(proxy), "-x", proxy.url, "-i", `https://localhost:${origin.port}/`]);
      expect(`${what}: ${r.stdout.split("\r\n").find((l) => l.startsWith("HTTP/1.1 5"))}`).toBe(`${what}: HTTP/1.1 502 Bad Gateway`);
      expect(r.stdout).toContain("x-proxy-error: upstream-tls");
      expect(r.stdout.toLowerCase()).toContain(why);
      expect(origin.requests).toBe(0);
      // The log line of the failure names the target, not just the error.
      expect(proxy.log).toMatch(
        new RegExp(`decision protocol=https client=\\S+ method=GET target=localhost:${origin.port} decision=allow .*status=502 error=upstream_tls `),
      );
    }
  });

  test("without upstream_ca_file a private origin CA is not trusted", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await startProxy([
      'network_proxy.policy.allowed_domains=["localhost"]',
      "network_proxy.mode=limited",
      "network_proxy.mitm.enabled=true",
    ]);
    const r = await curl(["--cacert", ourCa(proxy), "-x", proxy.url, "-i", `https://localhost:${origin.port}/`]);
    expect(r.stdout).toContain("502 Bad Gateway");
    expect(r.stdout).toContain("x-proxy-error: upstream-tls");
  });
});

describe("certificates", () => {
  test("leaves: SAN, EKU, AKI/SKI, short validity, backdated; openssl verifies them strictly", async () => {
    const pki = await makeTestPki();
    await using proxy = await limitedMitm(pki, ["network_proxy.mitm.leaf_validity_days=20"]);
    const layer = proxy.server.ctx.mitm as import("../../src/mitm/intercept.ts").MitmLayer;
    for (const t of [
      { kind: "domain" as const, host: "api.example.test" },
      { kind: "ipv4" as const, host: "127.0.0.1" },
      { kind: "ipv6" as const, host: "::1" },
    ]) {
      const leaf = await layer.leaves.get(t);
      const pem = leaf.certPem.split(/(?<=-----END CERTIFICATE-----)\n/)[0]!;
      const cert = new x509.X509Certificate(pem);
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
      expect(san.names.items.map((n) => n.value)).toEqual([t.host]);
      expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
      expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)).toBeTruthy();
      expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).toBeTruthy();
      expect(cert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
      const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(19.9);
      expect(days).toBeLessThanOrEqual(20);
      expect(cert.notBefore.getTime()).toBeLessThan(Date.now() - 30 * 60_000);
      const file = join(pki.dir, `leaf-${t.kind}.pem`);
      writeFileSync(file, pem + "\n");
      const v = Bun.spawnSync(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ourCa(proxy), file]);
      expect(v.stdout.toString().trim()).toBe(`${file}: OK`);
    }
  });

  test("the leaf cache stays bounded under many hosts, and only allowed targets get certificates", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    const resolver = async (): Promise<DialAddr[]> => [{ kind: "ipv4", host: "127.0.0.1" }];
    await using proxy = await startProxy(
      [
        'network_proxy.policy.allowed_domains=["*.many.test", "127.0.0.0/8"]',
        "network_proxy.mode=limited",
        "network_proxy.mitm.enabled=true",
        "network_proxy.mitm.leaf_cache_size=4",
      ],
      { resolver },
    );
    const layer = proxy.server.ctx.mitm as import("../../src/mitm/intercept.ts").MitmLayer;
    for (let i = 0; i < 12; i++) {
      // The handshake is enough to mint a certificate; the upstream name check then fails (502), which is fine here.
      await curl(["--cacert", ourCa(proxy), "-x", proxy.url, `https://h${i}.many.test:${origin.port}/`]);
    }
    expect(layer.leaves.minted).toBe(12);
    expect(layer.leaves.size).toBe(4);
    await curl(["--cacert", ourCa(proxy), "-x", proxy.url, `https://not-allowed.test:${origin.port}/`]);
    expect(layer.leaves.minted).toBe(12);
  });
});

describe("modes and reloads", () => {
  test("full mode tunnels raw even with MITM enabled: the client sees the origin's own certificate", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["localhost"]', "network_proxy.mitm.enabled=true"]);
    const viaOrigin = await curl(["--cacert", pki.caFile, "-x", proxy.url, `https://localhost:${origin.port}/raw`]);
    expect(JSON.parse(viaOrigin.stdout)).toMatchObject({ path: "/raw" });
    const viaOurs = await curl(["--cacert", ourCa(proxy), "-x", proxy.url, `https://localhost:${origin.port}/raw`]);
    expect(viaOurs.code).not.toBe(0);
  });

  test("switching to limited closes tunnels opened in full mode", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    await using proxy = await startProxy(['network_proxy.policy.allowed_domains=["localhost"]', "network_proxy.dangerously_disable_admin_auth=true"]);
    const { RawClient } = await import("../helpers/raw.ts");
    using c = await RawClient.connect(proxy.port);
    c.send(`CONNECT localhost:${origin.port} HTTP/1.1\r\n\r\n`);
    await c.bytes(39);
    expect(proxy.server.ctx.tunnels.open.size).toBe(1);
    await proxy.admin("/mode", { method: "POST", body: '{"mode":"limited"}' });
    await c.closedPromise;
    expect(proxy.log).toContain("closing open tunnels count=1");
  });

  test("a reload with a broken CA fails and keeps the old config; enabling MITM by reload loads the CA", async () => {
    const pki = await makeTestPki();
    using origin = await TlsOrigin.start(pki);
    const cfg = (mitm: string) =>
      `[network_proxy]\nmode = "limited"\n[network_proxy.policy]\nallowed_domains = ["localhost"]\n[network_proxy.mitm]\n${mitm}\nupstream_ca_file = "${pki.caFile}"\n`;
    await using proxy = await startProxy([], { configText: cfg("enabled = false") });
    const dir = join(proxy.configPath, "..");
    const blocked = await curl(["-x", proxy.url, "-i", `https://localhost:${origin.port}/`]);
    expect(blocked.stdout).toContain("blocked-by-mitm-required");
    writeFileSync(proxy.configPath, cfg("enabled = true"));
    expect(((await (await proxy.admin("/reload", { method: "POST" })).json()) as { status: string }).status).toBe("reloaded");
    const ok = await curl(["--cacert", join(dir, "network_proxy/mitm/ca.pem"), "-x", proxy.url, `https://localhost:${origin.port}/after-reload`]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ path: "/after-reload" });
    writeFileSync(join(dir, "other.pem"), "junk");
    writeFileSync(proxy.configPath, cfg(`enabled = true\nca_cert_path = "other.pem"\nca_key_path = "network_proxy/mitm/ca.key"`));
    const bad = await proxy.admin("/reload", { method: "POST" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { problems: string[] }).problems[0]).toContain("is not a PEM certificate");
    const still = await curl(["--cacert", join(dir, "network_proxy/mitm/ca.pem"), "-x", proxy.url, `https://localhost:${origin.port}/still`]);
    expect(JSON.parse(still.stdout)).toMatchObject({ path: "/still" });
  });
});

describe("connection accounting", () => {
  test("MITM tunnels give their connection slot back when they close", async () => {
    const pki = await makeTestPki();
    const leaf = await pki.issue(["localhost"]);
    const tls = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: leaf.key, cert: leaf.cert }, fetch: () => new Response("x") });
    try {
      await using proxy = await startProxy([
        'network_proxy.policy.allowed_domains=["localhost"]',
        "network_proxy.mode=limited",
        "network_proxy.mitm.enabled=true",
        `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`,
      ]);
      for (let i = 0; i < 5; i++) {
        const r = await curl([
          "--cacert",
          proxy.state.config.np.mitm.ca_cert_path,
          "-x",
          proxy.url,
          `https://localhost:${tls.port}/?token=secret`,
          "-H",
          "Host: other.test",
        ]);
        expect(r.stdout).toContain("host mismatch");
      }
      await until(() => proxy.server.ctx.connections === 0 && proxy.server.ctx.sessions.size === 0, "every MITM connection to be accounted for");
      expect(proxy.log).not.toContain("secret");
    } finally {
      tls.stop(true);
    }
  });
});

describe("kept-alive upstreams and interception", () => {
  test("a kept-alive upstream is closed when its client connection becomes an intercepted tunnel", async () => {
    const pki = await makeTestPki();
    using https = await TlsOrigin.start(pki);
    // A plain-HTTP origin that keeps the proxy's connection alive.
    using plain = new RawOrigin((c) => {
      c.socket.data.onData = (buf) => {
        if (buf.indexOf("\r\n\r\n") < 0) return;
        c.socket.data.buf = Buffer.alloc(0);
        c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      };
    });
    await using proxy = await limitedMitm(pki);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET http://127.0.0.1:${plain.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    expect(plain.connections - plain.closes).toBe(1);
    c.send(`CONNECT localhost:${https.port} HTTP/1.1\r\n\r\n`);
    expect((await c.response({ head: true })).status).toBe(200);
    await until(() => plain.closes === 1, "the kept-alive upstream to be closed");
  });
});
