/**
 * `doctor`: check, on this machine and with this config, that the set-up does what its owner
 * thinks: the config, the listeners, the admin token, the MITM CA, this shell's variables, and a
 * live probe through a private instance against a loopback origin of its own (an allowed request
 * passes, a blocked one is refused; with namespaces available, a direct connection from inside
 * one fails). One line per check, its fix under it; exit 1 when any check fails.
 */
import type { CliOptions } from "../cli.ts";
import { loadConfig, type LoadedConfig } from "../config/load.ts";
import { findIsolation, selfCommand } from "../isolate/namespace.ts";
import { Logger } from "../log.ts";
import { systemResolver } from "../runtime/resolver.ts";
import { ProxyState } from "../runtime/state.ts";
import { ProxyServer } from "../server.ts";
import { loadOptions, type Io } from "./common.ts";
import { caCheck, environmentChecks, listenerChecks, tokenCheck, type Check } from "./doctor-checks.ts";

const EPHEMERAL = ['network_proxy.proxy_url="127.0.0.1:0"', 'network_proxy.socks_url="127.0.0.1:0"', 'network_proxy.admin_url="127.0.0.1:0"'];
const BLOCKED = "doctor-probe.invalid";

/** The live probe: a private instance of this config, with the probe origin's exact address allowed. */
async function probe(o: CliOptions, io: Io, c: LoadedConfig): Promise<Check[]> {
  const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("doctor") });
  const allowed = JSON.stringify([...c.np.policy.allowed_domains, `127.0.0.1:${origin.port}`]);
  const r = loadConfig({ ...loadOptions(o, io), overrides: [...o.overrides, ...EPHEMERAL, `network_proxy.policy.allowed_domains=${allowed}`] });
  if (!r.ok) {
    origin.stop(true);
    return [{ status: "fail", what: `probe: the config with the probe's origin added does not load: ${r.problems[0]}`, fix: "fix the config" }];
  }
  const log = new Logger("error", "text", { write: () => {} });
  const server = new ProxyServer(new ProxyState(r.config, log, systemResolver, () => r), log);
  const out: Check[] = [];
  try {
    await server.start({ forCommand: true });
    const creds = r.config.proxyAuth;
    const auth = creds ? `${encodeURIComponent(creds.username)}:${encodeURIComponent(creds.password)}@` : "";
    const proxy = `http://${auth}127.0.0.1:${server.address("HTTP proxy").port}`;
    const get = async (url: string) => {
      const res = await fetch(url, { proxy, signal: AbortSignal.timeout(10_000) });
      return { status: res.status, error: res.headers.get("x-proxy-error"), body: await res.text() };
    };
    const ok = await get(`http://127.0.0.1:${origin.port}/`);
    if (ok.status === 200 && ok.body === "doctor")
      out.push({ status: "pass", what: "probe: an allowed request went through a private instance and came back" });
    else
      out.push({
        status: "fail",
        what: `probe: an allowed request got ${ok.status} (${ok.error ?? "no x-proxy-error"}): ${ok.body.split("\n")[0]}`,
        fix: "see the reason; the policy or the mode refuses even its own probe",
      });
    const no = await get(`http://${BLOCKED}/`);
    if (no.status === 403 && no.error?.startsWith("blocked-by-"))
      out.push({ status: "pass", what: `probe: a request to ${BLOCKED} was refused (${no.error})` });
    else
      out.push({
        status: "fail",
        what: `probe: a request to ${BLOCKED} got ${no.status}, not a block`,
        fix: "the policy lets through names it should not: check allowed_domains for *",
      });
  } catch (e) {
    out.push({ status: "fail", what: `probe: ${(e as Error).message}`, fix: "see the error" });
  } finally {
    await server.stop(0);
  }
  const iso = findIsolation();
  if ("error" in iso)
    out.push({
      status: "warn",
      what: `isolation: run --isolate is not available here: ${iso.error}`,
      fix: "programs that ignore the proxy variables can go around it",
    });
  else {
    const p = Bun.spawnSync(iso.argv([...selfCommand(), "__probe", "127.0.0.1", String(origin.port)]), { stdout: "ignore", stderr: "pipe" });
    if (p.exitCode === 1) out.push({ status: "pass", what: "isolation: from inside a run --isolate namespace a direct connection fails" });
    else
      out.push({
        status: "fail",
        what: `isolation: a direct connection from inside the namespace ${p.exitCode === 0 ? "reached the origin" : `could not be tried (exit ${p.exitCode})`}`,
        fix: "do not rely on run --isolate on this machine",
      });
  }
  origin.stop(true);
  return out;
}

export async function doctorCommand(o: CliOptions, io: Io): Promise<number> {
  const r = loadConfig(loadOptions(o, io));
  const checks: Check[] = [];
  if (!r.ok) {
    checks.push({
      status: "fail",
      what: `config: ${r.source.path} does not load: ${r.problems[0]!.split("\n")[0]}${r.problems.length > 1 ? ` (and ${r.problems.length - 1} more)` : ""}`,
      fix: "codex-network-proxy check lists every problem",
    });
  } else {
    const c = r.config;
    checks.push({ status: "pass", what: `config: ${c.source.exists ? c.source.path : `defaults (no file at ${c.source.path})`} loads` });
    for (const w of c.warnings) checks.push({ status: "warn", what: `config: ${w}`, fix: "see the warning" });
    checks.push(...(await listenerChecks(c)), tokenCheck(c));
    const ca = await caCheck(c);
    if (ca) checks.push(ca);
    checks.push(...environmentChecks(c, io.env), ...(await probe(o, io, c)));
  }
  for (const ch of checks) io.out(`${ch.status.toUpperCase().padEnd(4)}  ${ch.what}\n${ch.fix && ch.status !== "pass" ? `      fix: ${ch.fix}\n` : ""}`);
  const failed = checks.filter((ch) => ch.status === "fail").length;
  io.out(failed ? `${failed} check${failed === 1 ? "" : "s"} failed\n` : "all checks passed\n");
  return failed ? 1 : 0;
}
