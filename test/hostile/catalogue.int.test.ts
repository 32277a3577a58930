/**
 * The bypass catalogue (peers-and-bypasses.md, items A-E) end to end, against a real proxy
 * process (the compiled binary when CNP_BINARY is set, else `bun src/main.ts`): every spelling
 * through every entry point that can carry it (absolute-form URL, Host header, CONNECT, SOCKS5
 * with each address type, inside a MITM tunnel), asserting
 *  - the answer (status and `x-proxy-error`, or the SOCKS5 reply code);
 *  - the block it caused: read from GET /blocked?since=ID with the id taken just before the
 *    request, so exactly one new event, with the expected host, port, reason, protocol and
 *    method, must belong to this request (a malformed request must record none);
 *  - that the origin (loopback listeners that count connections, TLS handshakes and requests)
 *    saw nothing, or, for controls, exactly the one request.
 * The DNS items (C26-C28, C31 by name, C33, C34, B17 allow side) run a proxy in a private mount
 * namespace whose /etc/hosts and resolv.conf point at a DNS server the test controls on
 * loopback (test/helpers/isolated-dns.ts); they are skipped where that needs privileges the
 * machine does not give. Items the proxy cannot see (F, and exfiltration inside allowed GETs)
 * are documented in README's Security section instead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { CliProcess, ProxyProcess } from "../helpers/cli.ts";
import { FakeDns, ipv6Bytes, QTYPE } from "../helpers/isolated-dns.ts";
import { RawOrigin } from "../helpers/origin.ts";
import { RawClient, rawRequest } from "../helpers/raw.ts";
import { makeTestPki } from "../../scripts/lib/pki.ts";
import { CountingTlsOrigin } from "../helpers/tls-origin.ts";
import { tlsThroughConnect, type TunnelOptions, type TunnelResult } from "../helpers/tls-tunnel.ts";

/** A counting loopback origin on 127.0.0.1; every catalogue target points at its port. */
let origin: RawOrigin;
let P = 0;
/** A second counting origin on 127.0.0.2 at the same port: what a rebound or second DNS answer reaches. */
const origin2 = { connections: 0, stop: () => {} };

type Running = ProxyProcess;
let proxy: Running;
let limited: Running;
let tlsOrigin: CountingTlsOrigin;
let mitmCa = "";

/** Controlled DNS (root + unshare only). */
const DNS_OK = FakeDns.available();
let dns: FakeDns;
/** Allowlist of names under dns.test and the catalogue's names; resolves through `dns`. */
let iso: Running;
/** Like `iso`, and 127.0.0.1 is explicitly allowlisted: a name answering only 127.0.0.1 is allowed. */
let pinned: Running;

const running: Running[] = [];

async function start(extra: string[], wrap?: (argv: string[]) => string[]): Promise<Running> {
  const r = await ProxyProcess.start({ config: ['network_proxy.admin_token="catalogue-token-0123456789"', ...extra], ...(wrap ? { wrap } : {}) });
  running.push(r);
  return r;
}

/** Bind a counting listener on 127.0.0.2 at `port`; false when that port is taken there. */
function listenOn127002(port: number): boolean {
  try {
    const l = Bun.listen({
      hostname: "127.0.0.2",
      port,
      socket: {
        open: (s) => {
          origin2.connections++;
          s.write("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nREACHED-2");
        },
        data: () => {},
      },
    });
    origin2.stop = () => l.stop(true);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  // The same port free on 127.0.0.2 too, where the system has that address (Linux does). Where it
  // does not, a proxy dialing there gets a refused connection (502), which the tests catch too.
  for (let i = 0; ; i++) {
    origin = new RawOrigin((c) => {
      c.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nREACHED");
    });
    if (listenOn127002(origin.port) || i === 5) break;
    origin[Symbol.dispose]();
  }
  P = origin.port;
  const pki = await makeTestPki();
  const leaf = await pki.issue(["allowed.localhost", "localhost"]);
  tlsOrigin = new CountingTlsOrigin(leaf);
  // "*" allows every public target, so only the local-network protection (and the denylist) can stop the spellings.
  proxy = await start([
    'network_proxy.policy.allowed_domains=["*", "allowed.localhost"]',
    'network_proxy.policy.denied_domains=["evil.test", "*.evil.test", "bücher.idn.invalid", "xn--mnchen-3ya.idn.invalid"]',
  ]);
  limited = await start([
    'network_proxy.policy.allowed_domains=["allowed.localhost", "localhost"]',
    "network_proxy.mode=limited",
    "network_proxy.mitm.enabled=true",
    `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`,
  ]);
  mitmCa = await Bun.file(join(limited.home, "network_proxy/mitm/ca.pem")).text();
  if (DNS_OK) {
    dns = await FakeDns.start("127.0.0.1 localhost\n::1 localhost\n127.0.0.1 hosts-loop.dns.test\n");
    const wrap = (a: string[]) => dns.wrap(a);
    iso = await start(
      [
        'network_proxy.policy.allowed_domains=["**.dns.test", "lvh.me", "*.nip.io", "metadata.google.internal"]',
        'network_proxy.policy.denied_domains=["**.denied.dns.test"]',
      ],
      wrap,
    );
    pinned = await start(['network_proxy.policy.allowed_domains=["**.pin.test", "bücher.idn.test", "xn--mnchen-3ya.idn.test", "127.0.0.1"]'], wrap);
  }
});

afterAll(async () => {
  for (const r of running) await r[Symbol.asyncDispose]();
  origin?.[Symbol.dispose]();
  origin2.stop();
  tlsOrigin?.[Symbol.dispose]();
  if (DNS_OK) dns?.close();
});

// ------------------------------------------------------------------ blocked events

interface Ev {
  host: string;
  port: number | null;
  reason: string;
  protocol: string;
  method: string | null;
}

/** The id of the newest event so far (the next request's event, if any, gets a larger one). */
async function lastId(p: Running): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${p.admin}/blocked?since=999999999999999`);
  return ((await r.json()) as { last_id: number }).last_id;
}

/** Events recorded after `since`, oldest first, with the fields the assertions compare. */
async function eventsSince(p: Running, since: number): Promise<Ev[]> {
  const r = await fetch(`http://127.0.0.1:${p.admin}/blocked?since=${since}`);
  const j = (await r.json()) as { blocked: Ev[] };
  return j.blocked.map((e) => ({ host: e.host, port: e.port, reason: e.reason, protocol: e.protocol, method: e.method }));
}

/** Run `fn` and return what it returned, with the blocked events it (and only it) caused. */
async function recorded<T>(p: Running, fn: () => Promise<T>): Promise<{ value: T; events: Ev[] }> {
  const since = await lastId(p);
  const value = await fn();
  return { value, events: await eventsSince(p, since) };
}

const HEADER: Record<string, string> = {
  not_allowed: "blocked-by-allowlist",
  not_allowed_local: "blocked-by-allowlist",
  denied: "blocked-by-denylist",
  own_listener: "blocked-by-policy",
  sni_mismatch: "blocked-by-policy",
  method_not_allowed: "blocked-by-method-policy",
};

// ------------------------------------------------------------------ entry points

type Entry = "absolute-form" | "host-header" | "connect" | "socks5-domain" | "socks5-ipv4" | "socks5-ipv6";
const PROTOCOL: Record<Entry, string> = {
  "absolute-form": "http",
  "host-header": "http",
  connect: "http-connect",
  "socks5-domain": "socks5",
  "socks5-ipv4": "socks5",
  "socks5-ipv6": "socks5",
};
const METHOD: Record<Entry, string | null> = {
  "absolute-form": "GET",
  "host-header": "GET",
  connect: "CONNECT",
  "socks5-domain": null,
  "socks5-ipv4": null,
  "socks5-ipv6": null,
};
const HTTP_ENTRIES: Entry[] = ["absolute-form", "host-header", "connect"];
const NAME_ENTRIES: Entry[] = [...HTTP_ENTRIES, "socks5-domain"];
const isSocks = (e: Entry) => e.startsWith("socks5");

