/**
 * The bypass catalogue (peers-and-bypasses.md, items A-E) end to end, against a real proxy
 * process: every spelling through every entry point that can carry it (absolute-form URL, Host
 * header, CONNECT, SOCKS5 with each address type, inside a MITM tunnel), asserting the answer,
 * the reason recorded by GET /blocked, and that the origin (a loopback listener that counts
 * connections) saw nothing. Items the proxy cannot see (F, and exfiltration inside allowed
 * GETs) are documented in README's Security section instead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { CliProcess } from "../helpers/cli.ts";
import { RawOrigin } from "../helpers/origin.ts";
import { RawClient, rawRequest } from "../helpers/raw.ts";
import { makeTestPki } from "../helpers/tls.ts";

/** A counting loopback origin on 127.0.0.1; every catalogue target points at its port. */
let origin: RawOrigin;
interface Running extends AsyncDisposable {
  proc: CliProcess;
  home: string;
  http: number;
  socks: number;
  admin: number;
}
let proxy: Running;
let limited: Running;
let tlsOrigin: ReturnType<typeof Bun.serve>;
let P = 0;

async function start(extra: string[]): Promise<Running> {
  const home = mkdtempSync(join(tmpdir(), "cnp-cat-"));
  const proc = new CliProcess(
    [
      "-c",
      'network_proxy.proxy_url="127.0.0.1:0"',
      "-c",
      'network_proxy.socks_url="127.0.0.1:0"',
      "-c",
      'network_proxy.admin_url="127.0.0.1:0"',
      "-c",
      'network_proxy.admin_token="catalogue-token-0123456789"',
      ...extra.flatMap((e) => ["-c", e]),
    ],
    { CODEX_HOME: home },
  );
  const http = Number((await proc.waitFor(/HTTP proxy listening addr=127\.0\.0\.1:(\d+)/))[1]);
  const socks = Number((await proc.waitFor(/SOCKS5 proxy listening addr=127\.0\.0\.1:(\d+)/))[1]);
  const admin = Number((await proc.waitFor(/admin API listening addr=127\.0\.0\.1:(\d+)/))[1]);
  return { proc, home, http, socks, admin, [Symbol.asyncDispose]: () => proc[Symbol.asyncDispose]() };
}

async function lastBlock(p: Running): Promise<{ reason: string; host: string; protocol: string } | undefined> {
  const r = await fetch(`http://127.0.0.1:${p.admin}/blocked`);
  const j = (await r.json()) as { blocked: Array<{ reason: string; host: string; protocol: string }> };
  return j.blocked.at(-1);
}


beforeAll(async () => {
  origin = new RawOrigin((c) => {
    c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nREACHED");
  });
  P = origin.port;
  const pki = await makeTestPki();
  const leaf = await pki.issue(["allowed.localhost", "localhost"]);
  tlsOrigin = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: leaf.key, cert: leaf.cert }, fetch: () => new Response("TLS REACHED") });
  // "*" allows every public target, so only the local-network protection can stop the spellings.
  proxy = await start(['network_proxy.policy.allowed_domains=["*", "allowed.localhost"]', 'network_proxy.policy.denied_domains=["evil.test", "*.evil.test"]']);
  limited = await start([
    'network_proxy.policy.allowed_domains=["allowed.localhost", "localhost"]',
    "network_proxy.mode=limited",
    "network_proxy.mitm.enabled=true",
    `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`,
  ]);
});

afterAll(async () => {
  await proxy?.proc[Symbol.asyncDispose]();
  await limited?.proc[Symbol.asyncDispose]();
  origin?.[Symbol.dispose]();
  tlsOrigin?.stop(true);
});

type Entry = "absolute-form" | "host-header" | "connect" | "socks5-domain" | "socks5-ipv4" | "socks5-ipv6";

