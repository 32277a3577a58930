/**
 * Policy decisions per second, in-process, with the project's own modules: what the proxy does
 * per request before dialing (canonicalize the authority, then judge it), without I/O.
 *
 * The rule sets are synthetic but shaped like real ones: exact names, `*.` and `**.` wildcards,
 * in-label globs, IPv4/IPv6 literals and CIDRs, plus a denylist a tenth the size. The targets
 * mix names and IPs that match, that match nothing, that hit the denylist, and local addresses.
 *
 * It is also the scaling check for in-label globs: four in ten patterns are globs, and most of
 * them share their fixed suffix with every other pattern of their shape (`r{i}x*.example.com`,
 * `*-{i}.cdn.example.net`) or have the glob in the last label (`h{i}.*`), the shapes an index
 * by fixed suffix alone has to scan; a tenth of the targets (`nomatch{k}.example.com`) walk
 * through those shapes and match nothing. `bun bench/clients/policy.ts` prints the cost per
 * decision of each glob shape alone at 10, 1,000 and 100,000 patterns.
 */
import type { DecideContext } from "../../src/policy/decide.ts";
import { judgeTarget } from "../../src/policy/decide.ts";
import { compilePolicy } from "../../src/policy/rules.ts";
import { parseAuthority } from "../../src/policy/target.ts";
import { median } from "../lib/stats.ts";

export interface PolicyArgs {
  sizes: number[];
  /** Timed rounds per size; the median is reported. */
  rounds: number;
  roundMs: number;
}

export interface PolicySizeResult {
  patterns: number;
  compileMs: number;
  /** Median nanoseconds per decision (parse + judge). */
  nsPerDecision: number;
  rounds: number[];
  /** How many of the sample targets each verdict got: proof the mix exercises every path. */
  verdicts: Record<string, number>;
}

export interface PolicyResult {
  sizes: PolicySizeResult[];
}

/** The i-th allowlist pattern; `i` picks the form, so any prefix of the sequence has every form. */
export function pattern(i: number): string {
  const a = (i >>> 16) & 255;
  const b = (i >>> 8) & 255;
  const c = i & 255;
  switch (i % 10) {
    case 0:
      return `api${i}.svc${i}.example.com`;
    case 1:
      return `region*.glob${i}.example.io`; // glob with its own fixed suffix
    case 2:
      return `*.zone${i}.example.net`;
    case 3:
      return `**.apex${i}.example.org`;
    case 4:
      return `r${i}x*.example.com`; // glob with a literal prefix, fixed suffix shared by all
    case 5:
      return `h${i}.*`; // glob in the last label
    case 6:
      return `*-${i}.cdn.example.net`; // glob with only a literal suffix, fixed suffix shared by all
    case 7:
      return `${20 + (a % 100)}.${b}.${c}.7`;
    case 8:
      return `${20 + (a % 100)}.${b}.${c}.0/24`;
    default:
      return `2a00:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48`;
  }
}

/** A target (authority) that `pattern(i)` matches. */
function matching(i: number): string {
  const p = pattern(i);
  switch (i % 10) {
    case 1:
      return `${p.replace("*", "-eu1")}:443`;
    case 2:
      return `deep.sub${p.slice(1)}:443`;
    case 3:
      return `${p.slice(3)}:443`;
    case 4:
      return `${p.replace("*", "-eu1")}:443`;
    case 5:
      return `${p.replace("*", "io")}:443`;
    case 6:
      return `${p.replace("*", "edge")}:443`;
    case 8:
      return `${p.slice(0, -4)}9:443`;
    case 9:
      return `[${p.slice(0, -3)}1]:443`;
    default:
      return `${p}:443`;
  }
}

function targets(n: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < 1000; k++) {
    const i = (k * 7919) % n; // spread over the whole set, deterministically
    switch (k % 8) {
      case 0:
      case 1:
      case 2:
        out.push(matching(i));
        break;
      case 3:
        // no rule: a name under no rule's suffix, or one through the shared-suffix glob shapes
        out.push(k % 16 === 3 ? `api${i}.svc${i}.unknown-${k}.com:443` : `nomatch${k}.example.com:443`);
        break;
      case 4:
        out.push(`${130 + (k % 60)}.51.${k % 200}.${k % 250}:443`); // public, no rule
        break;
      case 5:
        out.push(`denied${k % Math.max(1, Math.floor(n / 10))}.bad.example:443`); // denylist
        break;
      case 6:
        out.push(`10.${k % 250}.0.1:443`); // private literal: not_allowed_local
        break;
      default:
        out.push(`0x7f.${k % 200}:80`); // 127.0.0.x spelled the inet_aton way: local
    }
  }
  return out;
}

