/**
 * `explain`: the decision for a URL or host:port under the current config, in words, without
 * connecting anywhere: the target's decision, then the admission (policy/admission.ts, the same
 * function the proxy runs) for each entry path the target could arrive by.
 */
import type { CliOptions } from "../cli.ts";
import type { LoadedConfig } from "../config/load.ts";
import { OUTCOMES } from "../outcomes.ts";
import { admitEntry, type Entry } from "../policy/admission.ts";
import { evaluateTarget, explainAllow, judgeTarget, selfAddrs, type Decision, type DialAddr } from "../policy/decide.ts";
import { formatTarget, parseAbsoluteUrl, parseAuthority, TargetError, type Target } from "../policy/target.ts";
import { hostAddresses } from "../runtime/host-addresses.ts";
import { systemResolver } from "../runtime/resolver.ts";
import { loadOrReport, makeLogger, type Io } from "./common.ts";

export async function explainCommand(o: CliOptions, io: Io): Promise<number> {
  const c = loadOrReport(o, io, makeLogger(o));
  if (typeof c === "number") return c;
  // Scripts can ask "is all of this allowed?": 0 when every target is, 1 when any is blocked
  // (or cannot be resolved), 2 when one is not a valid target at all.
  let bad = false;
  let blocked = false;
  for (const arg of o.args) {
    const lines = await explainOne(c, arg, o.noDns);
    io.out(lines.join("\n") + "\n");
    if (lines[0]?.includes("invalid target")) bad = true;
    else if (!/^ {2}ALLOW/.test(lines[1] ?? "") || lines.some((l) => /^ {2}via .*: BLOCK /.test(l))) blocked = true;
  }
  return bad ? 2 : blocked ? 1 : 0;
}

/** `host:port`, or a bare host meaning port 443 (what `curl https://host` would ask for). */
function bareHost(arg: string): Target {
  return parseAuthority(arg, assumesPort(arg) ? 443 : null);
}

function assumesPort(arg: string): boolean {
  try {
    parseAuthority(arg, null);
    return false;
  } catch {
    return true;
  }
}

const LABEL: Readonly<Record<Entry, string>> = {
  http: "HTTP proxy request",
  https: "request inside an intercepted tunnel",
  connect: "CONNECT",
  socks5: "SOCKS5",
  "unix-socket": "x-unix-socket",
};

export async function explainOne(c: LoadedConfig, arg: string, noDns: boolean, resolve = systemResolver): Promise<string[]> {
  let target: Target;
  let entries: Entry[];
  try {
    if (arg.includes("://")) {
      const u = parseAbsoluteUrl(arg);
      target = u.target;
      entries = u.scheme === "https" ? ["connect", "socks5"] : ["http", "socks5"];
    } else {
      target = bareHost(arg);
      entries = ["connect", "socks5"];
    }
  } catch (e) {
    if (e instanceof TargetError) return [`${arg}: invalid target (${e.code}): ${e.message}`];
    throw e;
  }
  const assumed = !arg.includes("://") && target.port === 443 && assumesPort(arg);
  const head = `${arg} -> ${formatTarget(target)} (${target.kind}${assumed ? "; no port given, so 443 as for https" : ""})`;
  // The proxy refuses its own listeners; judge them at the addresses the config gives them.
  const { http, socks, admin } = c.listeners;
  const ctx = { self: selfAddrs(socks ? [http, socks, admin] : [http, admin]), localAddrs: hostAddresses() };
  let d: Decision;
  if (noDns) {
    const first = judgeTarget(c.policy, target, ctx);
    if (first.verdict === "resolve") {
      return [
        head,
        `  ALLOW by name: allowed_domains entry ${JSON.stringify(first.rule.raw)} matches; each resolved address would still be checked (skipped: --no-dns)`,
        ...entryLines(c, entries),
      ];
    }
    d = first;
  } else {
    d = await evaluateTarget(c.policy, target, { ...ctx, resolve, dnsTimeoutMs: c.np.limits.dns_timeout_ms });
  }
  switch (d.verdict) {
    case "block": {
      const w = OUTCOMES[d.reason];
      const out = [head, `  BLOCK ${d.reason} (HTTP ${w.status}, x-proxy-error: ${w.header})`, `  why: ${d.explain}`];
      if (d.hint) out.push(`  to allow: ${d.hint}`);
      return out;
    }
    case "dns_error":
      return [head, `  FAIL ${d.code}: ${d.explain}`];
    case "allow":
      return [
        head,
        `  ALLOW: ${explainAllow(d)}`,
        `  would dial: ${d.addresses.map((a: DialAddr) => (a.kind === "ipv6" ? `[${a.host}]` : a.host) + ":" + target.port).join(", ")}`,
        ...entryLines(c, entries),
      ];
  }
}

/** The admission for each entry path, under the configured mode (requests judged as a GET). */
function entryLines(c: LoadedConfig, entries: readonly Entry[]): string[] {
  const facts = { mode: c.np.mode, mitm: c.np.mitm.enabled };
  const get = { method: "GET", hasBody: false, upgrade: false, overrides: [] };
  return entries.map((entry) => {
    const a = admitEntry(entry, entry === "http" ? get : null, facts);
    const via = `  via ${LABEL[entry]}: `;
    if (a.verdict === "block") return `${via}BLOCK ${a.block.reason} (x-proxy-error: ${OUTCOMES[a.block.reason].header}): ${a.block.explain}`;
    if (a.verdict === "intercept") return `${via}INTERCEPT: HTTPS is inspected (MITM), and each ${LABEL.https} is judged again: only GET, HEAD and OPTIONS`;
    if (entry === "http")
      return `${via}ALLOW ${c.np.mode === "full" ? "every method" : "GET, HEAD and OPTIONS only (no bodies, upgrades or method overrides)"}`;
    return `${via}ALLOW (a tunnel: the bytes inside are not inspected)`;
  });
}
