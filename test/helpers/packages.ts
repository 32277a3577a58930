/**
 * A loopback package origin for npm and pip: an npm registry (packument + tarball) and a PEP 503
 * "simple" index with one wheel, over HTTPS with a certificate from a test PKI. The artifacts are
 * real (a tarball made by `tar`, a wheel made by Python's zipfile) so that the real clients
 * verify and unpack them.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NPM_PACKAGE = "cnp-tiny";
export const PY_PACKAGE = "cnp_tiny";

function run(cmd: string[], cwd: string): void {
  const r = Bun.spawnSync(cmd, { cwd });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

function npmTarball(dir: string): Uint8Array {
  mkdirSync(join(dir, "package"));
  writeFileSync(join(dir, "package/package.json"), JSON.stringify({ name: NPM_PACKAGE, version: "1.0.0", main: "index.js" }));
  writeFileSync(join(dir, "package/index.js"), 'module.exports = "hello from the npm origin";\n');
  run(["tar", "-czf", "pkg.tgz", "package"], dir);
  return readFileSync(join(dir, "pkg.tgz"));
}

const WHEEL_SCRIPT = `
import base64, hashlib, sys, zipfile
name, out = sys.argv[1], sys.argv[2]
files = {
    f"{name}/__init__.py": b'GREETING = "hello from the pip origin"\\n',
    f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n".encode(),
    f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: cnp-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = "".join(
    f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\\n" for p, b in files.items()
) + f"{name}-1.0.dist-info/RECORD,,\\n"
with zipfile.ZipFile(out, "w") as z:
    for p, b in files.items():
        z.writestr(p, b)
    z.writestr(f"{name}-1.0.dist-info/RECORD", record)
`;

function wheel(dir: string): Uint8Array {
  const out = join(dir, `${PY_PACKAGE}-1.0-py3-none-any.whl`);
  run(["python3", "-c", WHEEL_SCRIPT, PY_PACKAGE, out], dir);
  return readFileSync(out);
}

export class PackageOrigin implements Disposable {
  readonly server: ReturnType<typeof Bun.serve>;
  /** "METHOD path" of every request the origin saw. */
  readonly requests: string[] = [];

  constructor(tls: { key: string; cert: string }) {
    const dir = mkdtempSync(join(tmpdir(), "cnp-packages-"));
    const tgz = npmTarball(dir);
    const whl = wheel(dir);
    const whlName = `${PY_PACKAGE}-1.0-py3-none-any.whl`;
    const tgzPath = `/${NPM_PACKAGE}/-/${NPM_PACKAGE}-1.0.0.tgz`;
    const integrity = `sha512-${createHash("sha512").update(tgz).digest("base64")}`;
    const shasum = createHash("sha1").update(tgz).digest("hex");
    const whlSha = createHash("sha256").update(whl).digest("hex");
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls,
      fetch: (req) => {
        const url = new URL(req.url);
        this.requests.push(`${req.method} ${url.pathname}`);
        if (req.method !== "GET") return new Response("read-only origin", { status: 405 });
        // Links point back at whatever authority the client asked for (through the proxy: Host).
        const base = `https://${req.headers.get("host")}`;
        switch (url.pathname) {
          case `/${NPM_PACKAGE}`:
            return Response.json({
              name: NPM_PACKAGE,
              "dist-tags": { latest: "1.0.0" },
              versions: { "1.0.0": { name: NPM_PACKAGE, version: "1.0.0", main: "index.js", dist: { tarball: base + tgzPath, integrity, shasum } } },
            });
          case tgzPath:
            return new Response(tgz, { headers: { "content-type": "application/octet-stream" } });
          case `/simple/${PY_PACKAGE.replace("_", "-")}/`:
            return new Response(`<!DOCTYPE html><html><body><a href="/files/${whlName}#sha256=${whlSha}">${whlName}</a></body></html>`, {
              headers: { "content-type": "text/html" },
            });
          case `/files/${whlName}`:
            return new Response(whl, { headers: { "content-type": "application/octet-stream" } });
          default:
            return new Response("not found", { status: 404 });
        }
      },
    });
  }

  get port(): number {
    return this.server.port ?? 0;
  }

  [Symbol.dispose](): void {
    this.server.stop(true);
  }
}
