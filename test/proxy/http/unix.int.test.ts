/**
 * `x-unix-socket` is macOS-only, as in the original: on this platform the proxy refuses it before
 * anything else (the entry path does not exist here, whatever the method), and never forwards the
 * header. The allowlist logic itself is platform-independent and checked here too.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unixSocketAllowed } from "../../../src/proxy/http/unix.ts";
import { ALLOW_LOOPBACK, startProxy } from "../../helpers/proxy.ts";
import { rawRequest } from "../../helpers/raw.ts";

describe("x-unix-socket", () => {
  test.skipIf(process.platform === "darwin")("is refused with 501 on this platform, in either mode, and nothing is recorded", async () => {
    await using proxy = await startProxy([ALLOW_LOOPBACK, 'network_proxy.policy.allow_unix_sockets=["/tmp/example.sock"]']);
    const r = await rawRequest(proxy.port, "GET http://localhost/v1/info HTTP/1.1\r\nHost: localhost\r\nX-Unix-Socket: /tmp/example.sock\r\n\r\n");
    expect(r.status).toBe(501);
    expect(r.headers["x-proxy-error"]).toBe("unix-sockets-unsupported");
    expect(r.body.toString()).toContain("macOS only");
    await using limited = await startProxy([ALLOW_LOOPBACK, "network_proxy.mode=limited"]);
    const m = await rawRequest(
      limited.port,
      "POST http://localhost/containers/create HTTP/1.1\r\nHost: localhost\r\nX-Unix-Socket: /var/run/docker.sock\r\nContent-Length: 0\r\n\r\n",
    );
    expect(m.status).toBe(501);
    expect(m.headers["x-proxy-error"]).toBe("unix-sockets-unsupported");
    expect(limited.state.blocked.since(0)).toEqual([]);
    const bad = await rawRequest(proxy.port, "GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\nX-Unix-Socket: \r\n\r\n");
    expect(bad.status).toBe(400);
  });

  test("allowlist: absolute paths only, exact or through symlinks on either side", () => {
    const dir = mkdtempSync(join(tmpdir(), "cnp-unix-"));
    const real = join(dir, "real.sock");
    writeFileSync(real, "");
    symlinkSync(real, join(dir, "link.sock"));
    expect(unixSocketAllowed(real, [real])).toBe(true);
    expect(unixSocketAllowed(join(dir, "link.sock"), [real])).toBe(true);
    expect(unixSocketAllowed(real, [join(dir, "link.sock")])).toBe(true);
    expect(unixSocketAllowed(join(dir, "other.sock"), [real])).toBe(false);
    expect(unixSocketAllowed("real.sock", ["real.sock"])).toBe(false);
    expect(unixSocketAllowed(real, [])).toBe(false);
  });
});
