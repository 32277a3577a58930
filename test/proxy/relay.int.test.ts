/**
 * Relay on real loopback sockets: bytes both ways with backpressure (a slow reader pauses the
 * other side instead of growing memory), a half-close passed on only after what precedes it, and
 * a close of one side closing the other.
 */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Conn, connHandlers, HIGH_WATER } from "../../src/proxy/conn.ts";
import { Relay } from "../../src/proxy/relay.ts";
import { pattern, patternSha } from "../../scripts/lib/pattern.ts";
import { until } from "../helpers/until.ts";

interface End {
  socket: Socket<{ got: number; hash: Bun.CryptoHasher; ended: boolean; closed: boolean; drained: (() => void) | null }>;
}

/** Two raw clients, each connected to a listener whose side is a Conn; the two Conns are relayed. */
async function relayed(): Promise<{ a: End; b: End; relay: Relay; conns: [Conn, Conn]; done: Promise<void>; stop: () => void }> {
  const conns: Conn[] = [];
  const accepted: Array<() => void> = [];
  const server = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: undefined as unknown as Conn,
    socket: {
      ...connHandlers,
      open(s) {
        const c = new Conn("test");
        s.data = c;
        c.sock = s;
        conns.push(c);
        accepted.shift()?.();
      },
    },
  });
  const connect = async (): Promise<End> => {
    const { promise, resolve } = Promise.withResolvers<void>();
    accepted.push(resolve);
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      allowHalfOpen: true,
      data: { got: 0, hash: new Bun.CryptoHasher("sha256"), ended: false, closed: false, drained: null as (() => void) | null },
      socket: {
        data: (s, d) => {
          s.data.got += d.length;
          s.data.hash.update(d);
        },
        end: (s) => {
          s.data.ended = true;
        },
        close: (s) => {
          s.data.closed = true;
        },
        drain: (s) => s.data.drained?.(),
      },
    });
    await promise;
    return { socket };
  };
  const a = await connect();
  const b = await connect();
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const relay = new Relay(conns[0]!, conns[1]!, { relayDone: () => resolve() });
  relay.start();
  return { a, b, relay, conns: [conns[0]!, conns[1]!], done, stop: () => server.stop(true) };
}

describe("Relay", () => {
  test("64 MiB each way, checksummed, while one reader pauses: the relay holds at most about HIGH_WATER per direction", async () => {
    const r = await relayed();
    try {
      const total = 64 * 1024 * 1024;
      const chunk = 256 * 1024;
      const expected = patternSha(total);
      r.b.socket.pause();
      const pump = async (e: End) => {
        for (let sent = 0; sent < total; ) {
          const want = Math.min(chunk, total - sent);
          const n = e.socket.write(pattern(sent, want));
          if (n > 0) sent += n;
          if (n < want) await new Promise<void>((resolve) => (e.socket.data.drained = resolve));
        }
      };
      const sending = Promise.all([pump(r.a), pump(r.b)]);
      let maxQueued = 0;
      await until(
        () => {
          maxQueued = Math.max(maxQueued, r.conns[1].queuedBytes);
          return r.a.socket.data.got === total;
        },
        "b's bytes to reach a",
        30_000,
      );
      r.b.socket.resume();
      await sending;
      await until(() => r.b.socket.data.got === total, "a's bytes to reach b", 30_000);
      expect(r.a.socket.data.hash.digest("hex")).toBe(expected);
      expect(r.b.socket.data.hash.digest("hex")).toBe(expected);
      expect(maxQueued).toBeLessThanOrEqual(HIGH_WATER + 1024 * 1024);
    } finally {
      r.stop();
    }
  });

  test("a half-close is passed on after the bytes before it, and both half-closes end the relay", async () => {
    const r = await relayed();
    try {
      r.a.socket.write("before the end");
      r.a.socket.shutdown();
      await until(() => r.b.socket.data.ended, "b to see the half-close");
      expect(r.b.socket.data.got).toBe("before the end".length);
      r.b.socket.write("an answer after it");
      await until(() => r.a.socket.data.got === "an answer after it".length, "a to get the answer");
      r.b.socket.shutdown();
      await r.done;
    } finally {
      r.stop();
    }
  });

  test("one side closing closes the other", async () => {
    const r = await relayed();
    try {
      r.a.socket.terminate();
      await r.done;
      await until(() => r.b.socket.data.closed, "b to be closed");
    } finally {
      r.stop();
    }
  });
});
