/**
 * `bun run bench`: measure the compiled proxy against direct connections and Debian-packaged
 * peers (squid, tinyproxy, dante, microsocks, mitmproxy) on loopback, and write
 * docs/benchmarks.md.
 *
 *   bun bench/run.ts [--quick] [--binary PATH] [--no-install] [--only forward,bulk,...]
 *
 * --quick is a smoke run (one short run per figure, 64 MiB downloads). Its report, and that of
 * an --only run, goes to .bench/benchmarks.md (git-ignored), so only a complete full run
 * replaces the published figures. Everything listens on 127.0.0.1 and talks only to 127.0.0.1.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeOriginCerts } from "./certs.ts";
import { ensureInstalled } from "./install.ts";
import { ForeignCpu } from "./lib/foreign.ts";
import { installCleanup, makeTempDir, Proc, run } from "./lib/procs.ts";
import type { OriginPorts } from "./origin.ts";
import { barsList, judgeBars, markdown, resultsTable, type Row } from "./report.ts";
import { bulk } from "./scenarios/bulk.ts";
import type { Bench, Params } from "./scenarios/common.ts";
import { forwarding } from "./scenarios/forward.ts";
import { memory } from "./scenarios/memory.ts";
import { mitm } from "./scenarios/mitm.ts";
import { policyDecisions } from "./scenarios/policy.ts";
import { tunnelSetup } from "./scenarios/setup.ts";
import { startup } from "./scenarios/startup.ts";
import { isolation } from "./scenarios/isolate.ts";
import { reload } from "./scenarios/reload.ts";
import { BUN_RELAY, PEERS, probeOurs, versions } from "./systems.ts";
import { judgeTargets } from "./targets.ts";
import { beforeAfter } from "./compare.ts";

const ROOT = join(import.meta.dir, "..");

const FULL: Params = {
  runs: 3,
  bulkRuns: 5,
  wrkSeconds: 5,
  wrkConnections: 50,
  bulkBytes: 2 ** 30,
  warmBulkBytes: 64 * 2 ** 20,
  tunnelSeconds: 3,
  tunnelConcurrency: 8,
  httpsSeconds: 5,
  httpsConcurrency: 20,
  idleTunnels: 2000,
  memoryRuns: 3,
  policySizes: [10, 1000, 100_000],
  policyRounds: 9,
  policyRoundMs: 300,
  startupRuns: 7,
};

const QUICK: Params = {
  ...FULL,
  runs: 1,
  bulkRuns: 1,
  wrkSeconds: 1,
  bulkBytes: 64 * 2 ** 20,
  warmBulkBytes: 8 * 2 ** 20,
  tunnelSeconds: 0.5,
  httpsSeconds: 1,
  idleTunnels: 200,
  memoryRuns: 1,
  policyRounds: 1,
  policyRoundMs: 100,
  startupRuns: 2,
};

/**
 * Above this share of the machine used by others, the report says the run was not quiet. An
 * idle VM here shows about 5% (its agent and kernel threads).
 */
const NOISY_SHARE = 0.1;

/** The largest set may cost at most this much more time per decision and still count as flat. */
const POLICY_TOLERANCE = 1.5;

const SCENARIOS = { forward: forwarding, bulk, tunnels: tunnelSetup, mitm, memory, policy: policyDecisions, reload, startup, isolate: isolation } as const;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** The binary to measure: the given one, or dist/ (built first if it does not exist). */
async function binary(given: string | undefined): Promise<string> {
  if (given) {
    if (!existsSync(given)) throw new Error(`--binary ${given} does not exist`);
    return given;
  }
  const bin = join(ROOT, "dist/codex-network-proxy");
  if (!existsSync(bin)) {
    console.error("dist/codex-network-proxy is missing: building it (bun run build)");
    const r = await run([process.execPath, join(ROOT, "build.ts"), bin]);
    if (r.code !== 0) throw new Error(`build failed:\n${r.out}`);
  }
  return bin;
}

/**
 * The previous published report: docs/benchmarks.md as committed (a run written since but not
 * committed is not published, and would make "before" a run nobody kept); the file itself when
 * there is no git.
 */