/** Send `host` (as spelled) through one entry point; returns the status (HTTP) or REP byte (SOCKS5). */
async function through(entry: Entry, host: string, port = P): Promise<number> {
  const authority = `${host}:${port}`;
  switch (entry) {
    // Heads go out as UTF-8 bytes, the way a client would put a Unicode name on the wire.
    case "absolute-form":
      return (await rawRequest(proxy.http, Buffer.from(`GET http://${authority}/ HTTP/1.1\r\nHost: x\r\n\r\n`))).status;
    case "host-header":
      return (await rawRequest(proxy.http, Buffer.from(`GET / HTTP/1.1\r\nHost: ${authority}\r\n\r\n`))).status;
    case "connect":
      return (await rawRequest(proxy.http, Buffer.from(`CONNECT ${authority} HTTP/1.1\r\n\r\n`))).status;
    default: {
      using c = await RawClient.connect(proxy.socks);
      const bare = host.startsWith("[") ? host.slice(1, -1) : host;
      let req: number[];
      const name = Buffer.from(bare);
      if (entry === "socks5-domain") req = [5, 1, 0, 3, name.length, ...name];
      else if (entry === "socks5-ipv4") req = [5, 1, 0, 1, ...bare.split(".").map(Number)];
      else req = [5, 1, 0, 4, ...ipv6Bytes(bare)];
      c.send(Uint8Array.from([5, 1, 0, ...req, port >> 8, port & 255]));
      const r = await c.bytes(12);
      return r[3]!;
    }
  }
}

function ipv6Bytes(s: string): number[] {
  const canon = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const [head, tail] = canon.split("::") as [string, string | undefined];
  const h = head ? head.split(":").map((x) => parseInt(x, 16)) : [];
  const t = tail ? tail.split(":").map((x) => parseInt(x, 16)) : [];
  const words = canon.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  return words.flatMap((w) => [w >> 8, w & 255]);
}

const HTTP_ENTRIES: Entry[] = ["absolute-form", "host-header", "connect"];

async function expectBlocked(host: string, entries: Entry[], reason: string): Promise<void> {
  for (const e of entries) {
    const before = origin.connections;
    const got = await through(e, host);
    const want = e.startsWith("socks5") ? 2 : 403;
    expect(`${host} via ${e}: ${got}`).toBe(`${host} via ${e}: ${want}`);
    expect((await lastBlock(proxy))?.reason).toBe(reason);
    expect(origin.connections).toBe(before);
  }
}

async function expectInvalid(host: string, entries: Entry[]): Promise<void> {
  for (const e of entries) {
    const got = await through(e, host);
    const want = e.startsWith("socks5") ? 4 : 400;
    expect(`${host} via ${e}: ${got}`).toBe(`${host} via ${e}: ${want}`);
  }
  expect(origin.connections).toBe(0);
}