/** What came back: HTTP status and x-proxy-error, or the SOCKS5 REP byte; and the origin's answer when a path opened. */
interface Outcome {
  code: number;
  error: string | null;
  reached: string | null;
}

/**
 * Send `host` (as spelled) to `port` through one entry point of `p`. Heads go out as UTF-8 bytes,
 * the way a client would put a Unicode name on the wire. When the proxy opens the way (200 to a
 * request or CONNECT, SOCKS5 success), the origin's greeting is read, so `reached` says who answered.
 */
async function through(p: Running, entry: Entry, host: string, port = P): Promise<Outcome> {
  const authority = `${host}:${port}`;
  switch (entry) {
    case "absolute-form":
    case "host-header": {
      const head = entry === "absolute-form" ? `GET http://${authority}/ HTTP/1.1\r\nHost: x\r\n\r\n` : `GET / HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
      const r = await rawRequest(p.http, Buffer.from(head));
      return { code: r.status, error: r.headers["x-proxy-error"] ?? null, reached: r.status === 200 ? r.body.toString() : null };
    }
    case "connect": {
      using c = await RawClient.connect(p.http);
      c.send(Buffer.from(`CONNECT ${authority} HTTP/1.1\r\n\r\n`));
      const r = await c.response({ head: true });
      return { code: r.status, error: r.headers["x-proxy-error"] ?? null, reached: r.status === 200 ? (await c.response()).body.toString() : null };
    }
    default: {
      using c = await RawClient.connect(p.socks);
      let req: number[];
      // DOMAINNAME carries the spelling as is (brackets too); ATYP 1 and 4 carry the address bytes.
      const name = Buffer.from(host);
      if (entry === "socks5-domain") req = [5, 1, 0, 3, name.length, ...name];
      else if (entry === "socks5-ipv4") req = [5, 1, 0, 1, ...host.split(".").map(Number)];
      else req = [5, 1, 0, 4, ...ipv6Bytes(host.startsWith("[") ? host.slice(1, -1) : host)];
      c.send(Uint8Array.from([5, 1, 0, ...req, port >> 8, port & 255]));
      const rep = (await c.bytes(12))[3]!;
      return { code: rep, error: null, reached: rep === 0 ? (await c.response()).body.toString() : null };
    }
  }
}

/**
 * The canonical host a spelling means, by the WHATWG URL parser for http: (IPv4 spellings to a
 * dotted quad, IDNA, lowercase), without a trailing dot, IPv4-mapped IPv6 folded to IPv4.
 */
function canon(spelling: string): string {
  const inUrl = !spelling.startsWith("[") && spelling.includes(":") ? `[${spelling}]` : spelling;
  const h = new URL(`http://${inUrl}/`).hostname;
  if (!h.startsWith("[")) return h.endsWith(".") ? h.slice(0, -1) : h;
  const v6 = h.slice(1, -1);
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!m) return v6;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function reachedCounts(): { origin: number; origin2: number } {
  return { origin: origin.connections, origin2: origin2.connections };
}

/** Blocked through each entry point: 403 (or SOCKS5 0x02) with the reason's header, exactly one matching event, no origin contact. */
async function expectBlocked(p: Running, spelling: string, entries: Entry[], reason: string, host = canon(spelling), port = P): Promise<void> {
  for (const e of entries) {
    const label = `${JSON.stringify(spelling)} via ${e}`;
    const before = reachedCounts();
    const { value: got, events } = await recorded(p, () => through(p, e, spelling, port));
    expect({ label, code: got.code, error: got.error, events }).toEqual({
      label,
      code: isSocks(e) ? 2 : 403,
      error: isSocks(e) ? null : HEADER[reason]!,
      events: [{ host, port, reason, protocol: PROTOCOL[e], method: METHOD[e] }],
    });
    expect({ label, reached: reachedCounts() }).toEqual({ label, reached: before });
  }
}

/** Refused as malformed through each entry point: 400 (or SOCKS5 0x04), nothing recorded, no origin contact. */
async function expectInvalid(p: Running, spelling: string, entries: Entry[], port = P): Promise<void> {
  for (const e of entries) {
    const label = `${JSON.stringify(spelling)} via ${e}`;
    const before = reachedCounts();
    const { value: got, events } = await recorded(p, () => through(p, e, spelling, port));
    const error = got.error === "bad-target" || got.error === "bad-request" ? "bad-target|bad-request" : got.error;
    expect({ label, code: got.code, error, events }).toEqual({
      label,
      code: isSocks(e) ? 4 : 400,
      error: isSocks(e) ? null : "bad-target|bad-request",
      events: [],
    });
    expect({ label, reached: reachedCounts() }).toEqual({ label, reached: before });
  }
}

/** Allowed through each entry point, and it was the 127.0.0.1 origin (never the 127.0.0.2 one) that answered. */
async function expectReached(p: Running, spelling: string, entries: Entry[]): Promise<void> {
  for (const e of entries) {
    const label = `${JSON.stringify(spelling)} via ${e}`;
    const before = reachedCounts();
    const { value: got, events } = await recorded(p, () => through(p, e, spelling));
    expect({ label, code: got.code, reached: got.reached, events }).toEqual({ label, code: isSocks(e) ? 0 : 200, reached: "REACHED", events: [] });
    expect({ label, reached: reachedCounts() }).toEqual({ label, reached: { origin: before.origin + 1, origin2: before.origin2 } });
  }
}

/** One raw request on a fresh connection to `p`: status, x-proxy-error, the events it caused and whether the origin was reached. */
async function exchange(p: Running, raw: string | Uint8Array): Promise<{ status: number; error: string | null; events: Ev[]; reached: number }> {
  const before = origin.connections + origin2.connections;
  const { value: r, events } = await recorded(p, () => rawRequest(p.http, typeof raw === "string" ? Buffer.from(raw) : raw));
  return { status: r.status, error: r.headers["x-proxy-error"] ?? null, events, reached: origin.connections + origin2.connections - before };
}

const ev = (host: string, reason: string, protocol: string, method: string | null, port: number | null = P): Ev => ({ host, port, reason, protocol, method });

// ------------------------------------------------------------------ A

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
    await expectBlocked(proxy, spelling, NAME_ENTRIES, "not_allowed_local");
    // SOCKS5 ATYP 1 carries the address itself: send the bytes the spelling means.
    await expectBlocked(proxy, canon(spelling), ["socks5-ipv4"], "not_allowed_local");
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
    ["A9 local-use NAT64, /48 layout", "[64:ff9b:1:7f00:0:100::]"],
    ["A7 SIIT (IPv4-translated) loopback", "[::ffff:0:7f00:1]"],
    ["A10 ISATAP (global prefix) embedding loopback", "[2600::5efe:7f00:1]"],
    ["A10 ISATAP (u bit) embedding a private address", "[2600::200:5efe:a00:1]"],
    ["A10 6to4 loopback", "[2002:7f00:1::]"],
    ["A10 6to4 metadata", "[2002:a9fe:a9fe::]"],
    ["A10 Teredo (client 127.0.0.1)", "[2001:0:4136:e378:8000:63bf:80ff:fffe]"],
    ["loopback", "[::1]"],
  ])("%s: %s", async (_id, spelling) => {
    await expectBlocked(proxy, spelling, v6, "not_allowed_local");
    // SOCKS5 DOMAINNAME carries no port, so a bare IPv6 literal there is unambiguous.
    await expectBlocked(proxy, spelling.slice(1, -1), ["socks5-domain"], "not_allowed_local");
  });

  test("A11 zone ids are refused through every entry point, including the suffix trick against *.allowed", async () => {
    await expectInvalid(proxy, "[fe80::1%25eth0]", HTTP_ENTRIES);
    await expectInvalid(proxy, "[::ffff:1.2.3.4%25x.allowed.localhost]", HTTP_ENTRIES);
    await expectInvalid(proxy, "fe80::1%eth0", ["socks5-domain"]);
    await expectInvalid(proxy, "[fe80::1%eth0]", ["socks5-domain"]);
    await expectInvalid(proxy, "::ffff:1.2.3.4%x.allowed.localhost", ["socks5-domain"]);
  });
  test("A12 brackets around a name are refused through every entry point", async () => {
    await expectInvalid(proxy, "[example.com]", NAME_ENTRIES);
    await expectInvalid(proxy, "[allowed.localhost]", NAME_ENTRIES);
  });
  test("A13 an IPv6 literal without brackets is refused where a port follows, judged as the address in SOCKS5", async () => {
    // CONNECT 2001:db8::1:443 could be [2001:db8::1]:443 or [2001:db8::1:443] with no port.
    await expectInvalid(proxy, "2001:db8::1", HTTP_ENTRIES, 443);
    await expectInvalid(proxy, "::ffff:127.0.0.1", HTTP_ENTRIES);
    await expectBlocked(proxy, "2001:db8::1", ["socks5-domain"], "not_allowed_local");
  });
});

