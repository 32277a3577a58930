/**
 * Loopback-only socket helpers for the orchestrator: free ports and readiness polling.
 * Every address here is 127.0.0.1; the benchmark never talks to anything else.
 */
export const HOST = "127.0.0.1";

/**
 * `n` distinct ports that were free a moment ago: bind port 0 `n` times at once (so the kernel
 * cannot hand out the same port twice), read them back, release them. Peers that cannot bind
 * port 0 themselves (or, like our proxy at --log-level warn, do not say which port they got)
 * are given these.
 */
export function freePorts(n: number): number[] {
  const held = Array.from({ length: n }, () => Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } }));
  const ports = held.map((l) => l.port);
  for (const l of held) l.stop(true);
  return ports;
}

export function freePort(): number {
  return freePorts(1)[0]!;
}

/** One TCP connect attempt; true if it was accepted. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    Bun.connect({
      hostname: HOST,
      port,
      socket: {
        open(s) {
          s.end();
          resolve(true);
        },
        data() {},
        connectError() {
          resolve(false);
        },
      },
    }).catch(() => resolve(false));
  });
}

/**
 * Poll until every port accepts a TCP connection. Rejects if `alive()` turns false (the
 * process died) or after `timeoutMs`. The 1 ms poll interval bounds the start-up figure's
 * resolution.
 */
export async function waitForAccept(ports: readonly number[], alive: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (const port of ports) {
    for (;;) {
      if (await canConnect(port)) break;
      if (!alive()) throw new Error(`${what} exited before 127.0.0.1:${port} accepted`);
      if (performance.now() > deadline) throw new Error(`${what}: 127.0.0.1:${port} did not accept within ${timeoutMs} ms`);
      await Bun.sleep(1);
    }
  }
}
