/**
 * README's Node.js snippets, copied out of the README and run as printed (as ES modules) on
 * Node 20, 22 and 24 (`bun scripts/get-node.ts` fetches them; `npm test` runs it first), under
 * `run` in full mode and in limited mode with MITM, for an allowed and a blocked target; and
 * Bun's fetch. The error a blocked target gives is the one README quotes.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_VERSIONS, nodePath } from "../../scripts/get-node.ts";
import { ROOT, runCli } from "../helpers/cli.ts";
import { FULL, home, limitedMitm, origins, README, snippet, trustOrigin } from "../helpers/clients.ts";

/** The README code block whose first line is `marker`. */
function readmeBlock(marker: string): string {
  const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const found = blocks.filter((b) => b.startsWith(marker));
  expect(found.length).toBe(1);
  return found[0]!;
}

const ANY_NODE = readmeBlock("// app.mjs: any Node.js");
const ENV_PROXY = readmeBlock("// app.mjs: Node.js 22.21+ and 24+");
/** What README says Node prints for a blocked target (stack lines left out). */
const BLOCKED = [
  "TypeError: fetch failed",
  "[cause]: DOMException [Error]: Request was cancelled.",
  "cause: RequestAbortedError [AbortError]: Proxy response (403) !== 200 when HTTP Tunneling",
];

/** A directory with the snippet as app.mjs and undici where `npm install undici` would put it. */
function app(code: string, url: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cnp-node-app-"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "app.mjs"), code.replaceAll("https://example.com/", url));
  return join(dir, "app.mjs");
}

describe("Node.js, README's snippets as printed", () => {
  for (const version of NODE_VERSIONS) {
    const major = Number(version.split(".")[0]);
    test(`Node ${version}: undici's EnvHttpProxyAgent (any version) and NODE_USE_ENV_PROXY (22.21+, 24+)`, async () => {
      const node = nodePath(version);
      if (!existsSync(node)) throw new Error(`${node} is missing: run bun scripts/get-node.ts (npm test does)`);
      using o = await origins();
      const base = `https://localhost:${o.https.port}/`;
      expect(README).toContain("console.log(res.status, await res.text());");
      for (const [mode, config, env] of [
        ["full", FULL, trustOrigin(o.pki)],
        ["limited", limitedMitm(o.pki), { CODEX_HOME: home() }],
      ] as const) {
        const run = (file: string) => runCli(["run", ...config.flatMap((c) => ["-c", c]), "--", node, file], env);
        const what = `node ${version}, ${mode} mode`;
        for (const [name, code] of [
          ["EnvHttpProxyAgent", ANY_NODE],
          ["NODE_USE_ENV_PROXY", ENV_PROXY],
        ] as const) {
          const blocked = await run(app(code, "https://blocked.invalid/"));
          if (name === "NODE_USE_ENV_PROXY" && major < 22) {
            // Node 20 ignores the variable and connects directly: README says so. The name does
            // not resolve, which shows the request never reached the proxy.
            expect(blocked.stderr).toContain("getaddrinfo ENOTFOUND blocked.invalid");
            expect(blocked.stderr).toContain("codex-network-proxy: no requests blocked");
            continue;
          }
          const ok = await run(app(code, base));
          expect(`${what}, ${name}: ${ok.stdout.trim()}`).toBe(`${what}, ${name}: 200 {"tls":true,"method":"GET","path":"/"}`);
          expect(blocked.code).toBe(1);
          for (const line of BLOCKED) expect(`${what}, ${name}: ${blocked.stderr.includes(line)}`).toBe(`${what}, ${name}: true`);
          expect(blocked.stderr).toContain("codex-network-proxy: 1 request blocked: 1 not_allowed (blocked.invalid)");
        }
      }
    });
  }
});

describe("Bun fetch", () => {
  test("from the environment and with an explicit proxy", async () => {
    using o = await origins();
    const base = `https://localhost:${o.https.port}`;
    const code = [
      `console.log(await (await fetch("${base}/env")).text());`,
      `${snippet('await fetch("https://example.com/", { proxy: process.env.HTTPS_PROXY });', base).replace("await fetch", "const r = await fetch")} console.log(await r.text());`,
      `console.log((await fetch("https://blocked.invalid/").catch((e) => ({ status: String(e) }))).status);`,
    ].join("\n");
    for (const [config, env] of [
      [FULL, trustOrigin(o.pki)],
      [limitedMitm(o.pki), { CODEX_HOME: home() }],
    ] as const) {
      const r = await runCli(["run", ...config.flatMap((c) => ["-c", c]), "--", process.execPath, "-e", code], env);
      expect(r.stdout.match(/"tls":true/g)?.length).toBe(2);
      expect(r.stdout).toMatch(/403|Proxy/);
    }
  });
});