interface Prepared {
  patterns: number;
  compileMs: number;
  run: () => number;
  verdicts: Record<string, number>;
  rounds: number[];
}

function prepare(size: number): Prepared {
  const allowed = Array.from({ length: size }, (_, i) => pattern(i));
  const denied = Array.from({ length: Math.max(1, Math.floor(size / 10)) }, (_, i) => `denied${i}.bad.example`);
  const t0 = performance.now();
  const { policy, problems } = compilePolicy({ allowed_domains: allowed, denied_domains: denied, allow_unix_sockets: [], allow_local_binding: false });
  const compileMs = performance.now() - t0;
  if (problems.length > 0) throw new Error(`synthetic patterns rejected: ${problems[0]!.message}`);
  const ctx: DecideContext = { self: [{ host: "127.0.0.1", port: 3128 }] };
  const sample = targets(size);
  const verdicts: Record<string, number> = {};
  for (const s of sample) {
    const d = judgeTarget(policy, parseAuthority(s, null), ctx);
    const key = d.verdict === "block" ? d.reason : d.verdict;
    verdicts[key] = (verdicts[key] ?? 0) + 1;
  }
  // One pass over the sample; the verdict lengths are summed so the work cannot be elided.
  const run = (): number => {
    let sink = 0;
    for (const s of sample) sink += judgeTarget(policy, parseAuthority(s, null), ctx).verdict.length;
    if (sink === 0) throw new Error("no decisions were made");
    return sample.length;
  };
  return { patterns: size, compileMs, run, verdicts, rounds: [] };
}

/** Nanoseconds per decision over one round of about `ms` milliseconds. */
function round(p: Prepared, ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    n += p.run();
    now = performance.now();
  }
  return ((now - start) * 1e6) / n;
}

/**
 * Every rule set is compiled first and stays alive, and the timed rounds alternate between the
 * sizes, so that GC heap size and machine drift weigh on every size alike and the comparison isolates
 * what the bar is about: the lookup cost as the number of patterns grows.
 */
export function policy(a: PolicyArgs): PolicyResult {
  const sets = a.sizes.map(prepare);
  for (const p of sets) round(p, a.roundMs); // JIT warm-up, not counted
  for (let r = 0; r < a.rounds; r++) for (const p of sets) p.rounds.push(round(p, a.roundMs));
  return {
    sizes: sets.map((p) => ({ patterns: p.patterns, compileMs: p.compileMs, nsPerDecision: median(p.rounds), rounds: p.rounds, verdicts: p.verdicts })),
  };
}

/** Glob shapes alone, for `bun bench/clients/policy.ts`: each must cost the same at every size. */
const SHAPES: Record<string, (i: number) => string> = {
  "r{i}x*.example.com": (i) => `r${i}x*.example.com`,
  "h{i}.*": (i) => `h${i}.*`,
  "*x{i}.example.com": (i) => `*x${i}.example.com`,
  "a*b{i}.example.com": (i) => `a*b${i}.example.com`,
  "api.h{i}*.example.com": (i) => `api.h${i}*.example.com`,
};

function shapeScaling(sizes: readonly number[], ms: number): void {
  const sample = ["nomatch.example.com:443", "r5x-eu.example.com:443", "h5.example:443", "api.h77q.example.com:443", "deep.a.b.c.example.org:443"].map((s) =>
    parseAuthority(s, null),
  );
  const ctx: DecideContext = { self: [] };
  console.log(`ns per decision (judgeTarget over ${sample.length} targets), median of 5 rounds of ${ms} ms`);
  console.log(["shape".padEnd(24), ...sizes.map((n) => n.toLocaleString("en-US").padStart(10))].join(""));
  for (const [name, shape] of Object.entries(SHAPES)) {
    const cells: string[] = [];
    for (const n of sizes) {
      const { policy: p } = compilePolicy({
        allowed_domains: Array.from({ length: n }, (_, i) => shape(i)),
        denied_domains: [],
        allow_unix_sockets: [],
        allow_local_binding: false,
      });
      const rounds: number[] = [];
      for (let r = 0; r < 6; r++) {
        let k = 0;
        let sink = 0;
        const start = performance.now();
        let now = start;
        while (now - start < ms) {
          for (const t of sample) sink += judgeTarget(p, t, ctx).verdict.length;
          k += sample.length;
          now = performance.now();
        }
        if (sink === 0) throw new Error("no decisions were made");
        if (r > 0) rounds.push(((now - start) * 1e6) / k); // the first round warms up
      }
      cells.push(median(rounds).toFixed(0).padStart(10));
    }
    console.log([name.padEnd(24), ...cells].join(""));
  }
}

if (import.meta.main) shapeScaling([10, 1000, 100_000], 100);
