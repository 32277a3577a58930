/**
 * A TLS client that goes through an HTTP proxy's CONNECT tunnel and controls exactly what the
 * proxy's TLS server sees: the server name (SNI, or none), the ALPN offer, and the ClientHello
 * bytes themselves (split across two TLS records, or rewritten to carry two server names). It is
 * Python's ssl module over a memory BIO, run as a subprocess, so the bytes on the wire are ours
 * to shape and the TLS stack is not the one under test.
 *
 * The CONNECT request goes out as UTF-8 bytes, exactly as given.
 */

export type HelloEdit =
  /** Send the ClientHello as is. */
  | "none"
  /** Split the ClientHello handshake message into two TLS records, the cut inside the server name. */
  | "split-sni"
  /** Re-encode the server_name extension from its parsed parts (a control for the rewriting code). */
  | "reencode-sni"
  /** Rewrite the server_name extension to hold two host_name entries: the original, then `secondSni`. */
  | "two-sni-entries"
  /** Add a second server_name extension naming `secondSni`. */
  | "two-sni-extensions";

export interface TunnelOptions {
  /** The HTTP proxy's port on 127.0.0.1. */
  proxyPort: number;
  /** The CONNECT authority, as sent. */
  authority: string;
  /** PEM of the CA that issued the proxy's leaf certificates. */
  caPem: string;
  /** SNI to send; null sends none. */
  sni: string | null;
  /** ALPN protocols to offer; omitted offers none. */
  alpn?: string[];
  hello?: HelloEdit;
  secondSni?: string;
  /** Bytes to send inside the tunnel once TLS is up (UTF-8); omitted sends nothing. */
  request?: string;
}

export interface TunnelResult {
  /** The proxy's answer to CONNECT: the head, and the body when it was not a 200. */
  connectHead: string;
  connectStatus: number;
  connectBody: string;
  /** "ok", or "refused: <reason>" when the handshake failed, or "closed" when the proxy hung up during it. */
  tls: string;
  /** The ALPN protocol the server selected (null when none). */
  alpn: string | null;
  /** The first response inside the tunnel (head and body, latin1), or null when the tunnel closed without one. */
  response: string | null;
  /** Status of `response`, 0 when there is none. */
  status: number;
  /** Lowercased response header fields. */
  headers: Record<string, string>;
}

