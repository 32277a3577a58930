/**
 * Tunnel set-up cost: `concurrency` workers each loop open tunnel -> wait for the origin's
 * one-byte greeting (proof the tunnel reaches the origin, so a proxy cannot score by answering
 * 200 before dialing) -> the origin closes, the proxy passes the close on -> close, for a fixed
 * time. The client waits for that close rather than closing first, so that it never holds
 * its ephemeral ports in TIME_WAIT (see bench/origin.ts, greetClose).
 */
import { openTunnel, type Via } from "../lib/wire.ts";

export interface TunnelsArgs {
  via: Via;
  /** The origin's greet-and-close port. */
  port: number;
  concurrency: number;
  seconds: number;
}

export interface TunnelsResult {
  tunnels: number;
  seconds: number;
  errors: number;
  firstError: string | null;
}

export async function tunnels(a: TunnelsArgs): Promise<TunnelsResult> {
  let done = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + a.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        const w = await openTunnel(a.via, a.port);
        try {
          const greeting = await w.readExact(1);
          if (greeting[0] !== 0x2b) throw new Error(`unexpected greeting byte ${greeting[0]}`);
          await w.readEnd();
          done++;
        } finally {
          w.close();
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, worker));
  return { tunnels: done, seconds: (performance.now() - started) / 1000, errors, firstError };
}