// ------------------------------------------------------------------ B

describe("B. name spellings are judged as the canonical name", () => {
  test.each([
    ["B14 trailing dot", "evil.test."],
    ["B15 case", "EVIL.TEST"],
    ["B15 case and trailing dot, wildcard entry", "A.B.Evil.Test."],
    ["wildcard denylist, any depth", "a.b.evil.test"],
  ])("%s: %s is denied", async (_id, spelling) => {
    await expectBlocked(proxy, spelling, NAME_ENTRIES, "denied");
  });
  test("B16/B17 full-width and Unicode spellings: IDNA in SOCKS5 names and in percent-encoded URLs, refused as raw bytes in HTTP heads", async () => {
    await expectBlocked(proxy, "ｅｖｉｌ.test", ["socks5-domain"], "denied", "evil.test");
    await expectInvalid(proxy, "ｅｖｉｌ.test", HTTP_ENTRIES);
    const r = await exchange(proxy, `GET http://%EF%BD%85%EF%BD%96%EF%BD%89%EF%BD%8C.test:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r).toEqual({ status: 403, error: "blocked-by-denylist", events: [ev("evil.test", "denied", "http", "GET")], reached: 0 });
  });
  test("B16 percent-encoding in absolute-form is decoded (and refused elsewhere)", async () => {
    const r = await exchange(proxy, `GET http://ev%69l.test:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r).toEqual({ status: 403, error: "blocked-by-denylist", events: [ev("evil.test", "denied", "http", "GET")], reached: 0 });
    await expectInvalid(proxy, "ev%69l.test", ["host-header", "connect", "socks5-domain"]);
  });
  describe("B17 IDN and punycode are one name, whichever way the rule is written", () => {
    // The denylist holds "bücher.idn.invalid" (Unicode) and "xn--mnchen-3ya.idn.invalid" (punycode).
    test.each([
      ["punycode request, Unicode deny entry", "xn--bcher-kva.idn.invalid", NAME_ENTRIES],
      ["punycode request in upper case", "XN--BCHER-KVA.idn.invalid", NAME_ENTRIES],
      ["Unicode request, Unicode deny entry (SOCKS5)", "bücher.idn.invalid", ["socks5-domain"]],
      ["Unicode request in upper case (SOCKS5)", "BÜCHER.idn.invalid", ["socks5-domain"]],
      ["Unicode request, punycode deny entry (SOCKS5)", "münchen.idn.invalid", ["socks5-domain"]],
      ["punycode request, punycode deny entry", "xn--mnchen-3ya.idn.invalid", NAME_ENTRIES],
      ["percent-encoded UTF-8 in absolute-form, Unicode deny entry", "b%C3%BCcher.idn.invalid", ["absolute-form"]],
      ["percent-encoded UTF-8 in absolute-form, punycode deny entry", "m%C3%BCnchen.idn.invalid", ["absolute-form"]],
    ] as Array<[string, string, Entry[]]>)("%s: %s", async (_id, spelling, entries) => {
      await expectBlocked(proxy, spelling, entries, "denied", canon(decodeURIComponent(spelling)));
    });
    test("raw Unicode in an HTTP head is refused, not guessed at", async () => {
      await expectInvalid(proxy, "bücher.idn.invalid", HTTP_ENTRIES);
      await expectInvalid(proxy, "münchen.idn.invalid", HTTP_ENTRIES);
    });
  });
  test("B18 suffix tricks and B19 unescaped dots are not matches, through every entry point", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["allowed.test", "**.api.github.test"]']);
    for (const h of [
      "allowed.test.evil.test",
      "evil-allowed.test",
      "evilallowed.test",
      "xallowed.test",
      "allowed.testx",
      "apiXgithubYtest",
      "api-github.test",
      "api.github.test.evil.test",
      "apixgithub.test",
    ]) {
      await expectBlocked(p, h, NAME_ENTRIES, "not_allowed");
    }
  });
  test("B20 wildcard scope: *.x does not match the apex; * in the denylist is a config error", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["*.scope.localhost"]']);
    await expectBlocked(p, "scope.localhost", NAME_ENTRIES, "not_allowed_local");
    const bad = new CliProcess(["check", "-c", 'network_proxy.policy.denied_domains=["*"]'], { CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-cat-")) });
    expect(await bad.proc.exited).toBe(1);
    expect(bad.stderr).toContain('global wildcard "*" is not supported in denied_domains');
  });
  test("B21 a port smuggled inside a host is refused through every entry point", async () => {
    await expectInvalid(proxy, "evil.test:443.allowed.localhost", NAME_ENTRIES);
    await expectInvalid(proxy, "allowed.localhost:443.evil.test", NAME_ENTRIES);
    // SOCKS5 carries the port apart, so a colon in the name can only be a smuggling attempt.
    await expectInvalid(proxy, "allowed.localhost:443", ["socks5-domain"]);
  });
  test.each([
    ["CR LF header injection", "allowed.localhost\r\nX-Injected: 1"],
    ["NUL truncation", "allowed.localhost\0.evil.test"],
    ["lone LF", "allowed.localhost\n.evil.test"],
    ["tab", "allowed.localhost\t.evil.test"],
    ["space", "allowed.localhost .evil.test"],
  ])("B22 %s in a host is refused through every entry point", async (_id, spelling) => {
    // Through "*" a truncated allowed.localhost would be not_allowed_local (403): 400 proves the whole host was refused.
    await expectInvalid(proxy, spelling, ["socks5-domain"]);
    const raws = [`CONNECT ${spelling}:${P} HTTP/1.1\r\n\r\n`, `GET http://${spelling}:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`];
    // In a Host header, CR LF just ends the field: the client writes the whole head anyway, so there is nothing to inject.
    if (!spelling.includes("\r\n")) raws.push(`GET / HTTP/1.1\r\nHost: ${spelling}:${P}\r\n\r\n`);
    for (const raw of raws) {
      const r = await exchange(proxy, raw);
      expect({ raw, status: r.status, events: r.events, reached: r.reached }).toEqual({ raw, status: 400, events: [], reached: 0 });
    }
  });
  test.each([
    ["%00 NUL", "allowed.localhost%00.evil.test"],
    ["%0d%0a CR LF", "allowed.localhost%0d%0aX-Injected:%201"],
    ["%20 space", "allowed.localhost%20.evil.test"],
  ])("B22 percent-encoded %s in an absolute-form host is refused", async (_id, spelling) => {
    const r = await exchange(proxy, `GET http://${spelling}:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect({ status: r.status, events: r.events, reached: r.reached }).toEqual({ status: 400, events: [], reached: 0 });
    await expectInvalid(proxy, spelling, ["host-header", "connect", "socks5-domain"]);
  });
  test("B23 bad ports are refused, in CONNECT, absolute-form and Host", async () => {
    for (const port of ["65979", "0", "-1", "007", "91337", "https", "+80", "8O"]) {
      for (const raw of [
        `CONNECT allowed.localhost:${port} HTTP/1.1\r\n\r\n`,
        `GET http://allowed.localhost:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
        `GET / HTTP/1.1\r\nHost: allowed.localhost:${port}\r\n\r\n`,
      ]) {
        const r = await exchange(proxy, raw);
        expect({ raw, status: r.status, events: r.events, reached: r.reached }).toEqual({ raw, status: 400, events: [], reached: 0 });
      }
    }
  });
  test("B24 a CONNECT authority is parsed as http:, not as an opaque scheme", async () => {
    for (const s of ["0x7f.1", "2130706433", "0177.1"]) await expectBlocked(proxy, s, ["connect"], "not_allowed_local", "127.0.0.1");
    await expectBlocked(proxy, "EVIL.test", ["connect"], "denied", "evil.test");
  });
  test("B25 userinfo, backslash and fragment confusion in absolute-form are refused", async () => {
    for (const u of [
      `http://allowed.localhost@127.0.0.1:${P}/`,
      `http://allowed.localhost\\@127.0.0.1:${P}/`,
      `http://127.0.0.1:${P}#@allowed.localhost/`,
      `http://allowed.localhost:${P}\\@evil.test/`,
    ]) {
      const r = await exchange(proxy, `GET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect({ u, status: r.status, events: r.events, reached: r.reached }).toEqual({ u, status: 400, events: [], reached: 0 });
    }
    const r = await exchange(proxy, `CONNECT allowed.localhost@127.0.0.1:${P} HTTP/1.1\r\n\r\n`);
    expect({ status: r.status, events: r.events, reached: r.reached }).toEqual({ status: 400, events: [], reached: 0 });
  });
});

// ------------------------------------------------------------------ C

/** Names in the machine's /etc/hosts whose every address is loopback (other than localhost names). */
function loopbackHostsNames(): string[] {
  let text = "";
  try {
    text = readFileSync("/etc/hosts", "utf8");
  } catch {
    return [];
  }
  const byName = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const [addr, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (!addr) continue;
    for (const n of names) byName.set(n.toLowerCase(), [...(byName.get(n.toLowerCase()) ?? []), addr]);
  }
  return [...byName]
    .filter(
      ([n, addrs]) => n !== "localhost" && !n.endsWith(".localhost") && /^[a-z0-9.-]+$/.test(n) && addrs.every((a) => a.startsWith("127.") || a === "::1"),
    )
    .map(([n]) => n);
}

/** This machine's own (non-loopback) interface addresses. */
function ownAddresses(): Array<{ family: "IPv4" | "IPv6"; address: string }> {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && !i.internal)
    .map((i) => ({ family: i!.family as "IPv4" | "IPv6", address: i!.address }));
}

describe("C. DNS and destination", () => {
  test("C27/C35 names that are loopback by definition: localhost., foo.localhost", async () => {
    await expectBlocked(proxy, "localhost.", NAME_ENTRIES, "not_allowed_local");
    await expectBlocked(proxy, "foo.localhost", NAME_ENTRIES, "not_allowed_local");
    await expectBlocked(proxy, "FOO.LOCALHOST.", NAME_ENTRIES, "not_allowed_local");
  });
  const hostsNames = loopbackHostsNames();
  test.skipIf(hostsNames.length === 0)(
    `C27 names the system's /etc/hosts points at loopback (${hostsNames.join(", ") || "none here"}), allowed by "*"`,
    async () => {
      for (const n of hostsNames) await expectBlocked(proxy, n, NAME_ENTRIES, "not_allowed_local");
    },
  );
  test("C29 the proxy's own listeners, by any spelling, through every entry point", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["*", "127.0.0.1", "localhost"]', "network_proxy.policy.allow_local_binding=true"]);
    const cases: Array<[string, number, Entry[]]> = [
      ["127.0.0.1", p.admin, [...NAME_ENTRIES, "socks5-ipv4"]],
      ["localhost", p.admin, NAME_ENTRIES],
      ["2130706433", p.http, NAME_ENTRIES],
      ["0", p.socks, NAME_ENTRIES],
      ["0x7f.1", p.socks, NAME_ENTRIES],
      ["[::ffff:127.0.0.1]", p.admin, [...HTTP_ENTRIES, "socks5-ipv6"]],
    ];
    for (const [spelling, port, entries] of cases) await expectBlocked(p, spelling, entries, "own_listener", canon(spelling), port);
  });
  test("C29 an admin listener bound by an IPv4-mapped spelling ([::ffff:0.0.0.0]) is still the proxy's own", async () => {
    await using p = await start([
      'network_proxy.policy.allowed_domains=["*", "127.0.0.1", "localhost"]',
      "network_proxy.policy.allow_local_binding=true",
      'network_proxy.admin_url="http://[::ffff:0.0.0.0]:0"',
      "network_proxy.dangerously_allow_non_loopback_admin=true",
    ]);
    await expectBlocked(p, "127.0.0.1", [...NAME_ENTRIES, "socks5-ipv4"], "own_listener", "127.0.0.1", p.admin);
    await expectBlocked(p, "localhost", NAME_ENTRIES, "own_listener", "localhost", p.admin);
  });
  const own = ownAddresses();
  test.skipIf(own.length === 0)(`C30 the host's own interface addresses are local (${own.map((a) => a.address).join(", ") || "none here"})`, async () => {
    for (const a of own) {
      if (a.family === "IPv4") {
        await expectBlocked(proxy, a.address, [...NAME_ENTRIES, "socks5-ipv4"], "not_allowed_local");
      } else {
        await expectBlocked(proxy, `[${a.address}]`, [...HTTP_ENTRIES, "socks5-ipv6"], "not_allowed_local");
        await expectBlocked(proxy, a.address, ["socks5-domain"], "not_allowed_local");
      }
    }
  });
  test.each([
    ["C31 AWS/GCP metadata", "169.254.169.254"],
    ["C31 Alibaba metadata", "100.100.100.200"],
    ["C31 Azure WireServer", "168.63.129.16"],
    ["C31 AWS IPv6 metadata", "[fd00:ec2::254]"],
    ["C32 CGNAT", "100.64.0.1"],
    ["C32 CGNAT top", "100.127.255.254"],
    ["C32 TEST-NET-1", "192.0.2.1"],
    ["C32 TEST-NET-2", "198.51.100.1"],
    ["C32 TEST-NET-3", "203.0.113.1"],
    ["C32 benchmarking", "198.18.0.1"],
    ["C32 benchmarking top", "198.19.255.254"],
    ["C32 reserved", "240.0.0.1"],
    ["C32 multicast", "224.0.0.1"],
    ["C32 broadcast", "255.255.255.255"],
    ["C32 IPv6 multicast", "[ff02::1]"],
    ["C32 IPv6 documentation", "[2001:db8::1]"],
    ["RFC 1918", "192.168.1.1"],
    ["IPv6 unique local", "[fc00::1]"],
  ])("%s: %s, through every entry point", async (_id, spelling) => {
    const v6 = spelling.startsWith("[");
    await expectBlocked(proxy, spelling, [...HTTP_ENTRIES, v6 ? "socks5-ipv6" : "socks5-ipv4"], "not_allowed_local");
    await expectBlocked(proxy, v6 ? spelling.slice(1, -1) : spelling, ["socks5-domain"], "not_allowed_local");
  });
  test("C33 an allowed name that does not resolve fails closed (502 dns-failed), nothing recorded or dialed", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["does-not-resolve.invalid"]']);
    const r = await exchange(p, `CONNECT does-not-resolve.invalid:${P} HTTP/1.1\r\n\r\n`);
    expect(r).toEqual({ status: 502, error: "dns-failed", events: [], reached: 0 });
  });
  test("C36 a denied IPv4 address is denied in every IPv6 spelling that embeds it (SIIT, NAT64, local-use NAT64, 6to4, ISATAP)", async () => {
    await using p = await start([
      'network_proxy.policy.allowed_domains=["*"]',
      'network_proxy.policy.denied_domains=["8.8.8.8"]',
      "network_proxy.policy.allow_local_binding=true",
    ]);
    for (const spelling of [
      "[::ffff:0:808:808]",
      "[64:ff9b::808:808]",
      "[64:ff9b:1::808:808]",
      "[64:ff9b:1:808:8:800::]",
      "[2002:808:808::1]",
      "[2600::5efe:808:808]",
      "[2600::200:5efe:808:808]",
    ]) {
      await expectBlocked(p, spelling, [...HTTP_ENTRIES, "socks5-ipv6"], "denied");
    }
  });
  test("C36 a wide allowlist CIDR (0.0.0.0/0, 2000::/3, 10.0.0.0/7) allows public addresses but unlocks no local one; one inside a private range does", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["0.0.0.0/0", "2000::/3", "10.0.0.0/7"]']);
    expect(p.stderr).toMatch(/allowed_domains\[0\]: "0\.0\.0\.0\/0": allows every public address in a block wider than \/8/);
    expect(p.stderr).toMatch(/allowed_domains\[1\]: "2000::\/3": allows every public address in a block wider than \/32/);
    for (const spelling of ["127.0.0.1", "10.0.0.1", "169.254.169.254", "168.63.129.16"]) {
      await expectBlocked(p, spelling, [...HTTP_ENTRIES, "socks5-ipv4"], "not_allowed_local");
    }
    await expectBlocked(p, "[::1]", [...HTTP_ENTRIES, "socks5-ipv6"], "not_allowed_local");
    await expectBlocked(p, "[fe80::1]", [...HTTP_ENTRIES, "socks5-ipv6"], "not_allowed_local");
    // A block inside the loopback range unlocks it.
    await using inside = await start(['network_proxy.policy.allowed_domains=["0.0.0.0/0", "127.0.0.0/8"]']);
    for (const e of [...HTTP_ENTRIES, "socks5-ipv4"] as Entry[]) expect((await through(inside, e, "127.0.0.1")).reached).toBe("REACHED");
  });
  test("C36 an IPv4-mapped CIDR in the config is refused instead of meaning 0.0.0.0/0", async () => {
    const c = new CliProcess(["check", "-c", 'network_proxy.policy.allowed_domains=["::ffff:0:0/96"]'], {
      CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-cat-")),
    });
    expect(await c.proc.exited).toBe(1);
    expect(c.stderr).toContain("covers IPv4-mapped addresses");
    const all = new CliProcess(["check", "-c", 'network_proxy.policy.allowed_domains=["::/0"]'], { CODEX_HOME: mkdtempSync(join(tmpdir(), "cnp-cat-")) });
    expect(await all.proc.exited).toBe(1);
    expect(all.stderr).toContain(
      '"::/0": ::/0 covers IPv4-mapped addresses, which are judged as IPv4; write IPv4 blocks for those, and 2000::/3 for every public IPv6 address',
    );
  });
});

