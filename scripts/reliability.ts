/**
 * `bun run reliability [--quick]`: load and soak a real proxy process, run the fuzzers and the
 * hostile-input and fault suites, and write what they proved to docs/reliability.md.
 *
 * Load: 100,000 keep-alive requests through each way in (absolute-form through the HTTP
 * listener, origin-form inside SOCKS5 tunnels, HTTPS inside MITM tunnels of a second proxy in
 * limited mode) and 5,000 concurrent tunnels through each of the CONNECT and SOCKS5 paths
 * (10,000 / 500 with --quick), asserting that no allowed request fails, that open file
 * descriptors return to the baseline afterwards, and that RSS growth stays under a stated bound;
 * then the same load again, whose RSS growth over the first round must be small (a leak would
 * scale with it). Everything runs on 127.0.0.1, with a certificate authority made for the run.
 */
import type { Socket } from "bun";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { makeTestPki } from "./lib/pki.ts";
import { ProxyProcess } from "./lib/proxy-process.ts";

const QUICK = process.argv.includes("--quick");
/** Only the load and soak (CI runs the suites through `npm test` already). */
const LOAD_ONLY = process.argv.includes("--load-only");
const REQUESTS = QUICK ? 10_000 : 100_000;
const TUNNELS = QUICK ? 500 : 5_000;
const CONNECTIONS = 64;
const RSS_BOUND_KIB = 96 * 1024;
/** Growth allowed between two identical rounds (a leak would scale with the load). */
const SOAK_BOUND_KIB = 24 * 1024;
const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;

interface Section {
  title: string;
  rows: Array<[string, string]>;
  ok: boolean;
}
const sections: Section[] = [];
let failed = false;

function fail(msg: string): void {
  console.error(`FAIL: ${msg}`);
  failed = true;
}

// ------------------------------------------------------------------ the proxy process

function startProxy(extra: string[] = []): Promise<ProxyProcess> {
  const config = [
    'network_proxy.policy.allowed_domains=["127.0.0.1", "localhost"]',
    `network_proxy.limits.max_connections=${TUNNELS * 3 + 1000}`,
    `network_proxy.limits.max_tunnels=${TUNNELS * 2 + 100}`,
    ...extra,
  ];
  // warn level: nothing is logged per request (the access log is info).
  return ProxyProcess.start({ config, args: ["--log-level", "warn"], binary: "" });
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

async function settle(pid: number, baseline: number, ms = 10_000): Promise<number> {
  const deadline = performance.now() + ms;
  let n = fds(pid);
  while (n > baseline + 2 && performance.now() < deadline) {
    await Bun.sleep(100);
    n = fds(pid);
  }
  return n;
}

// ------------------------------------------------------------------ load

/** Read from a node stream until `done(buffer)` says enough; resolves with what was read. */
function readUntil(s: net.Socket | tls.TLSSocket, done: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (done(buf)) {
        s.off("data", onData);
        s.off("error", reject);
        resolve(buf);
      }
    };
    s.on("data", onData);
    s.on("error", reject);
  });
}

type Via = "HTTP" | "SOCKS5" | "MITM";

/**
 * REQUESTS keep-alive requests over CONNECTIONS client connections, one at a time per
 * connection: absolute-form to the HTTP listener, origin-form inside a SOCKS5 tunnel, or HTTPS
 * inside a MITM tunnel (trusting `ca`).
 */
