/**
 * Deterministic test content and its checksums, shared by the tests' origins and the benchmark's.
 */

/** Deterministic content: byte i is i % 251 (a prime, so chunk boundaries never line up). */
export function pattern(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

const BLOCK = pattern(0, 251 * 4096); // repeats exactly, so it can be reused at any multiple of 251

/** Stream `total` pattern bytes to `write`, in big blocks. */
export function* patternBlocks(total: number): Generator<Uint8Array> {
  let sent = 0;
  while (sent < total) {
    const n = Math.min(BLOCK.length, total - sent);
    yield BLOCK.subarray(0, n);
    sent += n;
  }
}

/** CRC-32 of `total` pattern bytes: a checksum cheap enough (25 GB/s) not to be what a benchmark measures. */
export function patternCrc32(total: number): number {
  let crc = 0;
  for (const b of patternBlocks(total)) crc = Bun.hash.crc32(b, crc);
  return crc;
}

export function patternSha(total: number): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const b of patternBlocks(total)) h.update(b);
  return h.digest("hex");
}