describe.skipIf(!DNS_OK)("C. DNS under the test's control (private mount namespace, loopback DNS server)", () => {
  test("C27 allowlisted names whose DNS points at loopback, metadata or private space", async () => {
    const table: Array<[string, { a?: string[]; aaaa?: string[] }]> = [
      ["lvh.me", { a: ["127.0.0.1"] }],
      ["127.0.0.1.nip.io", { a: ["127.0.0.1"] }],
      ["169.254.169.254.nip.io", { a: ["169.254.169.254"] }],
      ["loop.dns.test", { a: ["127.0.0.1"] }],
      ["private.dns.test", { a: ["10.1.2.3"] }],
      ["v6loop.dns.test", { aaaa: ["::1"] }],
      ["mapped.dns.test", { aaaa: ["::ffff:127.0.0.1"] }],
      ["nat64.dns.test", { aaaa: ["64:ff9b::7f00:1"] }],
      ["sixtofour.dns.test", { aaaa: ["2002:7f00:1::"] }],
      ["ula.dns.test", { aaaa: ["fd00::1"] }],
    ];
    for (const [name, rec] of table) {
      dns.set(name, rec);
      await expectBlocked(iso, name, NAME_ENTRIES, "not_allowed_local");
      expect({ name, queried: dns.count(name) > 0 }).toEqual({ name, queried: true });
    }
    // The same through the namespace's /etc/hosts rather than DNS.
    await expectBlocked(iso, "hosts-loop.dns.test", NAME_ENTRIES, "not_allowed_local");
  });
  test("C28 mixed answers: one bad address among good ones blocks the name outright", async () => {
    // 127.0.0.1 is allowlisted in `pinned`, so a name answering only 127.0.0.1 is allowed (the control);
    // any other local address beside it must block the whole name, not be skipped.
    dns.set("good.pin.test", { a: ["127.0.0.1"] });
    await expectReached(pinned, "good.pin.test", NAME_ENTRIES);
    const table: Array<[string, { a?: string[]; aaaa?: string[] }]> = [
      ["mixed-a.pin.test", { a: ["127.0.0.1", "127.0.0.2"] }],
      ["mixed-b.pin.test", { a: ["127.0.0.2", "127.0.0.1"] }],
      ["mixed-c.pin.test", { a: ["127.0.0.1", "169.254.169.254"] }],
      ["mixed-v6.pin.test", { a: ["127.0.0.1"], aaaa: ["::1"] }],
      ["mixed-mapped.pin.test", { a: ["127.0.0.1"], aaaa: ["::ffff:10.0.0.1"] }],
    ];
    for (const [name, rec] of table) {
      dns.set(name, rec);
      await expectBlocked(pinned, name, NAME_ENTRIES, "not_allowed_local");
    }
  });
  test("C26 DNS rebinding: the proxy dials the address it checked, never a second answer", async () => {
    for (const e of NAME_ENTRIES) {
      // First answer allowed (127.0.0.1), every later one 127.0.0.2, where the other origin listens.
      const name = `rebind-${e}.pin.test`;
      dns.set(name, { a: (nth) => (nth === 0 ? ["127.0.0.1"] : ["127.0.0.2"]) });
      await expectReached(pinned, name, [e]);
      expect({ name, queries: dns.count(name, QTYPE.A) }).toEqual({ name, queries: 1 });
      // And the other way round: a first answer that is refused is not retried into an allowed one.
      const rev = `rebind-rev-${e}.pin.test`;
      dns.set(rev, { a: (nth) => (nth === 0 ? ["127.0.0.2"] : ["127.0.0.1"]) });
      await expectBlocked(pinned, rev, [e], "not_allowed_local");
    }
  });
  test("C30 a name resolving to this host's own interface address is local", async () => {
    const v4 = ownAddresses().filter((a) => a.family === "IPv4");
    const v6 = ownAddresses().filter((a) => a.family === "IPv6");
    if (v4[0]) dns.set("self4.dns.test", { a: [v4[0].address] });
    if (v6[0]) dns.set("self6.dns.test", { aaaa: [v6[0].address] });
    if (v4[0]) await expectBlocked(iso, "self4.dns.test", NAME_ENTRIES, "not_allowed_local");
    if (v6[0]) await expectBlocked(iso, "self6.dns.test", NAME_ENTRIES, "not_allowed_local");
  });
  test("C31 metadata by name: metadata.google.internal (explicitly allowlisted), AWS IPv6, Alibaba", async () => {
    dns.set("metadata.google.internal", { a: ["169.254.169.254"] });
    dns.set("aws-v6.dns.test", { aaaa: ["fd00:ec2::254"] });
    dns.set("alibaba.dns.test", { a: ["100.100.100.200"] });
    for (const n of ["metadata.google.internal", "aws-v6.dns.test", "alibaba.dns.test"]) await expectBlocked(iso, n, NAME_ENTRIES, "not_allowed_local");
  });
  test("C32 names resolving into CGNAT, TEST-NET, benchmarking, reserved, multicast, broadcast", async () => {
    for (const [i, a] of ["100.64.0.1", "192.0.2.1", "198.18.0.1", "240.0.0.1", "224.0.0.1", "255.255.255.255"].entries()) {
      dns.set(`special${i}.dns.test`, { a: [a] });
      await expectBlocked(iso, `special${i}.dns.test`, NAME_ENTRIES, "not_allowed_local");
    }
  });
  test("C33 resolver failure (SERVFAIL, NXDOMAIN, no addresses) fails closed, nothing dialed", async () => {
    dns.set("servfail.dns.test", { rcode: 2 });
    dns.set("empty.dns.test", {});
    for (const name of ["servfail.dns.test", "nxdomain.dns.test", "empty.dns.test"]) {
      for (const e of NAME_ENTRIES) {
        const before = reachedCounts();
        const { value: got, events } = await recorded(iso, () => through(iso, e, name));
        const label = `${name} via ${e}`;
        if (isSocks(e)) expect({ label, code: got.code, events }).toEqual({ label, code: 4, events: [] });
        else expect({ label, code: got.code, error: got.error, events }).toEqual({ label, code: 502, error: "dns-failed", events: [] });
        expect({ label, reached: reachedCounts() }).toEqual({ label, reached: before });
      }
    }
  });
  test("C34 names that are not allowlisted, denied or local by definition are never resolved", async () => {
    const names: Array<[string, string]> = [
      ["mzxw6ytboi.exfil.test", "not_allowed"],
      ["c2VjcmV0LXRva2Vu.attacker.test", "not_allowed"],
      ["secret.denied.dns.test", "denied"],
      ["deep.secret.denied.dns.test", "denied"],
      ["secret.localhost", "not_allowed_local"],
    ];
    for (const [name, reason] of names) {
      dns.set(name, { a: ["127.0.0.1"] }); // an answer would exist if anyone asked
      await expectBlocked(iso, name, NAME_ENTRIES, reason);
      expect({ name, queries: dns.count(name) }).toEqual({ name, queries: 0 });
    }
    // The counter works: an allowlisted name is asked for.
    dns.set("asked.dns.test", { a: ["127.0.0.1"] });
    await expectBlocked(iso, "asked.dns.test", ["connect"], "not_allowed_local");
    expect(dns.count("asked.dns.test")).toBeGreaterThan(0);
  });
  test("B17 an allow entry written in Unicode admits the punycode spelling, and the other way round", async () => {
    dns.set("xn--bcher-kva.idn.test", { a: ["127.0.0.1"] });
    dns.set("xn--mnchen-3ya.idn.test", { a: ["127.0.0.1"] });
    await expectReached(pinned, "xn--bcher-kva.idn.test", NAME_ENTRIES); // entry "bücher.idn.test"
    await expectReached(pinned, "bücher.idn.test", ["socks5-domain"]);
    await expectReached(pinned, "münchen.idn.test", ["socks5-domain"]); // entry "xn--mnchen-3ya.idn.test"
    await expectReached(pinned, "m%C3%BCnchen.idn.test", ["absolute-form"]);
    // What goes to DNS is the punycode name, never the Unicode one.
    expect(dns.queries.filter((q) => /[^\p{ASCII}]/u.test(q.name))).toEqual([]);
    // A look-alike is not the same name.
    await expectBlocked(pinned, "bucher.idn.test", NAME_ENTRIES, "not_allowed");
    await expectBlocked(pinned, "xn--bcher-kva.idn.test.evil.test", NAME_ENTRIES, "not_allowed");
  });
});