describe("A. address spellings reach nothing, through every entry point", () => {
  const v6: Entry[] = [...HTTP_ENTRIES, "socks5-ipv6"];
  test.each([
    ["A1 decimal", "2130706433"],
    ["A2 short", "127.1"],
    ["A2 short (3 parts)", "127.0.1"],
    ["A3 octal", "0177.0.0.1"],
    ["A3 octal (one part)", "017700000001"],
    ["A3 octal private", "012.1.2.3"],
    ["A4 hex", "0x7f.1"],
    ["A4 hex (one part)", "0x7f000001"],
    ["A4 hex mixed", "0x7f.0.0.1"],
    ["A5 zero", "0"],
    ["A5 0.0.0.0", "0.0.0.0"],
    ["A5 0.x.y.z", "0.1.2.3"],
  ])("%s: %s", async (_id, spelling) => {
    await expectBlocked(spelling, [...HTTP_ENTRIES, "socks5-domain"], "not_allowed_local");
    // SOCKS5 ATYP 1 carries the address itself: send the bytes the spelling means.
    await expectBlocked(new URL(`http://${spelling}/`).hostname, ["socks5-ipv4"], "not_allowed_local");
  });

  test.each([
    ["A6 unspecified", "[::]"],
    ["A7 mapped", "[::ffff:127.0.0.1]"],
    ["A7 mapped hex", "[::ffff:7f00:1]"],
    ["A7 mapped case", "[::fFFf:127.0.0.1]"],
    ["A7 mapped expanded metadata", "[0:0:0:0:0:ffff:a9fe:a9fe]"],
    ["A8 compatible", "[::127.0.0.1]"],
    ["A9 NAT64 loopback", "[64:ff9b::7f00:1]"],
    ["A9 NAT64 metadata", "[64:ff9b::a9fe:a9fe]"],
    ["A9 local-use NAT64", "[64:ff9b:1::808:808]"],
    ["A10 6to4 loopback", "[2002:7f00:1::]"],
    ["A10 6to4 metadata", "[2002:a9fe:a9fe::]"],
    ["A10 Teredo (client 127.0.0.1)", "[2001:0:4136:e378:8000:63bf:80ff:fffe]"],
    ["loopback", "[::1]"],
  ])("%s: %s", async (_id, spelling) => {
    await expectBlocked(spelling, v6, "not_allowed_local");
    await expectBlocked(spelling.slice(1, -1), ["socks5-domain"], "not_allowed_local");
  });

  test("A11 zone ids are refused, including the suffix trick against *.allowed.com", async () => {
    await expectInvalid("[fe80::1%25eth0]", HTTP_ENTRIES);
    await expectInvalid("::ffff:1.2.3.4%x.allowed.localhost", ["socks5-domain"]);
  });
  test("A12 brackets around a name, A13 IPv6 without brackets", async () => {
    await expectInvalid("[example.com]", HTTP_ENTRIES);
    expect((await rawRequest(proxy.http, `CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n`)).status).toBe(400);
  });
});