const SCRIPT = String.raw`
import json, socket, ssl, struct, sys

a = json.loads(sys.stdin.read())
out = {"connectHead": "", "connectStatus": 0, "connectBody": "", "tls": "", "alpn": None, "response": None}

def finish():
    sys.stdout.write(json.dumps(out))
    sys.exit(0)

s = socket.create_connection(("127.0.0.1", a["proxyPort"]))
s.settimeout(30)
s.sendall(a["authority_request"].encode("utf-8"))
head = b""
while b"\r\n\r\n" not in head:
    d = s.recv(1)
    if not d:
        break
    head += d
out["connectHead"] = head.decode("latin1").rstrip("\r\n")
try:
    out["connectStatus"] = int(head.split(b" ")[1])
except Exception:
    out["connectStatus"] = 0
if out["connectStatus"] != 200:
    body = b""
    while True:
        try:
            d = s.recv(65536)
        except OSError:
            break
        if not d:
            break
        body += d
    out["connectBody"] = body.decode("latin1")
    finish()

def sni_ext(names):
    entries = b"".join(b"\x00" + struct.pack(">H", len(n)) + n for n in names)
    body = struct.pack(">H", len(entries)) + entries
    return struct.pack(">HH", 0, len(body)) + body

def edit_hello(rec, how, second):
    # One TLS record holding one ClientHello (what OpenSSL sends first).
    assert rec[0] == 0x16, "not a handshake record"
    rlen = struct.unpack(">H", rec[3:5])[0]
    hs = rec[5:5 + rlen]
    tail = rec[5 + rlen:]
    assert hs[0] == 1 and len(hs) == 4 + int.from_bytes(hs[1:4], "big"), "not one whole ClientHello"
    body = hs[4:]
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + struct.unpack(">H", body[p:p + 2])[0]
    p += 1 + body[p]
    ext_start = p + 2
    exts = []
    q = ext_start
    while q < len(body):
        t, l = struct.unpack(">HH", body[q:q + 4])
        exts.append((t, body[q:q + 4 + l]))
        q += 4 + l
    names = []
    for t, e in exts:
        if t == 0:
            lst = e[6:]
            i = 0
            while i < len(lst):
                n = struct.unpack(">H", lst[i + 1:i + 3])[0]
                names.append(lst[i + 3:i + 3 + n])
                i += 3 + n
    assert names, "the ClientHello has no server name to edit"
    if how == "split-sni":
        # Cut inside the host name: the first record ends in the middle of the SNI.
        sni_at = body.index(names[0]) + 4
        cut = sni_at + max(1, len(names[0]) // 2)
        r = lambda b: b"\x16" + rec[1:3] + struct.pack(">H", len(b)) + b
        return r(hs[:cut]) + r(hs[cut:]) + tail
    new_exts = []
    for t, e in exts:
        if t == 0:
            if how == "reencode-sni":
                new_exts.append(sni_ext(names))
            elif how == "two-sni-entries":
                new_exts.append(sni_ext(names + [second.encode()]))
            elif how == "two-sni-extensions":
                new_exts.append(e)
                new_exts.append(sni_ext([second.encode()]))
            else:
                raise Exception("unknown edit " + how)
        else:
            new_exts.append(e)
    ext_bytes = b"".join(new_exts)
    body = body[:p] + struct.pack(">H", len(ext_bytes)) + ext_bytes
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + rec[1:3] + struct.pack(">H", len(hs)) + hs + tail

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(cadata=a["caPem"])
ctx.check_hostname = False  # the SNI under test may differ from the certificate's name on purpose
if a.get("alpn"):
    ctx.set_alpn_protocols(a["alpn"])
inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outb, server_side=False, server_hostname=a.get("sni"))
first = [True]

def flush():
    data = outb.read()
    if not data:
        return
    if first[0]:
        first[0] = False
        how = a.get("hello") or "none"
        if how != "none":
            data = edit_hello(data, how, a.get("secondSni") or "")
    s.sendall(data)

def pull():
    try:
        d = s.recv(65536)
    except OSError:
        d = b""
    if not d:
        inc.write_eof()
        return False
    inc.write(d)
    return True

try:
    while True:
        try:
            obj.do_handshake()
            flush()
            break
        except ssl.SSLWantReadError:
            flush()
            if not pull():
                out["tls"] = "closed"
                finish()
    out["tls"] = "ok"
    out["alpn"] = obj.selected_alpn_protocol()
except ssl.SSLError as e:
    out["tls"] = "refused: " + (e.reason or str(e))
    finish()
except OSError as e:
    out["tls"] = "closed"
    finish()

if a.get("request") is None:
    finish()

resp = b""
try:
    obj.write(a["request"].encode("utf-8"))
    flush()
    want = None
    while want is None or len(resp) < want:
        try:
            d = obj.read(65536)
            if not d:
                break
            resp += d
        except ssl.SSLWantReadError:
            flush()
            if not pull():
                break
            continue
        if want is None and b"\r\n\r\n" in resp:
            h, _, _ = resp.partition(b"\r\n\r\n")
            cl = [l for l in h.split(b"\r\n")[1:] if l.lower().startswith(b"content-length:")]
            if cl:
                want = len(h) + 4 + int(cl[0].split(b":", 1)[1])
except (ssl.SSLError, OSError):
    pass
out["response"] = resp.decode("latin1") if resp else None
finish()
`;

/** Run one CONNECT + TLS exchange. */
export async function tlsThroughConnect(o: TunnelOptions): Promise<TunnelResult> {
  const input = JSON.stringify({ ...o, authority_request: `CONNECT ${o.authority} HTTP/1.1\r\n\r\n` });
  const p = Bun.spawn(["python3", "-c", SCRIPT], { stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`TLS client failed (${code}): ${stderr}`);
  const r = JSON.parse(stdout) as Omit<TunnelResult, "status" | "headers">;
  let status = 0;
  const headers: Record<string, string> = {};
  if (r.response) {
    const [head] = r.response.split("\r\n\r\n") as [string];
    const [line, ...fields] = head.split("\r\n");
    status = Number(line!.split(" ")[1] ?? 0);
    for (const f of fields) {
      const i = f.indexOf(":");
      if (i > 0) headers[f.slice(0, i).toLowerCase()] = f.slice(i + 1).trim();
    }
  }
  return { ...r, status, headers };
}
