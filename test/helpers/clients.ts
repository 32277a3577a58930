/**
 * What the client tests share: README snippets (asserted to be in the README, with example.com
 * pointed at a loopback origin), the origins, and the configs they run `run` with.
 */
import { expect } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki, type TestPki } from "../../scripts/lib/pki.ts";
import { ROOT } from "./cli.ts";
import { HttpOrigin } from "./origin.ts";

export const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** A README line, asserted to be there, with example.com pointed at `base` (e.g. https://localhost:1234). */
export function snippet(line: string, base: string): string {
  expect(README).toContain(line);
  return line.replaceAll("https://example.com", base);
}

export const home = () => mkdtempSync(join(tmpdir(), "cnp-clients-"));

export interface Origins {
  pki: TestPki;
  https: ReturnType<typeof Bun.serve>;
  http: HttpOrigin;
}

export async function origins(): Promise<Origins & Disposable> {
  const pki = await makeTestPki();
  const leaf = await pki.issue(["localhost", "127.0.0.1"]);
  const https = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { key: leaf.key, cert: leaf.cert },
    fetch: (req) => Response.json({ tls: true, method: req.method, path: new URL(req.url).pathname }),
  });
  const http = new HttpOrigin();
  return {
    pki,
    https,
    http,
    [Symbol.dispose]() {
      https.stop(true);
      http[Symbol.dispose]();
    },
  };
}

/** Environment that makes the origin's private CA look like a public one to every client. */
export function trustOrigin(pki: TestPki): Record<string, string> {
  const f = pki.caFile;
  return {
    SSL_CERT_FILE: f,
    CURL_CA_BUNDLE: f,
    REQUESTS_CA_BUNDLE: f,
    NODE_EXTRA_CA_CERTS: f,
    GIT_SSL_CAINFO: f,
    PIP_CERT: f,
    npm_config_cafile: f,
    CODEX_HOME: home(),
  };
}

export const FULL = ['network_proxy.policy.allowed_domains=["localhost"]'];
export const limitedMitm = (pki: TestPki) => [
  ...FULL,
  "network_proxy.mode=limited",
  "network_proxy.mitm.enabled=true",
  `network_proxy.mitm.upstream_ca_file="${pki.caFile}"`,
];

export function runArgs(config: string[], shell: string): string[] {
  return ["run", ...config.flatMap((c) => ["-c", c]), "--", "sh", "-c", shell];
}
