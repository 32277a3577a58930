/**
 * `explain`: the decision for a URL or host:port under the current config, in words, without
 * connecting anywhere.
 */
import type { CliOptions } from "../cli.ts";
import type { LoadedConfig } from "../config/load.ts";
import { hostAddresses } from "../runtime/interfaces.ts";
import { evaluateTarget, explainAllow, judgeTarget, selfAddrs, type Decision, type DialAddr } from "../policy/decide.ts";
import { REASONS } from "../policy/reasons.ts";
import { systemResolver } from "../runtime/resolver.ts";
import { formatTarget, parseAbsoluteUrl, parseAuthority, TargetError, type Target } from "../policy/target.ts";
import { loadOrReport, makeLogger, type Io } from "./common.ts";

export async function explainCommand(o: CliOptions, io: Io): Promise<number> {
  const c = loadOrReport(o, io, makeLogger(o));
  if (!c) return 2;
  let bad = false;
  for (const arg of o.args) {
    const lines = await explainOne(c, arg, o.noDns);
    io.out(lines.join("\n") + "\n");
    if (lines[0]?.includes("invalid target")) bad = true;
  }
  return bad ? 2 : 0;
}

export async function explainOne(c: LoadedConfig, arg: string, noDns: boolean, resolve = systemResolver): Promise<string[]> {
  let target: Target;
  let viaConnect = false;
  try {
    if (arg.includes("://")) {
      const u = parseAbsoluteUrl(arg);
      target = u.target;
      viaConnect = u.scheme === "https";
    } else {
      target = parseAuthority(arg, null);
      viaConnect = true;
    }
  } catch (e) {
    if (e instanceof TargetError) return [`${arg}: invalid target (${e.code}): ${e.message}`];
    throw e;
  }
  const head = `${arg} -> ${formatTarget(target)} (${target.kind})`;
  // The proxy refuses its own listeners; judge them at the addresses the config gives them.
  const { http, socks, admin } = c.listeners;
  const ctx = { self: selfAddrs(socks ? [http, socks, admin] : [http, admin]), localAddrs: hostAddresses() };
  let d: Decision;
  if (noDns) {
    const first = judgeTarget(c.policy, target, ctx);
    if (first.verdict === "resolve") {
      return [head, `  ALLOW by name: allowed_domains entry ${JSON.stringify(first.rule.raw)} matches; each resolved address would still be checked (skipped: --no-dns)`, ...modeLines(c, viaConnect)];
    }
    d = first;
  } else {
    d = await evaluateTarget(c.policy, target, { ...ctx, resolve, dnsTimeoutMs: c.np.limits.dns_timeout_ms });
  }
  switch (d.verdict) {
    case "block": {
      const w = REASONS[d.reason];
      const out = [head, `  BLOCK ${d.reason} (HTTP ${w.status}, x-proxy-error: ${w.header})`, `  why: ${d.explain}`];
      if (d.hint) out.push(`  to allow: ${d.hint}`);
      return out;
    }
    case "dns_error":
      return [head, `  FAIL ${d.code}: ${d.explain}`];
    case "allow":
      return [head, `  ALLOW: ${explainAllow(d)}`, `  would dial: ${d.addresses.map((a: DialAddr) => (a.kind === "ipv6" ? `[${a.host}]` : a.host) + ":" + target.port).join(", ")}`, ...modeLines(c, viaConnect)];
  }
}

function modeLines(c: LoadedConfig, viaConnect: boolean): string[] {
  if (c.np.mode !== "limited") return ["  mode full: every method is allowed"];
  if (viaConnect && !c.np.mitm.enabled) {
    return [`  BUT mode is limited and MITM is off: CONNECT is blocked with mitm_required (x-proxy-error: ${REASONS.mitm_required.header})`];
  }
  return ["  mode limited: only GET, HEAD and OPTIONS (no bodies, upgrades or method overrides)"];
}