async function publishedReport(): Promise<string | null> {
  const committed = await run(["git", "-C", ROOT, "--no-optional-locks", "show", "HEAD:docs/benchmarks.md"]);
  if (committed.code === 0) return committed.out;
  const file = join(ROOT, "docs/benchmarks.md");
  return existsSync(file) ? readFileSync(file, "utf8") : null;
}

/**
 * Where the measured binary comes from, for the report: its build time, the checked-out commit,
 * and whether it is older than src/ or src/ has uncommitted changes. Read-only git only
 * (--no-optional-locks: `status` must not even refresh the index).
 */
async function provenance(bin: string): Promise<string> {
  const built = statSync(bin).mtime;
  const parts = [`built ${built.toISOString().replace(/\.\d+Z$/, "Z")}`];
  if (built.getTime() < newestMtime(join(ROOT, "src"))) parts.push("OLDER than src/: run `bun run build` to measure the current source");
  const head = await run(["git", "-C", ROOT, "--no-optional-locks", "rev-parse", "--short", "HEAD"]);
  if (head.code === 0) {
    const dirty = await run(["git", "-C", ROOT, "--no-optional-locks", "status", "--porcelain", "--", "src"]);
    parts.push(`tree at commit ${head.out.trim()}${dirty.out.trim() !== "" ? " with uncommitted changes in src/" : ""}`);
  }
  return parts.join("; ");
}

async function startOrigin(leafPem: string, leafKey: string): Promise<OriginPorts> {
  const p = new Proc("origin", [process.execPath, join(import.meta.dir, "origin.ts"), leafPem, leafKey]);
  const m = await p.waitFor(/^\{.*\}$/m, 15_000);
  return JSON.parse(m[0]) as OriginPorts;
}