async function requestLoad(p: ProxyProcess, via: Via, origin: { port: number }, ca?: string): Promise<Section> {
  const perConn = Math.ceil(REQUESTS / CONNECTIONS);
  let ok = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const raw = net.connect(via === "SOCKS5" ? p.socks : p.http, "127.0.0.1");
      let s: net.Socket | tls.TLSSocket = raw;
      let req = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
      if (via === "SOCKS5") {
        raw.write(Uint8Array.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, origin.port >> 8, origin.port & 255]));
        const r = await readUntil(raw, (b) => b.length >= 12);
        if (r[1] !== 0 || r[3] !== 0) throw new Error(`SOCKS5 refused: ${[...r].join(",")}`);
        req = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
      } else if (via === "MITM") {
        raw.write(`CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
        const r = await readUntil(raw, (b) => b.includes("\r\n\r\n"));
        if (!r.toString().startsWith("HTTP/1.1 200")) throw new Error(`CONNECT refused: ${r.toString().split("\r\n")[0]}`);
        const t = tls.connect({ socket: raw, servername: "localhost", ...(ca ? { ca } : {}) });
        await new Promise<void>((resolve, reject) => t.once("secureConnect", resolve).once("error", reject));
        s = t;
        req = `GET / HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`;
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      let buf = "";
      let sent = 0;
      s.on("data", (d: Buffer) => {
        buf += d.toString("latin1");
        for (;;) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          if (buf.startsWith("HTTP/1.1 200")) ok++;
          else bad++;
          buf = buf.slice(end + 4 + len);
          if (sent < perConn) {
            sent++;
            s.write(req);
          } else return resolve();
        }
      });
      s.on("close", () => resolve());
      s.on("error", () => resolve());
      sent++;
      s.write(req);
      await promise;
      s.destroy();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const total = ok + bad;
  if (bad > 0 || total < REQUESTS) fail(`${via}: ${bad} failed of ${total} requests (wanted ${REQUESTS})`);
  const how = { HTTP: "absolute-form through the HTTP listener", SOCKS5: "origin-form inside SOCKS5 tunnels", MITM: "HTTPS inside MITM tunnels, limited mode" }[
    via
  ];
  return {
    title: `${via} requests`,
    ok: bad === 0 && total >= REQUESTS,
    rows: [
      [`requests (keep-alive, ${how})`, total.toLocaleString("en")],
      ["client connections", String(CONNECTIONS)],
      ["failed allowed requests", String(bad)],
      ["requests/s (client, origin and proxy share the cores)", Math.round(total / secs).toLocaleString("en")],
    ],
  };
}

async function tunnelLoad(p: ProxyProcess, via: "CONNECT" | "SOCKS5"): Promise<Section> {
  const origin = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
  const sockets: Array<Socket<{ got: string; done: () => void; ok: boolean }>> = [];
  let okCount = 0;
  const t0 = performance.now();
  const batch = 250;
  for (let i = 0; i < TUNNELS; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, TUNNELS - i) }, async () => {
        const { promise, resolve } = Promise.withResolvers<void>();
        const data = { got: "", done: resolve, ok: false };
        const s = await Bun.connect({
          hostname: "127.0.0.1",
          port: via === "CONNECT" ? p.http : p.socks,
          data,
          socket: {
            data(sock, d) {
              sock.data.got += d.toString("latin1");
              if (sock.data.got.endsWith("ping")) {
                sock.data.ok = true;
                sock.data.done();
              }
            },
            close(sock) {
              sock.data.done();
            },
          },
        });
        if (via === "CONNECT") s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\nping`);
        else s.write(Uint8Array.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, origin.port >> 8, origin.port & 255, ...Buffer.from("ping")]));
        sockets.push(s);
        await promise;
        if (data.ok) okCount++;
      }),
    );
  }
  const openSecs = (performance.now() - t0) / 1000;
  const held = { fds: fds(p.proc.pid), rss: rssKiB(p.proc.pid) };
  for (const s of sockets) s.terminate();
  origin.stop(true);
  if (okCount !== TUNNELS) fail(`${via}: only ${okCount} of ${TUNNELS} tunnels carried data`);
  return {
    title: `${via} tunnels`,
    ok: okCount === TUNNELS,
    rows: [
      ["concurrent tunnels open at once", `${okCount.toLocaleString("en")} of ${TUNNELS.toLocaleString("en")}`],
      ["time to open them all", `${openSecs.toFixed(1)} s`],
      ["proxy file descriptors while open", held.fds.toLocaleString("en")],
      ["proxy RSS while open", `${(held.rss / 1024).toFixed(0)} MiB`],
    ],
  };
}

