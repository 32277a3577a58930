/**
 * Policy decisions per second, in-process, with the project's own modules: what the proxy does
 * per request before dialing (canonicalize the authority, then judge it), without I/O.
 *
 * The rule sets are synthetic but shaped like real ones: exact names, `*.` and `**.` wildcards,
 * in-label globs, IPv4/IPv6 literals and CIDRs, each with its own suffix (as distinct services
 * would have), plus a denylist a tenth the size. The targets mix names and IPs that match,
 * that match nothing, that hit the denylist, and local addresses.
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
function pattern(i: number): string {
  const a = (i >>> 16) & 255;
  const b = (i >>> 8) & 255;
  const c = i & 255;
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
      return `api${i}.svc${i}.example.com`;
    case 3:
    case 4:
      return `*.zone${i}.example.net`;
    case 5:
      return `**.apex${i}.example.org`;
    case 6:
      return `region*.glob${i}.example.io`;
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
    case 3:
    case 4:
      return `deep.sub${p.slice(1)}:443`;
    case 5:
      return `${p.slice(3)}:443`;
    case 6:
      return `${p.replace("*", "-eu1")}:443`;
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
        out.push(`api${i}.svc${i}.unknown-${k}.com:443`); // no rule
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