function machine(others: { seconds: number; share: number }): Array<[string, string]> {
  const os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "")?.[1] ?? "unknown";
  const c = cpus();
  return [
    ["CPU", `${c.length} × ${c[0]?.model.trim() ?? "unknown"}`],
    ["Memory", `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["OS", `${os}, Linux ${release()}`],
    [
      "Other load during the run",
      `about ${others.seconds.toFixed(0)} CPU-seconds used by processes the benchmark did not start (${(others.share * 100).toFixed(1)}% of all cores over the run)${others.share > NOISY_SHARE ? ": the machine was NOT quiet; figures are noisier than usual" : ""}`,
    ],
  ];
}

function method(p: Params): string[] {
  return [
    `Every figure is the median of ${p.runs} runs (bulk downloads: ${p.bulkRuns}; memory: ${p.memoryRuns} fresh processes; start-up: ${p.startupRuns} starts; policy: ${p.policyRounds} timed rounds of ${p.policyRoundMs} ms in each of ${p.runs} fresh processes, and the median of their ${p.runs} cold compiles), after a warm-up that is not counted. All runs are in "Individual runs" below.`,
    "In each throughput and rate scenario every system is started fresh (own temp dir, free 127.0.0.1 port), warmed up, and then measured in interleaved rounds: each round measures every system once, in an order rotated per round, so slow drifts of this shared VM and kernel state (TIME_WAIT sockets) spread over all columns. Nothing leaves 127.0.0.0/8.",
    "The origin is a separate Bun process (bench/origin.ts): Bun.serve for the small responses (HTTP and HTTPS with a per-run CA from openssl), and raw sockets for the streamed bulk bodies and the one-byte greeting used by tunnel rows. Clients are separate Bun processes too (bench/clients/). Everything shares the machine's 2 cores, so every column includes the client's and the origin's CPU.",
    `HTTP forwarding: wrk -t1 -c${p.wrkConnections} -d${p.wrkSeconds}s --latency, with a Lua script setting the absolute-form target (wrk has no proxy option). Any non-2xx answer fails the cell.`,
    "run --isolate rows: the same work under our binary's `run` and `run --isolate`, alternating in each round: curl -p downloading the bulk body through a CONNECT tunnel (its byte count checked), and wrk forwarding with the load above, aimed at the proxy port run puts in HTTP_PROXY. Under --isolate the proxy listens on the command's own loopback inside its network namespace. Only our column exists.",
    'Chained rows (the cost of the extra hop): ours with a squid of its own as its upstream (`upstream.url`, `resolve = "upstream"`, the origin named origin.bench, which squid maps to 127.0.0.1 from its hosts file), against squid alone with the same load; both proxies share the 2 cores.',
    "Bulk rows: one download per run, checksummed with CRC-32 as it arrives and compared with the origin's; a mismatch fails the cell. MB = 10^6 bytes. CRC-32 runs at about 25 GB/s here, so the checksum does not cap the figure (SHA-256, at 1.8 GB/s, did: it held even direct near 1 GB/s and hid the differences between proxies).",
    `Tunnel set-up: ${p.tunnelConcurrency} concurrent loops of open (TCP + CONNECT or SOCKS5) → wait for the origin's one byte → the origin closes and the proxy passes the close on → close, for ${p.tunnelSeconds} s. Waiting for the origin's byte makes a proxy that answers 200 before dialing pay for the dial too; the origin closing first keeps TIME_WAIT off the ephemeral ports (tens of thousands of cycles would exhaust them). Direct is the same loop without a proxy and serves both rows.`,
    `MITM: ${p.httpsConcurrency} keep-alive TLS connections through CONNECT, the client trusting the proxy's CA, sequential GETs for ${p.httpsSeconds} s after every connection is up. mitmproxy verifies the origin with ssl_verify_upstream_trusted_ca (the origin's CA), as ours does with mitm.upstream_ca_file. Direct is plain HTTPS to the origin. bun-relay (its mitm mode) answers the CONNECT, takes the TLS with the origin's own certificate, dials the origin over TLS verifying it, and pipes the plaintext: TLS both ways and nothing else.`,
    `Memory: VmRSS from /proc of the proxy and all its descendants, 1 s after start, then with ${p.idleTunnels} idle tunnels open (each confirmed by the origin's byte) after 1 s of settling. Per tunnel = (loaded − idle) / tunnels. danted forks children, whose summed VmRSS counts shared pages once per process: its footnote gives the PSS figure too. Ours and the compiled bare programs start from copies of their files written at the start of the row: a compiled Bun program's resident size depends on how its file sits in the page cache (written a moment ago: large folios, each mapped whole; read back from disk after the cache dropped it: smaller ones), by about 5 MiB here for the same binary, so all are measured in the state right after an install or a build.`,
    `Policy: the project's own compilePolicy / parseAuthority / judgeTarget in one process, on a synthetic rule set (exact names, *. and **. wildcards, in-label globs, IPv4/IPv6 literals and CIDRs, plus a denylist a tenth the size) and a 1,000-target mix of matching, unmatched, denied and local names and addresses. All sets are compiled and alive at once and the timed rounds alternate between sizes, so GC heap size weighs on each alike. No peer has a comparable API, so only our column exists. "Flat" means at most ${POLICY_TOLERANCE}× the time per decision at the largest size.`,
    `Reload: ours started with a config file holding the policy row's largest rule set (${Math.max(...p.policySizes).toLocaleString("en-US")} patterns) and the origin; in each round wrk forwards as above once with nothing else happening, once while another process only spins at SCHED_IDLE (chrt --idle 0 bench/clients/spin.ts: the scheduler runs it only when nothing else wants the core), once while another process reads, parses, validates and compiles the same file back to back (bench/clients/reload-work.ts: the same CPU, none of it in the proxy), and once while a loop posts /reload back to back (each reload reads, parses, validates and compiles the whole file again, and swaps it in); then once more, unrecorded, while the proxy collects the reloads' garbage. Reported: wrk's p99 all four ways, and the median time until POST /reload is answered. Only our column exists.`,
    "Start-up: from spawn until every listener accepts a TCP connection (peers: 1 ms polling of their ports; ours: until its --ready-file appears, which it writes once every listener is bound); ours is the compiled binary at --log-level warn with the listeners it has; it and the bare program start from copies written at the start of the row (as in the memory rows), each started once before the timed starts.",
    "bun-relay is not a peer but a reference: bench/relay.ts, a bare relay on Bun.listen/Bun.connect run by the same Bun that builds ours (no policy, no parsing beyond finding the target, no limits, no logs; the forwarding row pipes each client connection to the origin unchanged). It shows what any proxy on this runtime can reach on this machine, so a gap between ours and a target that bun-relay cannot close either is the runtime's, not ours. It never counts as the best peer. In the start-up row and the idle RSS row the bun-relay column is bench/bare.ts instead, compiled the way ours is (minified, bytecode): it reads the config file if there is one, opens the same three listeners and writes the same ready file, and does nothing else: what any proxy compiled from this Bun costs before it does anything. The row under idle RSS runs bench/bare-work.ts, compiled the same way: bench/bare.ts, and then the runtime calls ours makes before it is ready (parses the -c values with smol-toml, makes itself undumpable through bun:ffi, creates the admin token file from random bytes with fsync, watches the config directory), each the way ours makes it, with none of ours' own code: the floor under our idle RSS on this Bun.",
    "Peers: squid with caching and logging off (cache deny all, cache_mem 0, access_log none), one worker (-N); tinyproxy with MaxClients 4096; danted with client/socks pass rules for 127.0.0.0/8; microsocks -i/-b 127.0.0.1; mitmdump in regular mode, --quiet, passing tunnels through untouched (--ignore-hosts '.*') for the tunnel rows. Ours runs with allowed_domains = [\"127.0.0.1\"] at --log-level warn.",
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      binary: { type: "string" },
      "no-install": { type: "boolean", default: false },
      only: { type: "string" },
    },
  });
  installCleanup();
  const quick = values.quick === true;
  const params = quick ? QUICK : FULL;
  const only = values.only?.split(",") ?? Object.keys(SCENARIOS);
  const unknown = only.filter((s) => !(s in SCENARIOS));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  const started = performance.now();
  const others = new ForeignCpu();

  const missing = await ensureInstalled(
    [...PEERS.map((p) => ({ bin: p.bin, pkg: p.pkg })), { bin: "wrk", pkg: "wrk" }, { bin: "chrt", pkg: "util-linux" }],
    values["no-install"] !== true,
  );
  for (const [bin, why] of missing) console.error(`skipping ${bin}: ${why}`);

  const bin = await binary(values.binary);
  const built = await provenance(bin);
  const ours = await probeOurs(bin);
  console.error(`measuring ${ours.version} (${ours.binary}, ${built}); listeners: ${[...ours.listeners].join(", ")}`);
  const tmp = makeTempDir("run");
  const certs = await makeOriginCerts(tmp);
  const origin = await startOrigin(certs.leafPem, certs.leafKey);
  const b: Bench = { params, ours, ctx: { origin, certs }, missing, tmp };

  const rows: Row[] = [];
  for (const name of only) rows.push(...(await SCENARIOS[name as keyof typeof SCENARIOS](b)));

  const bars = judgeBars(rows, POLICY_TOLERANCE);
  const load = others.measure();
  if (load.share > NOISY_SHARE)
    console.error(`warning: other processes used ${(load.share * 100).toFixed(1)}% of the machine during the run; the figures are noisier than usual`);
  const skipped = [
    ...[...missing].map(([bin, why]) => `${bin}: ${why}; its cells say "skipped".`),
    "mitmproxy in the tunnel rows (bulk, set-up, memory) passes tunnels through (--ignore-hosts '.*'): intercepting would measure its TLS, which the MITM row does.",
    "dante and microsocks speak only SOCKS5, squid and tinyproxy only HTTP (forwarding and CONNECT): each is measured in the rows its protocol allows (— elsewhere).",
  ];
  const report = markdown({
    targets: judgeTargets(rows),
    beforeAfter: beforeAfter(await publishedReport(), rows) ?? undefined,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    quick,
    machine: machine(load),
    versions: await versions(ours, built, [...PEERS, BUN_RELAY], missing),
    method: method(params),
    rows,
    bars,
    skipped,
  });
  const out = quick || values.only ? join(ROOT, ".bench/benchmarks.md") : join(ROOT, "docs/benchmarks.md");
  mkdirSync(join(out, ".."), { recursive: true });
  writeFileSync(out, report);

  console.log(`\n${resultsTable(rows)}\n\n${barsList(judgeTargets(rows))}\n\n${barsList(bars)}\n`);
  console.log(`wrote ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

await main();
process.exit(0);
