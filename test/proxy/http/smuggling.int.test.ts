/**
 * Catalogue D: request-smuggling and framing inputs. Each is rejected, or re-framed so that the
 * origin sees exactly what the proxy judged; the origin never receives a request the proxy did
 * not judge.
 */
import { describe, expect, test } from "bun:test";
import { ScriptedOrigin } from "../../helpers/origin.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { RawClient } from "../../helpers/raw.ts";

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

async function send(proxyPort: number, raw: string): Promise<{ status: number; closed: boolean }> {
  using c = await RawClient.connect(proxyPort);
  c.send(raw);
  const r = await c.response();
  if (r.headers["connection"] === "close") await c.closedPromise;
  return { status: r.status, closed: c.closed };
}

describe("rejected before anything reaches the origin", () => {
  const cases: Array<[string, (u: string) => string, number]> = [
    ["CL + TE", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ["TE + CL", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`, 400],
    ["Transfer-Encoding: xchunked", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n`, 501],
    ["Transfer-Encoding: chunked, identity", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n`, 501],
    ["Transfer-Encoding: chunked, chunked", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 501],
    ["Transfer-Encoding: gzip", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n`, 501],
    ["space before the colon", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
    ["vertical tab in a value", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n`, 400],
    ["duplicate Content-Length (same value)", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx`, 400],
    ["conflicting Content-Length", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx`, 400],
    ["Content-Length list", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\nx`, 400],
    ["signed Content-Length", (u) => `POST ${u} HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nx`, 400],
    ["bare LF line ends", (u) => `GET ${u} HTTP/1.1\nHost: x\n\n`, 400],
    ["bare LF inside a header line", (u) => `GET ${u} HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n`, 400],
    ["bare CR", (u) => `GET ${u} HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n`, 400],
    ["obs-fold", (u) => `GET ${u} HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n`, 400],
    ["NUL in a header value", (u) => `GET ${u} HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n`, 400],
    ["duplicate Host", (u) => `GET ${u} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
    ["HTTP/1.2", (u) => `GET ${u} HTTP/1.2\r\nHost: x\r\n\r\n`, 505],
    ["HTTP/2.0", (u) => `GET ${u} HTTP/2.0\r\nHost: x\r\n\r\n`, 505],
    ["lowercase version", (u) => `GET ${u} http/1.1\r\nHost: x\r\n\r\n`, 400],
    ["two spaces in the request line", (u) => `GET  ${u} HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ["TE in HTTP/1.0", (u) => `POST ${u} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ["absolute-form with userinfo", (u) => `GET ${u.replace("http://", "http://a.com@")} HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ["absolute-form with a backslash", (u) => `GET ${u.replace("http://", "http://a.com\\@")} HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ["absolute-form with a fragment", (u) => `GET ${u}#frag HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ["non-ASCII in the target", (u) => `GET ${u}\xff HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
    ["invalid method token", (u) => `G(ET ${u} HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
  ];
  test.each(cases)("%s", async (_name, build, status) => {
    using origin = new ScriptedOrigin(() => OK);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    const r = await send(proxy.port, build(origin.url("/")));
    expect(r.status).toBe(status);
    expect(r.closed).toBe(true);
    expect(origin.connections).toBe(0);
  });
});

describe("bad chunked bodies abort the exchange; nothing after them is ever sent as a request", () => {
  const bodies: Array<[string, string]> = [
    ["quoted chunk extension", '5;name="va lue"\r\nhello\r\n0\r\n\r\n'],
    ["whitespace after the size", "5 \r\nhello\r\n0\r\n\r\n"],
    ["hex prefix", "0x5\r\nhello\r\n0\r\n\r\n"],
    ["negative size", "-5\r\nhello\r\n0\r\n\r\n"],
    ["huge size", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"],
    ["missing CRLF after data", "5\r\nhelloXX0\r\n\r\n"],
    ["bare LF after size", "5\nhello\r\n0\r\n\r\n"],
    ["bad last-chunk CRLF", "0\r\nXX"],
    ["empty size", "\r\nhello\r\n0\r\n\r\n"],
  ];
  test.each(bodies)("%s", async (_name, body) => {
    using origin = new ScriptedOrigin(() => OK);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(
      `POST ${origin.url("/first")} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET ${origin.url("/smuggled")} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const r = await c.response();
    expect(r.status).toBe(400);
    await c.closedPromise;
    // The origin may have seen the start of the first request, never a second one.
    expect(origin.requests.filter((q) => q.target === "/smuggled")).toEqual([]);
  });
});

describe("accepted inputs are re-framed so the origin sees what the proxy judged", () => {
  test("a tab before 'chunked' is whitespace: the body is framed as chunked, once", async () => {
    using origin = new ScriptedOrigin(() => OK);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`POST ${origin.url("/a")} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
    expect(origin.requests.length).toBe(1);
    expect(origin.requests[0]!.head).toContain("\r\nTransfer-Encoding: chunked");
  });

  test("a GET whose Content-Length body looks like a request is forwarded as a body, not a second request", async () => {
    const inner = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    const seen: string[] = [];
    using origin = new ScriptedOrigin((req) => {
      seen.push(`${req.target} body=${req.body.length}`);
      return OK;
    });
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    using c = await RawClient.connect(proxy.port);
    c.send(`GET ${origin.url("/outer")} HTTP/1.1\r\nHost: x\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`);
    expect((await c.response()).status).toBe(200);
    expect(seen).toEqual([`/outer body=${inner.length}`]);
  });

  test("every pipelined request is judged: a denied one in the middle never reaches the origin", async () => {
    using origin = new ScriptedOrigin(() => OK);
    await using proxy = await startProxy([ALLOW_LOOPBACK, 'network_proxy.policy.denied_domains=["127.0.0.1:1"]']);
    using c = await RawClient.connect(proxy.port);
    c.send(
      `GET ${origin.url("/1")} HTTP/1.1\r\nHost: x\r\n\r\nGET http://127.0.0.1:1/admin HTTP/1.1\r\nHost: x\r\n\r\nGET ${origin.url("/3")} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    expect((await c.response()).status).toBe(200);
    expect((await c.response()).status).toBe(403);
    expect((await c.response()).status).toBe(200);
    expect(origin.requests.map((r) => r.target)).toEqual(["/1", "/3"]);
  });

  test("a malformed upstream response is a 502, never a crash, and the proxy keeps serving", async () => {
    const replies = [
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
      "garbage\r\n\r\n",
      "HTTP/1.1 200 OK\nBare: lf\n\n",
      `HTTP/1.1 200 OK\r\nX: ${"a".repeat(40_000)}\r\n\r\n`,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    ];
    let i = 0;
    using origin = new ScriptedOrigin(() => replies[i++ % replies.length]!);
    await using proxy = await startProxy([ALLOW_LOOPBACK]);
    for (let k = 0; k < replies.length; k++) {
      using c = await RawClient.connect(proxy.port);
      c.send(`GET ${origin.url(`/${k}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      expect(r.status).toBe(502);
      expect(r.headers["x-proxy-error"]).toBe("upstream-bad-response");
    }
  });
});