// ------------------------------------------------------------------ suites

async function runTests(label: string, paths: string[], env: Record<string, string> = {}, args: string[] = []): Promise<Section> {
  const t0 = performance.now();
  // The fuzz tests append one line per property to FUZZ_REPORT: {"property","runs","ms"}.
  const report = join(mkdtempSync(join(tmpdir(), "cnp-rel-")), "fuzz.jsonl");
  const p = Bun.spawn([BUN, "test", "--timeout", "120000", ...args, ...paths], {
    cwd: ROOT,
    env: { ...process.env, ...env, FUZZ_REPORT: report },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const text = out + err;
  const pass = Number(/^\s*(\d+) pass$/m.exec(text)?.[1] ?? 0);
  const fl = Number(/^\s*(\d+) fail$/m.exec(text)?.[1] ?? 0);
  let inputs = 0;
  let properties = 0;
  try {
    for (const line of readFileSync(report, "utf8").split("\n")) {
      if (!line.trim()) continue;
      inputs += (JSON.parse(line) as { runs: number }).runs;
      properties++;
    }
  } catch {
    // no fuzz tests in this run
  }
  if (code !== 0 || fl > 0) fail(`${label}: ${fl} failed (exit ${code})`);
  const rows: Array<[string, string]> = [
    ["tests passed", String(pass)],
    ["tests failed", String(fl)],
    ["run time", `${((performance.now() - t0) / 1000).toFixed(1)} s`],
  ];
  if (inputs > 0) rows.splice(0, 0, ["generated inputs tried", `${inputs.toLocaleString("en")} over ${properties} properties`]);
  return { title: label, ok: code === 0 && fl === 0, rows };
}

// ------------------------------------------------------------------ main

const started = new Date();
const pki = await makeTestPki("reliability origin CA");
const leaf = await pki.issue(["localhost"]);
const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
const httpsOrigin = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: leaf, fetch: () => new Response("ok") });
const p = await startProxy();
// MITM only runs in limited mode: a second proxy for the HTTPS requests.
const m = await startProxy(["network_proxy.mode=limited", "network_proxy.mitm.enabled=true", `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`]);
const mitmCa = readFileSync(join(m.home, "network_proxy/mitm/ca.pem"), "utf8");
try {
  const baseline = { fds: fds(p.proc.pid), rss: rssKiB(p.proc.pid) };
  const mBaseline = { fds: fds(m.proc.pid), rss: rssKiB(m.proc.pid) };
  const round = async (record: boolean) => {
    for (const s of [
      await requestLoad(p, "HTTP", { port: origin.port! }),
      await requestLoad(p, "SOCKS5", { port: origin.port! }),
      await requestLoad(m, "MITM", { port: httpsOrigin.port! }, mitmCa),
      await tunnelLoad(p, "CONNECT"),
      await tunnelLoad(p, "SOCKS5"),
    ]) {
      if (record) sections.push(s);
    }
  };
  await round(true);
  await settle(p.proc.pid, baseline.fds);
  await settle(m.proc.pid, mBaseline.fds);
  const afterFirst = rssKiB(p.proc.pid);
  const mAfterFirst = rssKiB(m.proc.pid);
  // Soak: the same load again. Memory the runtime keeps after the first round is reused; a leak
  // per request or tunnel would show as growth from the first round to the second.
  await round(false);
  const after = await settle(p.proc.pid, baseline.fds);
  const mAfter = await settle(m.proc.pid, mBaseline.fds);
  const mRss = rssKiB(m.proc.pid);
  const rss = rssKiB(p.proc.pid);
  // Two descriptors of slack: Bun may keep an internal one (a timer or DNS pipe) open later.
  const fdsOk = after <= baseline.fds + 2 && mAfter <= mBaseline.fds + 2;
  const rssOk = rss - baseline.rss < RSS_BOUND_KIB && mRss - mBaseline.rss < RSS_BOUND_KIB;
  const soakOk = rss - afterFirst < SOAK_BOUND_KIB && mRss - mAfterFirst < SOAK_BOUND_KIB;
  if (!fdsOk) fail(`file descriptors did not return to baseline: ${baseline.fds} -> ${after} (MITM proxy ${mBaseline.fds} -> ${mAfter})`);
  if (!rssOk)
    fail(
      `RSS grew by ${((rss - baseline.rss) / 1024).toFixed(0)} MiB, MITM proxy by ${((mRss - mBaseline.rss) / 1024).toFixed(0)} MiB (bound ${RSS_BOUND_KIB / 1024} MiB)`,
    );
  if (!soakOk)
    fail(
      `RSS grew by ${((rss - afterFirst) / 1024).toFixed(0)} MiB (MITM proxy ${((mRss - mAfterFirst) / 1024).toFixed(0)} MiB) between two identical rounds (bound ${SOAK_BOUND_KIB / 1024} MiB)`,
    );
  sections.push({
    title: "After two rounds of the load",
    ok: fdsOk && rssOk && soakOk,
    rows: [
      ["proxy file descriptors: baseline -> after", `${baseline.fds} -> ${after}`],
      [
        "proxy RSS: baseline -> after round 1 -> after round 2",
        `${(baseline.rss / 1024).toFixed(0)} -> ${(afterFirst / 1024).toFixed(0)} -> ${(rss / 1024).toFixed(0)} MiB`,
      ],
      [
        "MITM proxy (limited mode): file descriptors; RSS baseline -> after round 1 -> after round 2",
        `${mBaseline.fds} -> ${mAfter}; ${(mBaseline.rss / 1024).toFixed(0)} -> ${(mAfterFirst / 1024).toFixed(0)} -> ${(mRss / 1024).toFixed(0)} MiB`,
      ],
      ["bounds", `+${RSS_BOUND_KIB / 1024} MiB over the baseline; +${SOAK_BOUND_KIB / 1024} MiB from round 1 to round 2`],
    ],
  });
} finally {
  for (const x of [p, m]) {
    x.proc.kill();
    await x.proc.exited;
  }
  origin.stop(true);
  httpsOrigin.stop(true);
}
if (!LOAD_ONLY) {
  sections.push(await runTests("Fuzzers (test/**/*.fuzz.test.ts)", [".fuzz.test.ts"], { FUZZ_RUNS: QUICK ? "" : "20000" }));
  sections.push(
    await runTests("Bypass catalogue, attacks on the process, failures of upstreams, clients and config (test/hostile, exchange-failures, reload)", [
      "test/hostile",
      "test/proxy/http/exchange-failures.int.test.ts",
      "test/runtime/reload.int.test.ts",
    ]),
  );
  // README quotes these two times (scripts/lib/doc-figures.ts). The Node client tests need the
  // Node releases npm's pretest fetches.
  if (Bun.spawnSync([BUN, "scripts/get-node.ts"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" }).exitCode !== 0) fail("bun scripts/get-node.ts failed");
  sections.push(await runTests("The whole test suite (npm test)", []));
  sections.push(await runTests("The unit tests (npm run test:unit)", [], {}, ["--path-ignore-patterns", "**/*.int.test.ts"]));
}

const md = [
  "# Reliability",
  "",
  `Generated by \`bun run reliability${QUICK ? " --quick" : ""}\` on ${started.toISOString()} (${cpus().length} CPUs, ${cpus()[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}).`,
  "Everything ran on 127.0.0.1 against a real proxy process; see `scripts/reliability.ts`.",
  "",
  ...sections.flatMap((s) => [`## ${s.title} ${s.ok ? "(held)" : "(FAILED)"}`, "", "| | |", "| --- | --- |", ...s.rows.map(([k, v]) => `| ${k} | ${v} |`), ""]),
].join("\n");
console.log(md);
if (!QUICK && !LOAD_ONLY) writeFileSync(join(ROOT, "docs/reliability.md"), md);
else console.log("(--quick/--load-only: docs/reliability.md not rewritten)");
process.exit(failed ? 1 : 0);
