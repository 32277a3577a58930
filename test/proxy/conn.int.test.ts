/**
 * Conn on real loopback sockets: writes queue past what the kernel takes and ask the producer to
 * pause past HIGH_WATER, the queue is flushed in order on drain, a close waits for the flush, a
 * destroy drops it, and data that arrives before anyone listens is kept.
 */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { buffered, Conn, connHandlers, HIGH_WATER } from "../../src/proxy/conn.ts";
import { until } from "../helpers/until.ts";

/** A listener whose accepted sockets are Conns, and a raw client that can stop reading. */
async function pair(): Promise<{ conn: Conn; client: Socket<{ got: Buffer[]; ended: boolean; closed: boolean }>; received: () => Buffer; stop: () => void }> {
  const { promise, resolve } = Promise.withResolvers<Conn>();
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
        resolve(c);
      },
    },
  });
  const client = await Bun.connect<{ got: Buffer[]; ended: boolean; closed: boolean }>({
    hostname: "127.0.0.1",
    port: server.port,
    allowHalfOpen: true,
    data: { got: [], ended: false, closed: false },
    socket: {
      data: (s, d) => {
        s.data.got.push(Buffer.from(d));
      },
      end: (s) => {
        s.data.ended = true;
      },
      close: (s) => {
        s.data.closed = true;
      },
    },
  });
  return { conn: await promise, client, received: () => Buffer.concat(client.data.got), stop: () => server.stop(true) };
}

describe("Conn", () => {
  test("writes past what the kernel takes are queued, the producer is asked to pause past HIGH_WATER, and everything arrives in order", async () => {
    const p = await pair();
    try {
      p.client.pause();
      const chunk = Buffer.alloc(64 * 1024, 7);
      let total = 0;
      let writes = 0;
      while (p.conn.write(chunk)) {
        total += chunk.length;
        if (++writes > 10_000) throw new Error("write never asked to pause");
      }
      total += chunk.length;
      expect(p.conn.queuedBytes).toBeGreaterThan(HIGH_WATER);
      let writable = false;
      p.conn.onWritable = () => (writable = true);
      p.client.resume();
      await until(() => writable && p.received().length === total, "the queue to drain to the client");
      expect(p.conn.queuedBytes).toBe(0);
      expect(p.received().every((b) => b === 7)).toBe(true);
    } finally {
      p.stop();
    }
  });

  test("close() sends what is queued, then FIN; destroy() drops the queue", async () => {
    const a = await pair();
    const b = await pair();
    try {
      for (const p of [a, b]) p.client.pause();
      const big = Buffer.alloc(32 * 1024 * 1024, 1);
      a.conn.write(big);
      b.conn.write(big);
      expect(a.conn.queuedBytes).toBeGreaterThan(0); // more than the kernel takes at once
      expect(b.conn.queuedBytes).toBeGreaterThan(0);
      a.conn.close();
      b.conn.destroy();
      a.client.resume();
      b.client.resume();
      await until(() => a.client.data.ended, "a's FIN");
      expect(a.received().length).toBe(big.length);
      await until(() => b.client.data.ended || b.client.data.closed, "b to be closed");
      expect(b.received().length).toBeLessThan(big.length);
    } finally {
      a.stop();
      b.stop();
    }
  });

  test("data that arrives before the owner listens is kept and delivered in order; the close is reported once", async () => {
    const p = await pair();
    try {
      p.client.write("one,");
      p.client.write("two,");
      await until(() => p.conn.bytesIn === 8, "the bytes to arrive");
      const seen: string[] = [];
      p.conn.listen((c) => seen.push(c.toString()));
      p.client.write("three");
      await until(() => seen.join("") === "one,two,three", "everything in order");
      let closes = 0;
      p.conn.onClose = () => closes++;
      p.client.end();
      p.conn.destroy(true);
      await until(() => p.conn.closed, "the close");
      p.conn.reportClose();
      p.conn.reportClose();
      expect(closes).toBe(1);
    } finally {
      p.stop();
    }
  });

  test("shutdownWrite() sends FIN after the queue and keeps reading", async () => {
    const p = await pair();
    try {
      const got: string[] = [];
      p.conn.listen((c) => got.push(c.toString()));
      p.conn.write(Buffer.from("last words"));
      p.conn.shutdownWrite();
      await until(() => p.client.data.ended, "the FIN");
      expect(p.received().toString()).toBe("last words");
      p.client.write("still heard");
      await until(() => got.join("") === "still heard", "reading after the half-close");
    } finally {
      p.stop();
    }
  });
});

describe("the global budget of queued bytes", () => {
  test("past limits.max_buffered_bytes a write that must queue asks its producer to pause at once, whatever its own queue holds", async () => {
    const a = await pair();
    const b = await pair();
    const saved = buffered.limit;
    try {
      for (const p of [a, b]) p.client.pause();
      const chunk = Buffer.alloc(64 * 1024, 3);
      // Fill a's queue up to its own HIGH_WATER: the budget is large, so only HIGH_WATER stops it.
      buffered.limit = 1024 * 1024 * 1024;
      while (a.conn.write(chunk));
      const held = buffered.bytes;
      expect(held).toBeGreaterThan(HIGH_WATER);
      // With the budget already spent by a, b is told to pause as soon as anything of its own is queued.
      buffered.limit = held;
      let writes = 0;
      while (b.conn.write(chunk)) writes++;
      expect(b.conn.queuedBytes).toBeGreaterThan(0);
      expect(b.conn.queuedBytes).toBeLessThanOrEqual(chunk.length);
      expect(writes).toBeLessThan(10_000);
      // Closing gives its queue back to the budget.
      const before = buffered.bytes;
      const q = b.conn.queuedBytes;
      b.conn.destroy(true);
      expect(buffered.bytes).toBe(before - q);
    } finally {
      buffered.limit = saved;
      a.conn.destroy(true);
      a.stop();
      b.stop();
    }
  });
});
