import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ByteQueue } from "../../src/proxy/bytes.ts";

describe("ByteQueue", () => {
  test("one chunk is viewed as it is, without a copy", () => {
    const q = new ByteQueue();
    const b = Buffer.from("GET / HTTP/1.1\r\n\r\n");
    q.append(b);
    expect(q.view().buffer).toBe(b.buffer);
    expect(q.view().byteOffset).toBe(b.byteOffset);
  });

  test("consume, take and clear", () => {
    const q = new ByteQueue();
    q.append(Buffer.from("abc"));
    q.append(Buffer.from("def"));
    q.consume(2);
    expect(q.view().toString()).toBe("cdef");
    expect(q.take()!.toString()).toBe("cdef");
    expect(q.length).toBe(0);
    expect(q.take()).toBeNull();
    q.append(Buffer.from("x"));
    q.clear();
    expect(q.view().length).toBe(0);
  });

  test("a view taken before an append is not overwritten by it (take hands the bytes over)", () => {
    const q = new ByteQueue();
    q.append(Buffer.from("one"));
    q.append(Buffer.from("two"));
    const taken = q.take()!;
    q.append(Buffer.from("xxxxxx"));
    expect(taken.toString()).toBe("onetwo");
  });

  test("property: any sequence of appends and consumes holds exactly what a plain concatenation holds", () => {
    const op = fc.oneof(fc.record({ append: fc.uint8Array({ maxLength: 300 }) }), fc.record({ consume: fc.nat(400) }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const q = new ByteQueue();
        let ref = Buffer.alloc(0);
        for (const o of ops) {
          if ("append" in o) {
            q.append(Buffer.from(o.append));
            ref = Buffer.concat([ref, o.append]);
          } else {
            const n = Math.min(o.consume, ref.length);
            q.consume(n);
            ref = ref.subarray(n);
          }
          expect(q.length).toBe(ref.length);
          expect(Buffer.compare(q.view(), ref)).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("appending one byte at a time copies amortized O(1) per byte (the store grows geometrically)", () => {
    const q = new ByteQueue();
    const one = Buffer.from("x");
    let stores = 0;
    let last: ArrayBufferLike | null = null;
    for (let i = 0; i < 100_000; i++) {
      q.append(one);
      const b = q.view().buffer;
      if (b !== last) stores++;
      last = b;
    }
    expect(q.length).toBe(100_000);
    expect(stores).toBeLessThan(40);
  });
});