describe("B. name spellings are judged as the canonical name", () => {
  const entries: Entry[] = [...HTTP_ENTRIES, "socks5-domain"];
  test.each([
    ["B14 trailing dot", "evil.test."],
    ["B15 case", "EVIL.TEST"],
    ["B17 wildcard denylist, any depth", "a.b.evil.test"],
  ])("%s: %s is denied", async (_id, spelling) => {
    await expectBlocked(spelling, entries, "denied");
  });
  test("B16/B17 full-width and Unicode spellings: IDNA in SOCKS5 names, refused as raw bytes in HTTP heads", async () => {
    await expectBlocked("ｅｖｉｌ.test", ["socks5-domain"], "denied");
    await expectInvalid("ｅｖｉｌ.test", HTTP_ENTRIES);
  });
  test("B16 percent-encoding in absolute-form is decoded (and refused elsewhere)", async () => {
    expect((await rawRequest(proxy.http, `GET http://ev%69l.test:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(403);
    expect((await lastBlock(proxy))?.reason).toBe("denied");
    expect((await rawRequest(proxy.http, `CONNECT ev%69l.test:${P} HTTP/1.1\r\n\r\n`)).status).toBe(400);
  });
  test("B18 suffix tricks and B19 unescaped dots are not matches", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["allowed.test", "**.api.github.test"]']);
    for (const h of ["allowed.test.evil.test", "evil-allowed.test", "evilallowed.test", "apiXgithubYtest", "api.github.test.evil.test"]) {
      const r = await rawRequest(p.http, `GET http://${h}:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(`${h} ${r.status}`).toBe(`${h} 403`);
    }
    expect(origin.connections).toBe(0);
  });
  test("B20 wildcard scope: *.x does not match the apex; * in the denylist is a config error", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["*.scope.localhost"]']);
    expect((await rawRequest(p.http, `GET http://scope.localhost:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(403);
    const bad = new CliProcess(["check", "-c", 'network_proxy.policy.denied_domains=["*"]'], { CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-cat-")) });
    expect(await bad.proc.exited).toBe(1);
    expect(bad.stderr).toContain('global wildcard "*" is not supported in denied_domains');
  });
  test("B21 a port smuggled inside a host, B22 CR/LF/NUL in hosts, B23 bad ports", async () => {
    await expectInvalid("evil.test:443.allowed.localhost", ["connect"]);
    await expectInvalid("allowed.localhost\r\nX-Injected: 1", ["socks5-domain"]);
    await expectInvalid("allowed.localhost\0.evil.test", ["socks5-domain"]);
    for (const port of ["65979", "0", "-1", "007", "91337", "https"]) {
      expect((await rawRequest(proxy.http, `CONNECT allowed.localhost:${port} HTTP/1.1\r\n\r\n`)).status).toBe(400);
      expect((await rawRequest(proxy.http, `GET http://allowed.localhost:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(400);
    }
    expect(origin.connections).toBe(0);
  });
  test("B24 a CONNECT authority is parsed as http:, not as an opaque scheme", async () => {
    await expectBlocked("0x7f.1", ["connect"], "not_allowed_local");
  });
  test("B25 userinfo, backslash and fragment confusion in absolute-form are refused", async () => {
    for (const u of [`http://allowed.localhost@127.0.0.1:${P}/`, `http://allowed.localhost\\@127.0.0.1:${P}/`, `http://127.0.0.1:${P}#@allowed.localhost/`]) {
      expect((await rawRequest(proxy.http, `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`)).status).toBe(400);
    }
    expect(origin.connections).toBe(0);
  });
});

describe("C. DNS and destination", () => {
  test("C27/C35 names that are loopback by definition: localhost., foo.localhost", async () => {
    await expectBlocked("localhost.", [...HTTP_ENTRIES, "socks5-domain"], "not_allowed_local");
    await expectBlocked("foo.localhost", [...HTTP_ENTRIES, "socks5-domain"], "not_allowed_local");
  });
  test("C29 the proxy's own listeners, by any spelling", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["*", "127.0.0.1", "localhost"]', "network_proxy.policy.allow_local_binding=true"]);
    for (const target of [`127.0.0.1:${p.admin}`, `localhost:${p.admin}`, `2130706433:${p.http}`, `0:${p.socks}`]) {
      expect((await rawRequest(p.http, `CONNECT ${target} HTTP/1.1\r\n\r\n`)).status).toBe(403);
      expect((await lastBlock(p))?.reason).toBe("own_listener");
    }
  });
  test("C30 the host's own interface addresses are local", async () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal && i.family === "IPv4")
      .map((i) => i!.address);
    for (const a of own) await expectBlocked(a, ["connect"], "not_allowed_local");
  });
  test.each([
    ["C31 AWS/GCP metadata", "169.254.169.254"],
    ["C31 Alibaba metadata", "100.100.100.200"],
    ["C31 AWS IPv6 metadata", "[fd00:ec2::254]"],
    ["C32 CGNAT", "100.64.0.1"],
    ["C32 TEST-NET-1", "192.0.2.1"],
    ["C32 TEST-NET-2", "198.51.100.1"],
    ["C32 TEST-NET-3", "203.0.113.1"],
    ["C32 benchmarking", "198.18.0.1"],
    ["C32 reserved", "240.0.0.1"],
    ["C32 multicast", "224.0.0.1"],
    ["C32 broadcast", "255.255.255.255"],
    ["RFC 1918", "192.168.1.1"],
  ])("%s: %s", async (_id, spelling) => {
    await expectBlocked(spelling, ["absolute-form", "connect"], "not_allowed_local");
  });
  test("C33 an allowed name that does not resolve fails closed (502 dns-failed), nothing dialed", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["does-not-resolve.invalid"]']);
    const r = await rawRequest(p.http, `CONNECT does-not-resolve.invalid:${P} HTTP/1.1\r\n\r\n`);
    expect(r.status).toBe(502);
    expect(r.headers["x-proxy-error"]).toBe("dns-failed");
    expect(origin.connections).toBe(0);
  });
  test("C36 an IPv4-mapped CIDR in the config is refused instead of meaning 0.0.0.0/0", async () => {
    const c = new CliProcess(["check", "-c", 'network_proxy.policy.allowed_domains=["::ffff:0:0/96"]'], { CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-cat-")) });
    expect(await c.proc.exited).toBe(1);
    expect(c.stderr).toContain("covers IPv4-mapped addresses");
  });
});

describe("D. framing and routing", () => {
  test("D37 absolute-form authority wins; D38 duplicate Host is refused", async () => {
    expect((await rawRequest(proxy.http, `GET http://127.0.0.1:${P}/ HTTP/1.1\r\nHost: allowed.localhost\r\n\r\n`)).status).toBe(403);
    expect((await rawRequest(proxy.http, `GET / HTTP/1.1\r\nHost: allowed.localhost:${P}\r\nHost: 127.0.0.1:${P}\r\n\r\n`)).status).toBe(400);
    expect(origin.connections).toBe(0);
  });
  test("D44 pipelined requests are judged one by one", async () => {
    using c = await RawClient.connect(proxy.http);
    c.send(`GET http://evil.test:${P}/ HTTP/1.1\r\nHost: x\r\n\r\nGET http://127.0.0.1:${P}/ HTTP/1.1\r\nHost: x\r\n\r\nGET http://0x7f.1:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect([(await c.response()).status, (await c.response()).status, (await c.response()).status]).toEqual([403, 403, 403]);
    expect(origin.connections).toBe(0);
  });
  test("D48 port-scoped rules keep odd ports closed", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["allowed.localhost:443", "127.0.0.1:443"]']);
    for (const port of [22, 25, 6379, P]) {
      expect((await rawRequest(p.http, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`)).status).toBe(403);
    }
    expect(origin.connections).toBe(0);
  });
});