// ------------------------------------------------------------------ D

describe("D. framing and routing", () => {
  test("D37 absolute-form authority wins over Host; D38 duplicate Host is refused", async () => {
    const a = await exchange(proxy, `GET http://127.0.0.1:${P}/ HTTP/1.1\r\nHost: allowed.localhost\r\n\r\n`);
    expect(a).toEqual({ status: 403, error: "blocked-by-allowlist", events: [ev("127.0.0.1", "not_allowed_local", "http", "GET")], reached: 0 });
    const b = await exchange(proxy, `GET / HTTP/1.1\r\nHost: allowed.localhost:${P}\r\nHost: 127.0.0.1:${P}\r\n\r\n`);
    expect({ status: b.status, events: b.events, reached: b.reached }).toEqual({ status: 400, events: [], reached: 0 });
  });
  test("D44 pipelined requests are judged one by one, each recorded", async () => {
    const since = await lastId(proxy);
    const before = origin.connections;
    using c = await RawClient.connect(proxy.http);
    c.send(
      `GET http://evil.test:${P}/ HTTP/1.1\r\nHost: x\r\n\r\nGET http://127.0.0.1:${P}/ HTTP/1.1\r\nHost: x\r\n\r\nGET http://0x7f.1:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    expect([(await c.response()).status, (await c.response()).status, (await c.response()).status]).toEqual([403, 403, 403]);
    expect(await eventsSince(proxy, since)).toEqual([
      ev("evil.test", "denied", "http", "GET"),
      ev("127.0.0.1", "not_allowed_local", "http", "GET"),
      ev("127.0.0.1", "not_allowed_local", "http", "GET"),
    ]);
    expect(origin.connections).toBe(before);
  });
  test("D48 port-scoped rules keep odd ports closed", async () => {
    await using p = await start(['network_proxy.policy.allowed_domains=["allowed.localhost:443", "127.0.0.1:443"]']);
    for (const port of [22, 25, 6379, P]) {
      await expectBlocked(p, "127.0.0.1", ["connect", "socks5-ipv4"], "not_allowed_local", "127.0.0.1", port);
      await expectBlocked(p, "allowed.localhost", ["connect", "socks5-domain"], "not_allowed_local", "allowed.localhost", port);
    }
  });
});

// ------------------------------------------------------------------ D/E inside MITM

describe("D/E. inside a MITM tunnel in limited mode", () => {
  /** A CONNECT to the TLS origin through `limited`, TLS with the proxy's CA, then `request` inside. */
  function inside(request: string | undefined, o: Partial<TunnelOptions> = {}): Promise<TunnelResult> {
    return tlsThroughConnect({
      proxyPort: limited.http,
      authority: `localhost:${tlsOrigin.port}`,
      caPem: mitmCa,
      sni: "localhost",
      ...(request === undefined ? {} : { request }),
      ...o,
    });
  }
  /** Run one tunnel; returns the result, its blocked events and what the TLS origin saw meanwhile. */
  async function tunnel(request: string | undefined, o: Partial<TunnelOptions> = {}) {
    const before = tlsOrigin.snapshot();
    const { value: r, events } = await recorded(limited, () => inside(request, o));
    const after = tlsOrigin.snapshot();
    const seen = {
      connections: after.connections - before.connections,
      handshakes: after.handshakes - before.handshakes,
      requests: after.requests - before.requests,
    };
    return { r, events, seen };
  }
  const NOTHING = { connections: 0, handshakes: 0, requests: 0 };
  const ONE = { connections: 1, handshakes: 1, requests: 1 };
  const H = () => `Host: localhost:${tlsOrigin.port}`;
  const mev = (reason: string, method: string | null): Ev => ev("localhost", reason, "https", method, tlsOrigin.port);

  test("a GET passes (the control case), pinned to the CONNECT target", async () => {
    const { r, events, seen } = await tunnel(`GET /ok HTTP/1.1\r\n${H()}\r\nConnection: close\r\n\r\n`);
    expect({ tls: r.tls, status: r.status, body: r.response?.split("\r\n\r\n")[1], events, seen }).toEqual({
      tls: "ok",
      status: 200,
      body: "TLS REACHED",
      events: [],
      seen: ONE,
    });
    expect(tlsOrigin.serverNames.at(-1)).toBe("localhost");
    expect(tlsOrigin.requests.at(-1)!.head).toContain(`\r\nHost: localhost:${tlsOrigin.port}`);
  });
  test.each([
    ["D39 another Host", () => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${tlsOrigin.port}\r\n\r\n`, 400, "host-mismatch"],
    ["D39 another port on the same host", () => `GET / HTTP/1.1\r\nHost: localhost:1\r\n\r\n`, 400, "host-mismatch"],
    ["D40 absolute-form to another host", () => `GET https://evil.test/ HTTP/1.1\r\n${H()}\r\n\r\n`, 400, "host-mismatch"],
    ["D40 absolute-form http: to the same host", () => `GET http://localhost:${tlsOrigin.port}/ HTTP/1.1\r\n${H()}\r\n\r\n`, 400, "host-mismatch"],
    ["D43 smuggling inside (CL+TE)", () => `GET / HTTP/1.1\r\n${H()}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, "bad-request"],
    ["D50 CONNECT inside", () => `CONNECT evil.test:443 HTTP/1.1\r\n${H()}\r\n\r\n`, 405, "bad-request"],
    ["E56 HTTP/2 prior knowledge inside TLS", () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "bad-request"],
  ] as Array<[string, () => string, number, string]>)("%s: refused as malformed, nothing recorded or forwarded", async (_id, raw, status, error) => {
    const { r, events, seen } = await tunnel(raw());
    expect({ tls: r.tls, status: r.status, error: r.headers["x-proxy-error"], events, seen }).toEqual({ tls: "ok", status, error, events: [], seen: NOTHING });
  });
  test.each([
    [
      "E51 WebSocket upgrade",
      () =>
        `GET / HTTP/1.1\r\n${H()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      "GET",
    ],
    [
      "E51 h2c upgrade",
      () => `GET / HTTP/1.1\r\n${H()}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
      "GET",
    ],
    ["E52 X-HTTP-Method-Override", () => `GET / HTTP/1.1\r\n${H()}\r\nX-HTTP-Method-Override: DELETE\r\n\r\n`, "GET"],
    ["E52 X-HTTP-Method", () => `GET / HTTP/1.1\r\n${H()}\r\nX-HTTP-Method: PUT\r\n\r\n`, "GET"],
    ["E52 X-Method-Override", () => `GET / HTTP/1.1\r\n${H()}\r\nX-Method-Override: PATCH\r\n\r\n`, "GET"],
    ["E52 override in lower case", () => `GET / HTTP/1.1\r\n${H()}\r\nx-http-method: delete\r\n\r\n`, "GET"],
    [
      "E52 a harmless override, then a harmful one",
      () => `GET / HTTP/1.1\r\n${H()}\r\nX-HTTP-Method-Override: GET\r\nX-HTTP-Method-Override: DELETE\r\n\r\n`,
      "GET",
    ],
    ["E52 override on HEAD", () => `HEAD / HTTP/1.1\r\n${H()}\r\nX-HTTP-Method: POST\r\n\r\n`, "HEAD"],
    ["E52 _method on a POST", () => `POST /?_method=GET HTTP/1.1\r\n${H()}\r\nContent-Length: 0\r\n\r\n`, "POST"],
    ["E53 body on GET", () => `GET / HTTP/1.1\r\n${H()}\r\nContent-Length: 4\r\n\r\ndata`, "GET"],
    ["E53 body on OPTIONS", () => `OPTIONS / HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n`, "OPTIONS"],
    ["POST", () => `POST / HTTP/1.1\r\n${H()}\r\nContent-Length: 1\r\n\r\nx`, "POST"],
    ["lower-case get is not GET", () => `get / HTTP/1.1\r\n${H()}\r\n\r\n`, "get"],
  ] as Array<[string, () => string, string]>)("%s: 403 method policy, recorded, nothing forwarded", async (_id, raw, method) => {
    const { r, events, seen } = await tunnel(raw());
    expect({ tls: r.tls, status: r.status, error: r.headers["x-proxy-error"], events, seen }).toEqual({
      tls: "ok",
      status: 403,
      error: "blocked-by-method-policy",
      events: [mev("method_not_allowed", method)],
      seen: NOTHING,
    });
  });

  test("E51 an Upgrade header without Connection: upgrade is no upgrade: forwarded as a plain GET, the header stripped", async () => {
    const { r, events, seen } = await tunnel(`GET / HTTP/1.1\r\n${H()}\r\nUpgrade: websocket\r\n\r\n`);
    expect({ status: r.status, events, seen }).toEqual({ status: 200, events: [], seen: ONE });
    expect(tlsOrigin.requests.at(-1)!.head).not.toMatch(/\r\nupgrade:/i);
  });

  test.each([
    ["2130706433", 403, "blocked-by-allowlist", "not_allowed_local", "127.0.0.1"],
    ["127.1", 403, "blocked-by-allowlist", "not_allowed_local", "127.0.0.1"],
    ["0x7f.1", 403, "blocked-by-allowlist", "not_allowed_local", "127.0.0.1"],
    ["[::ffff:127.0.0.1]", 403, "blocked-by-allowlist", "not_allowed_local", "127.0.0.1"],
    ["localhost.evil.test", 403, "blocked-by-allowlist", "not_allowed", "localhost.evil.test"],
    ["evil.test", 403, "blocked-by-allowlist", "not_allowed", "evil.test"],
    ["ｅｖｉｌ.test", 400, "bad-request", null, null],
  ] as Array<[string, number, string, string | null, string | null]>)(
    "A/B spelling %s: as the inner Host it is a host mismatch; as a CONNECT target it is judged before any certificate",
    async (spelling, status, error, reason, host) => {
      const inner = await tunnel(`GET / HTTP/1.1\r\nHost: ${spelling}:${tlsOrigin.port}\r\n\r\n`);
      expect({ status: inner.r.status, error: inner.r.headers["x-proxy-error"], events: inner.events, seen: inner.seen }).toEqual({
        status: 400,
        error: "host-mismatch",
        events: [],
        seen: NOTHING,
      });
      const minted = async () =>
        (await (await fetch(`http://127.0.0.1:${limited.admin}/metrics`)).text()).match(/decision="mitm",protocol="http-connect"\} (\d+)/)?.[1] ?? "0";
      const before = await minted();
      const outer = await tunnel(undefined, { authority: `${spelling}:${tlsOrigin.port}` });
      expect({
        status: outer.r.connectStatus,
        head: /x-proxy-error: ([^\r\n]*)/i.exec(outer.r.connectHead)?.[1],
        events: outer.events,
        seen: outer.seen,
      }).toEqual({
        status,
        head: error,
        events: reason ? [ev(host!, reason, "http-connect", "CONNECT", tlsOrigin.port)] : [],
        seen: NOTHING,
      });
      expect(await minted()).toBe(before); // no tunnel was intercepted, so no certificate was minted
    },
  );

  describe("D41/D42 the ClientHello must name the CONNECT target, unambiguously", () => {
    const GET = () => `GET / HTTP/1.1\r\n${H()}\r\n\r\n`;
    test.each([
      ["D41 another name (domain fronting)", "evil.test"],
      ["D42 another name with a trailing dot", "evil.test."],
      ["D42 a name with an underscore", "local_host"],
      ["D42 the CONNECT host as a suffix", "localhost.evil.test"],
      ["D42 the CONNECT host with a prefix", "xlocalhost"],
    ])("%s (SNI %s): the tunnel is closed before any request and recorded", async (_id, sni) => {
      const { r, events, seen } = await tunnel(GET(), { sni });
      expect({ response: r.response, events, seen }).toEqual({ response: null, events: [mev("sni_mismatch", null)], seen: NOTHING });
    });
    test("D42 an SNI split across two TLS records is read whole: a mismatch is still caught", async () => {
      const bad = await tunnel(GET(), { sni: "evil.test", hello: "split-sni" });
      expect({ tls: bad.r.tls, response: bad.r.response, events: bad.events, seen: bad.seen }).toEqual({
        tls: "ok",
        response: null,
        events: [mev("sni_mismatch", null)],
        seen: NOTHING,
      });
      const good = await tunnel(GET(), { sni: "localhost", hello: "split-sni" });
      expect({ status: good.r.status, events: good.events, seen: good.seen }).toEqual({ status: 200, events: [], seen: ONE });
    });
    test.each([
      ["two host_name entries, the CONNECT host first", "localhost", "two-sni-entries", "evil.test"],
      ["two host_name entries, the CONNECT host second", "evil.test", "two-sni-entries", "localhost"],
      ["two server_name extensions", "localhost", "two-sni-extensions", "evil.test"],
    ] as Array<[string, string, "two-sni-entries" | "two-sni-extensions", string]>)(
      "D42 %s: the handshake is refused, nothing forwarded",
      async (_id, sni, hello, secondSni) => {
        const { r, events, seen } = await tunnel(GET(), { sni, hello, secondSni });
        expect({ tls: r.tls.startsWith("refused:") ? "refused" : r.tls, response: r.response, events, seen }).toEqual({
          tls: "refused",
          response: null,
          events: [],
          seen: NOTHING,
        });
      },
    );
    test("D42 control: the same ClientHello re-encoded with one name completes (the rewriting itself is sound)", async () => {
      const { r, events, seen } = await tunnel(GET(), { hello: "reencode-sni" });
      expect({ tls: r.tls, status: r.status, events, seen }).toEqual({ tls: "ok", status: 200, events: [], seen: ONE });
    });
    test.each([
      ["a trailing dot", "localhost."],
      ["upper case", "LOCALHOST"],
      ["no SNI at all", null],
    ])("D42 the CONNECT host with %s is the same name: served, and upstream is still pinned to the CONNECT target", async (_id, sni) => {
      const { r, events, seen } = await tunnel(GET(), { sni });
      expect({ tls: r.tls, status: r.status, events, seen }).toEqual({ tls: "ok", status: 200, events: [], seen: ONE });
      expect(tlsOrigin.serverNames.at(-1)).toBe("localhost");
      expect(tlsOrigin.requests.at(-1)!.head).toContain(`\r\nHost: localhost:${tlsOrigin.port}`);
    });
  });

  describe("E56 ALPN: only HTTP/1.1 is ever negotiated", () => {
    test("a client offering h2 only gets no h2: the handshake is refused (no_application_protocol)", async () => {
      const { r, events, seen } = await tunnel(`GET / HTTP/1.1\r\n${H()}\r\n\r\n`, { alpn: ["h2"] });
      expect(r.alpn).not.toBe("h2");
      expect(r.tls).toMatch(/^refused: .*no.application.protocol/i);
      expect({ events, seen }).toEqual({ events: [], seen: NOTHING });
    });
    test.each([
      ["h2, http/1.1", ["h2", "http/1.1"]],
      ["http/1.1, h2", ["http/1.1", "h2"]],
      ["http/1.1", ["http/1.1"]],
    ])("a client offering %s gets http/1.1, and its request is judged as HTTP/1.1", async (_id, alpn) => {
      const ok = await tunnel(`GET / HTTP/1.1\r\n${H()}\r\n\r\n`, { alpn });
      expect({ tls: ok.r.tls, alpn: ok.r.alpn, status: ok.r.status, events: ok.events, seen: ok.seen }).toEqual({
        tls: "ok",
        alpn: "http/1.1",
        status: 200,
        events: [],
        seen: ONE,
      });
      const post = await tunnel(`POST / HTTP/1.1\r\n${H()}\r\nContent-Length: 1\r\n\r\nx`, { alpn });
      expect({ alpn: post.r.alpn, status: post.r.status, events: post.events, seen: post.seen }).toEqual({
        alpn: "http/1.1",
        status: 403,
        events: [mev("method_not_allowed", "POST")],
        seen: NOTHING,
      });
    });
    test("an h2 preface after negotiating http/1.1 is not spoken", async () => {
      const { r, events, seen } = await tunnel("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", { alpn: ["h2", "http/1.1"] });
      expect({ alpn: r.alpn, status: r.status, events, seen }).toEqual({ alpn: "http/1.1", status: 505, events: [], seen: NOTHING });
    });
  });

  test("D47 CONNECT then a non-TLS protocol: nothing is relayed", async () => {
    const before = tlsOrigin.snapshot();
    const since = await lastId(limited);
    using c = await RawClient.connect(limited.http);
    c.send(`CONNECT localhost:${tlsOrigin.port} HTTP/1.1\r\n\r\n`);
    expect((await c.response({ head: true })).status).toBe(200);
    c.send(`POST / HTTP/1.1\r\n${H()}\r\nContent-Length: 1\r\n\r\nx`);
    await c.closedPromise;
    expect(await eventsSince(limited, since)).toEqual([]);
    expect(tlsOrigin.snapshot()).toEqual(before);
  });
});

// ------------------------------------------------------------------ E

describe("E. limited (read-only) mode", () => {
  /** Plain HTTP through `limited` to the counting origin (localhost is allowlisted there). */
  async function plain(entry: "absolute-form" | "host-header", method: string, path: string, headers: string) {
    const target = entry === "absolute-form" ? `http://localhost:${P}${path}` : path;
    const host = entry === "absolute-form" ? "x" : `localhost:${P}`;
    return exchange(limited, `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\n`);
  }
  test.each(["absolute-form", "host-header"] as const)("control: a plain GET via %s passes", async (entry) => {
    expect(await plain(entry, "GET", "/", "")).toEqual({ status: 200, error: null, events: [], reached: 1 });
  });
  test.each([
    ["X-HTTP-Method-Override", "GET", "/", "X-HTTP-Method-Override: DELETE\r\n"],
    ["X-HTTP-Method", "GET", "/", "X-HTTP-Method: PUT\r\n"],
    ["X-Method-Override", "GET", "/", "X-Method-Override: PATCH\r\n"],
    ["lower-case name and value", "GET", "/", "x-http-method: delete\r\n"],
    ["padded value", "GET", "/", "X-HTTP-Method:  POST \r\n"],
    ["a harmless override, then a harmful one", "GET", "/", "X-HTTP-Method-Override: GET\r\nX-HTTP-Method-Override: DELETE\r\n"],
    ["a list value", "GET", "/", "X-HTTP-Method-Override: GET, DELETE\r\n"],
    ["on HEAD", "HEAD", "/", "X-HTTP-Method: POST\r\n"],
    ["on OPTIONS", "OPTIONS", "/", "X-Method-Override: PUT\r\n"],
    ["_method on a POST", "POST", "/?_method=GET", "Content-Length: 0\r\n"],
  ])("E52 method override (%s) over plain HTTP is refused and recorded", async (_id, method, path, headers) => {
    for (const entry of ["absolute-form", "host-header"] as const) {
      const r = await plain(entry, method, path, headers);
      expect({ entry, ...r }).toEqual({
        entry,
        status: 403,
        error: "blocked-by-method-policy",
        events: [ev("localhost", "method_not_allowed", "http", method)],
        reached: 0,
      });
    }
  });
  test("E55 SOCKS5 in limited mode: CONNECT refused (0x02) and recorded, the target judged first as on every entry path; BIND and UDP ASSOCIATE refused (0x07)", async () => {
    const name = [...Buffer.from("localhost")];
    for (const [cmd, addr, rep, events] of [
      [1, [3, name.length, ...name], 2, [ev("localhost", "method_not_allowed", "socks5", null)]],
      [1, [1, 127, 0, 0, 1], 2, [ev("127.0.0.1", "not_allowed_local", "socks5", null)]],
      [2, [1, 127, 0, 0, 1], 7, []],
      [3, [1, 127, 0, 0, 1], 7, []],
    ] as const) {
      const before = origin.connections;
      const since = await lastId(limited);
      using c = await RawClient.connect(limited.socks);
      c.send(Uint8Array.of(5, 1, 0, 5, cmd, 0, ...addr, P >> 8, P & 255));
      expect({ cmd, rep: (await c.bytes(12))[3], events: await eventsSince(limited, since) }).toEqual({ cmd, rep, events: [...events] });
      expect(origin.connections).toBe(before);
    }
  });
});
