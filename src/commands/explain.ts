/**
 * `explain`: the decision for a URL or host:port under the current config, in words, without
 * connecting anywhere: the target's decision, then the admission (policy/admission.ts, the same
 * function the proxy runs) for each entry path the target could arrive by.
 */
import type { CliOptions } from "../cli.ts";
import type { LoadedConfig } from "../config/load.ts";
import { OUTCOMES } from "../outcomes.ts";
import { admit, type AdmissionFacts, type Entry } from "../policy/admission.ts";
import { evaluateTarget, explainAllow, judgeTarget, selfAddrs, type Allow, type Decision, type DialAddr } from "../policy/decide.ts";
import type { CompiledHook } from "../policy/hooks.ts";
import type { MethodRequest } from "../policy/method.ts";
import { upstreamFor, type UpstreamProxy } from "../policy/route.ts";
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
  // `explain POST https://...`: a leading method names the request to judge.
  const method = o.args.length > 1 && /^[A-Z]+$/.test(o.args[0]!) ? o.args[0]! : null;
  for (const arg of method ? o.args.slice(1) : o.args) {
    const lines = await explainOne(c, arg, o.noDns, systemResolver, method);
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

/**
 * The decision for one target. `method` (from `explain POST https://...`) judges that request:
 * its method and path against the mode and the host's `mitm_hooks`; without one, a GET.
 */
export async function explainOne(c: LoadedConfig, arg: string, noDns: boolean, resolve = systemResolver, method: string | null = null): Promise<string[]> {
  let target: Target;
  let entries: Entry[];
  let path = "/";
  try {
    if (arg.includes("://")) {
      const u = parseAbsoluteUrl(arg);
      target = u.target;
      path = u.path;
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
  const head = `${method ? `${method} ` : ""}${arg} -> ${formatTarget(target)} (${target.kind}${assumed ? "; no port given, so 443 as for https" : ""})`;
  // The proxy refuses its own listeners; judge them at the addresses the config gives them.
  const { http, socks, admin } = c.listeners;
  const ctx = { self: selfAddrs(socks ? [http, socks, admin] : [http, admin]), localAddrs: hostAddresses() };
  const request: MethodRequest = { method: method ?? "GET", hasBody: false, upgrade: false, overrides: [], path, headers: [] };
  let d: Decision;
  if (noDns) {
    const first = judgeTarget(c.policy, target, ctx);
    if (first.verdict === "resolve") {
      return [
        head,
        `  ALLOW by name: allowed_domains entry ${JSON.stringify(first.rule.raw)} matches; each resolved address would still be checked (skipped: --no-dns)`,
        ...entryLines(c, { verdict: "allow", target, rule: first.rule, addresses: [] }, entries, request),
      ];
    }
    d = first;
  } else {
    const r = c.route;
    const byName = r.resolve === "upstream" ? (t: Target) => upstreamFor(r, t, true) !== null && upstreamFor(r, t, false) !== null : undefined;
    d = await evaluateTarget(c.policy, target, { ...ctx, resolve, dnsTimeoutMs: c.np.limits.dns_timeout_ms, byName });
  }
  switch (d.verdict) {
    case "block": {
      const w = OUTCOMES[d.reason];
      const out = [head, `  BLOCK ${d.reason} (HTTP ${w.status}, x-proxy-error: ${w.header})`, `  why: ${d.explain}`];
      if (d.hint) out.push(`  to allow: ${d.hint}`);
      if (d.reason === "not_allowed" && c.np.policy.on_unlisted === "ask") {
        out.push(`  ask: on_unlisted = "ask": a request is held up to ${c.np.policy.ask_timeout_ms} ms for the operator's answer (admin API or dashboard)`);
      }
      return out;
    }
    case "dns_error":
      return [head, `  FAIL ${d.code}: ${d.explain}`];
    case "allow":
      return [
        head,
        `  ALLOW: ${explainAllow(d)}`,
        d.addresses.length > 0
          ? `  would dial: ${d.addresses.map((a: DialAddr) => (a.kind === "ipv6" ? `[${a.host}]` : a.host) + ":" + target.port).join(", ")}`
          : '  would dial: nothing here: the upstream proxy resolves the name (upstream.resolve = "upstream")',
        routeLine(c, target),
        ...entryLines(c, d, entries, request),
      ];
  }
}

/** Which way an allowed target goes: directly or through the upstream proxy, for tunnels and plain HTTP. */
function routeLine(c: LoadedConfig, t: Target): string {
  const way = (up: UpstreamProxy | null) => (up ? `through the upstream proxy ${up.label}` : "directly");
  const tls = way(upstreamFor(c.route, t, true));
  const plain = way(upstreamFor(c.route, t, false));
  return tls === plain ? `  route: ${tls}` : `  route: tunnels and HTTPS ${tls}; plain HTTP ${plain}`;
}

/** What a hook does to the request, in words (secrets by their source only). */
function hookActions(h: CompiledHook): string {
  const stripped = [...h.strip].filter((n) => !h.inject.some((i) => i.lower === n));
  const parts = [...(stripped.length ? [`strips ${stripped.join(", ")}`] : []), ...h.inject.map((i) => `injects ${i.name} (from ${i.source})`)];
  return parts.length ? `; ${parts.join("; ")}` : "";
}

/** The admission of `request` on each entry path under the configured mode (the proxy's own function). */
function entryLines(c: LoadedConfig, d: Allow, entries: readonly Entry[], request: MethodRequest): string[] {
  const facts: AdmissionFacts = {
    mode: c.np.mode,
    mitm: c.np.mitm.enabled,
    hooks: c.hooks,
    plaintextInjection: c.np.dangerously_allow_plaintext_credential_injection,
  };
  const what = `${request.method} ${request.path}`;
  const line = (entry: Entry): string => {
    const a = admit(entry, d, entry === "http" || entry === "https" ? request : null, facts);
    const via = `  via ${LABEL[entry]}${entry === "http" || entry === "https" ? ` (${what})` : ""}: `;
    if (a.verdict === "block") return `${via}BLOCK ${a.block.reason} (x-proxy-error: ${OUTCOMES[a.block.reason].header}): ${a.block.explain}`;
    if (a.verdict === "fail") return `${via}FAIL ${a.code}: ${a.explain}`;
    if (a.verdict === "intercept") return `${via}INTERCEPT: HTTPS is inspected (MITM), and each ${LABEL.https} is judged again`;
    if (a.hook) return `${via}ALLOW by ${a.hook.label}${hookActions(a.hook)}`;
    if (entry === "http" || entry === "https") {
      return `${via}ALLOW ${c.np.mode === "full" ? "(full mode: every method)" : "(limited mode: GET, HEAD and OPTIONS only, no bodies, upgrades or method overrides)"}`;
    }
    return `${via}ALLOW (a tunnel: the bytes inside are not inspected)`;
  };
  const out = entries.map(line);
  if (entries.includes("connect") && admit("connect", d, null, facts).verdict === "intercept") out.push(line("https"));
  return out;
}