describe("D/E. inside a MITM tunnel in limited mode", () => {
  /** Open a MITM tunnel to the TLS origin and send `raw` inside; returns the first response line. */
  async function inside(raw: string, sni = "localhost"): Promise<string> {
    const ca = await Bun.file(join(limited.home, "network_proxy/mitm/ca.pem")).text();
    const py = `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", ${limited.http}))
s.sendall(b"CONNECT localhost:${tlsOrigin.port} HTTP/1.1\\r\\n\\r\\n")
head = s.recv(100)
if not head.startswith(b"HTTP/1.1 200"): print(head.decode().split("\\r\\n")[0]); sys.exit()
ctx = ssl.create_default_context(cadata=sys.argv[1])
ctx.check_hostname = False
try:
    t = ctx.wrap_socket(s, server_hostname=sys.argv[3])
    t.sendall(sys.argv[2].encode("utf-8"))
    out = b""
    while b"\\r\\n" not in out:
        d = t.recv(65536)
        if not d: break
        out += d
    print(out.decode("latin1").split("\\r\\n")[0] or "closed")
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("closed")`;
    const p = Bun.spawn(["python3", "-c", py, ca, raw, sni], { stdout: "pipe", stderr: "pipe" });
    return (await new Response(p.stdout).text()).trim() + (await new Response(p.stderr).text());
  }
  const H = () => `Host: localhost:${tlsOrigin.port}`;

  test("a GET passes (the control case)", async () => {
    expect(await inside(`GET /ok HTTP/1.1\r\n${H()}\r\nConnection: close\r\n\r\n`)).toBe("HTTP/1.1 200 OK");
  });
  test.each([
    ["D39 another Host", () => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${tlsOrigin.port}\r\n\r\n`, "HTTP/1.1 400 Bad Request"],
    ["D40 absolute-form to another host", () => `GET https://evil.test/ HTTP/1.1\r\n${H()}\r\n\r\n`, "HTTP/1.1 400 Bad Request"],
    ["D43 smuggling inside (CL+TE)", () => `GET / HTTP/1.1\r\n${H()}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, "HTTP/1.1 400 Bad Request"],
    ["D50 CONNECT inside", () => `CONNECT evil.test:443 HTTP/1.1\r\n${H()}\r\n\r\n`, "HTTP/1.1 405 Method Not Allowed"],
    ["E51 WebSocket upgrade", () => `GET / HTTP/1.1\r\n${H()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
    ["E51 h2c upgrade", () => `GET / HTTP/1.1\r\n${H()}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
    ["E52 method override", () => `GET / HTTP/1.1\r\n${H()}\r\nX-HTTP-Method-Override: DELETE\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
    ["E53 body on GET", () => `GET / HTTP/1.1\r\n${H()}\r\nContent-Length: 4\r\n\r\ndata`, "HTTP/1.1 403 Forbidden"],
    ["E53 body on OPTIONS", () => `OPTIONS / HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
    ["E56 HTTP/2 prior knowledge inside TLS", () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"],
    ["POST", () => `POST / HTTP/1.1\r\n${H()}\r\nContent-Length: 1\r\n\r\nx`, "HTTP/1.1 403 Forbidden"],
  ])("%s", async (_id, raw, first) => {
    expect(await inside(raw())).toBe(first);
  });
  test.each(["2130706433", "127.1", "0x7f.1", "[::ffff:127.0.0.1]", "localhost.evil.test", "evil.test", "ｅｖｉｌ.test"])(
    "A/B spelling %s: as the inner Host it is a host mismatch; as a CONNECT target it is judged before any certificate",
    async (spelling) => {
      const first = await inside(`GET / HTTP/1.1\r\nHost: ${spelling}:${tlsOrigin.port}\r\n\r\n`);
      expect(first).toBe("HTTP/1.1 400 Bad Request");
      const before = (await (await fetch(`http://127.0.0.1:${limited.admin}/metrics`)).text()).match(/decision="mitm",protocol="http-connect"\} (\d+)/)?.[1] ?? "0";
      const r = await rawRequest(limited.http, Buffer.from(`CONNECT ${spelling}:${tlsOrigin.port} HTTP/1.1\r\n\r\n`));
      expect([400, 403]).toContain(r.status);
      const after = (await (await fetch(`http://127.0.0.1:${limited.admin}/metrics`)).text()).match(/decision="mitm",protocol="http-connect"\} (\d+)/)?.[1] ?? "0";
      expect(after).toBe(before); // no tunnel was intercepted, so no certificate was minted
    },
  );

  test("D41 SNI differing from the CONNECT host: the tunnel is closed and recorded", async () => {
    expect(await inside(`GET / HTTP/1.1\r\n${H()}\r\n\r\n`, "evil.test")).toBe("closed");
    expect((await lastBlock(limited))?.reason).toBe("sni_mismatch");
  });
  test("D47 CONNECT then a non-TLS protocol: nothing is relayed", async () => {
    using c = await RawClient.connect(limited.http);
    c.send(`CONNECT localhost:${tlsOrigin.port} HTTP/1.1\r\n\r\n`);
    await c.bytes(39);
    c.send(`POST / HTTP/1.1\r\n${H()}\r\nContent-Length: 1\r\n\r\nx`);
    await c.closedPromise;
  });
  test("E55 SOCKS5 in limited mode: CONNECT refused (0x02), BIND and UDP ASSOCIATE refused (0x07)", async () => {
    for (const [cmd, rep] of [
      [1, 2],
      [2, 7],
      [3, 7],
    ] as const) {
      using c = await RawClient.connect(limited.socks);
      c.send(Uint8Array.of(5, 1, 0, 5, cmd, 0, 1, 127, 0, 0, 1, P >> 8, P & 255));
      expect((await c.bytes(12))[3]).toBe(rep);
    }
    expect(origin.connections).toBe(0);
  });
});
