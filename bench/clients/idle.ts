/**
 * Hold `count` idle tunnels open (each confirmed by the origin's greeting byte), say so on
 * stdout, and keep them until stdin closes: the orchestrator reads the proxy's RSS meanwhile.
 */
import { openTunnel, type Via, type Wire } from "../lib/wire.ts";

export interface IdleArgs {
  via: Via;
  /** The origin's greeting port. */
  port: number;
  count: number;
  /** Tunnels opened at once: enough to be quick, few enough not to overflow accept queues. */
  concurrency: number;
}

export interface IdleResult {
  tunnels: number;
}

export async function idle(a: IdleArgs): Promise<IdleResult> {
  const open: Wire[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < a.count) {
      next++;
      const w = await openTunnel(a.via, a.port);
      await w.readExact(1);
      open.push(w);
    }
  };
  try {
    await Promise.all(Array.from({ length: a.concurrency }, worker));
    console.log(JSON.stringify({ ready: open.length }));
    for await (const _ of process.stdin) {
      // Nothing is ever sent: the loop just waits for the orchestrator to close stdin.
    }
  } finally {
    for (const w of open) w.close();
  }
  return { tunnels: open.length };
}
