/**
 * The host's own interface addresses: the same canonical text ipaddr.js gives, read without
 * loading it (the proxy reads them again every few seconds while traffic flows).
 */
import { expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { canonicalIpByIpaddr } from "../../src/policy/ip.ts";
import { hostAddresses } from "../../src/runtime/host-addresses.ts";

test("hostAddresses: every interface address, in the canonical text ipaddr.js gives", () => {
  const expected = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const a = canonicalIpByIpaddr(i.address.split("%")[0]!);
      if (a) expected.add(a.host);
    }
  }
  expect(expected.has("127.0.0.1")).toBe(true);
  expect([...hostAddresses()].sort()).toEqual([...expected].sort());
});

test("hostAddresses and a decision on a usual target do not load ipaddr.js", () => {
  const src = join(import.meta.dir, "../../src");
  const script = `
    const { hostAddresses } = await import(${JSON.stringify(join(src, "runtime/host-addresses.ts"))});
    const { judgeTarget } = await import(${JSON.stringify(join(src, "policy/decide.ts"))});
    const { compilePolicy } = await import(${JSON.stringify(join(src, "policy/rules.ts"))});
    const { parseAuthority } = await import(${JSON.stringify(join(src, "policy/target.ts"))});
    const { policy } = compilePolicy({ allowed_domains: ["example.com", "10.1.2.3"], denied_domains: [], allow_unix_sockets: [], allow_local_binding: false });
    const ctx = { self: [], localAddrs: hostAddresses() };
    const verdicts = ["example.com:443", "10.1.2.3:80", "93.184.216.34:443", "[2606:2800:220:1::1]:443"].map((t) => judgeTarget(policy, parseAuthority(t, null), ctx).verdict);
    const loaded = Object.keys(require.cache).some((k) => k.includes("ipaddr.js"));
    console.log(JSON.stringify({ verdicts, loaded }));
  `;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  const out = JSON.parse(r.stdout.toString()) as { verdicts: string[]; loaded: boolean };
  expect(out.verdicts.length).toBe(4);
  expect(out.loaded).toBe(false);
});
