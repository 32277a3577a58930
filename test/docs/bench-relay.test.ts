/**
 * References the benchmark judges targets against must really do what they stand for.
 *
 * The benchmark's bare Bun relay (bench/relay.ts) in its mitm mode is the reference the MITM
 * target is judged against, so it must really do an intercepting proxy's work: answer the
 * CONNECT, take the client's TLS with the certificate it was given, reach the origin over TLS
 * that it verifies, and pass the plaintext both ways. curl, trusting only the bench CA, fetches
 * through it from the bench origin (both on per-run certificates).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { makeOriginCerts, type OriginCerts } from "../../bench/certs.ts";
import { compiledBare, compiledBareWork, withFreshPrograms } from "../../bench/compiled.ts";
import { ProxyProcess } from "../../scripts/lib/proxy-process.ts";
import type { OriginPorts } from "../../bench/origin.ts";
import { SMALL_BODY } from "../../bench/origin.ts";

const BENCH = join(import.meta.dir, "..", "..", "bench");
let dir = "";
let certs: OriginCerts;
/** The compiled bench programs the tests used (the benchmark removes them when it exits; a test does not install that hook). */
const built = new Set<string>();
const procs: Bun.Subprocess<"ignore", "pipe", "pipe">[] = [];

/** Start a bench process (both print their ports as one JSON line once they listen). */
function spawn(args: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  const p = Bun.spawn([process.execPath, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  return p;
}

async function firstLine(p: Bun.Subprocess<"ignore", "pipe", "pipe">): Promise<string> {
  const reader = p.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited before printing a line: ${await new Response(p.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.slice(0, text.indexOf("\n"));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cnp-bench-relay-"));
  certs = await makeOriginCerts(dir);
});

afterAll(async () => {
  for (const p of procs) p.kill();
  rmSync(dir, { recursive: true, force: true });
  for (const binary of built) rmSync(dirname(binary), { recursive: true, force: true });
});

test("bench relay, mitm mode: curl trusting the bench CA gets the origin's answer through CONNECT", async () => {
  const origin = JSON.parse(await firstLine(spawn([join(BENCH, "origin.ts"), certs.leafPem, certs.leafKey]))) as OriginPorts;
  const { port } = JSON.parse(await firstLine(spawn([join(BENCH, "relay.ts"), "mitm", "0", certs.leafPem, certs.leafKey, certs.caPem]))) as { port: number };
  const url = `https://127.0.0.1:${origin.https}/small`;
  const curl = Bun.spawnSync(["curl", "-sS", "--proxy", `http://127.0.0.1:${port}`, "--cacert", certs.caPem, "-w", "\n%{http_code} %{num_connects}", url, url]);
  const out = curl.stdout.toString();
  expect(curl.stderr.toString()).toBe("");
  // Two GETs over one intercepted connection, each answered by the origin.
  expect(out).toBe(`${SMALL_BODY}\n200 1${SMALL_BODY}\n200 0`);
});

test("bench relay, mitm mode: a client that does not trust the certificate it shows gets no answer", async () => {
  const origin = JSON.parse(await firstLine(spawn([join(BENCH, "origin.ts"), certs.leafPem, certs.leafKey]))) as OriginPorts;
  const { port } = JSON.parse(await firstLine(spawn([join(BENCH, "relay.ts"), "mitm", "0", certs.leafPem, certs.leafKey, certs.caPem]))) as { port: number };
  const other = await makeOriginCerts(mkdtempSync(join(dir, "other-")));
  const curl = Bun.spawnSync(["curl", "-sS", "--proxy", `http://127.0.0.1:${port}`, "--cacert", other.caPem, `https://127.0.0.1:${origin.https}/small`]);
  expect(curl.exitCode).toBe(60); // curl: the peer's certificate cannot be verified
});

/** Whether the process holds an inotify descriptor (a watch). Descriptors closing meanwhile are skipped. */
function watches(pid: number): boolean {
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:inotify";
    } catch {
      return false; // closed between the listing and the look (the connections just made)
    }
  });
}

/** Each of the program's three listeners accepts a connection. */
async function listenersAccept(p: ProxyProcess): Promise<void> {
  for (const port of [p.http, p.socks, p.admin]) {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.end();
          resolve();
        },
        data() {},
        connectError: (_s, e) => reject(e),
      },
    });
    await promise;
  }
}

test("bench bare program: compiled as ours is, started by our harness, its three listeners accept", async () => {
  const binary = await compiledBare();
  built.add(binary);
  const home = mkdtempSync(join(dir, "bare-home-"));
  await using p = await ProxyProcess.start({ binary, env: { CODEX_HOME: home } });
  await listenersAccept(p);
  expect(p.ready.version).toBe("bare");
  // The plain program does none of the runtime work.
  expect(existsSync(join(home, "network_proxy"))).toBe(false);
  expect(watches(p.proc.pid)).toBe(false);
});

test("bench bare-work program: after the bare program's start, parses the overrides, writes the token file, watches the home", async () => {
  const binary = await compiledBareWork();
  built.add(binary);
  const home = mkdtempSync(join(dir, "bare-home-"));
  await using p = await ProxyProcess.start({ binary, config: ['network_proxy.policy.allowed_domains=["a.example"]'], env: { CODEX_HOME: home } });
  await listenersAccept(p);
  expect(p.ready.version).toBe("bare");
  // The work runs right after the ready file, in the same turn; this line ends it.
  const [, parsed] = await p.waitFor(/bare-work done \{"parsed":(\d+)\}/);
  // One value per -c: the harness's three listener addresses and the list above.
  expect(Number(parsed)).toBe(4);
  const token = join(home, "network_proxy", "admin.token");
  expect(statSync(token).mode & 0o777).toBe(0o600);
  expect(readFileSync(token, "utf8")).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
  expect(watches(p.proc.pid)).toBe(true);
});

/** SHA-256 of a file, read in pieces (the compiled programs are about 110 MB). */
function fileHash(path: string): string {
  const h = new Bun.CryptoHasher("sha256");
  const buf = new Uint8Array(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

test("bench rows that depend on the page cache start ours and the bare programs from copies written for the row", async () => {
  const bare = await compiledBare();
  const work = await compiledBareWork();
  built.add(bare).add(work);
  // Any compiled program stands in for ours' binary here: only its file is copied.
  const ours = { binary: work, version: "test", listeners: new Set<string>() };
  let copies: string[] = [];
  await withFreshPrograms(ours, async (fresh) => {
    copies = [fresh.binary, await compiledBare(), await compiledBareWork()];
    for (const [copy, original] of [
      [copies[0]!, work],
      [copies[1]!, bare],
      [copies[2]!, work],
    ] as const) {
      // A new file (its pages written now), with the same bytes, that runs.
      expect(statSync(copy).ino).not.toBe(statSync(original).ino);
      expect(statSync(copy).mode & 0o777).toBe(0o755);
      expect(fileHash(copy)).toBe(fileHash(original));
    }
    expect(fresh.version).toBe("test");
  });
  // After the row: the compiled programs are the originals again, and the copies are gone.
  expect(await compiledBare()).toBe(bare);
  expect(await compiledBareWork()).toBe(work);
  for (const c of copies) expect(existsSync(c)).toBe(false);
});
