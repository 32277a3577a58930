/**
 * Secret comparison whose time does not depend on where the inputs differ (tokens, passwords).
 */
export function constantTimeEqual(given: Uint8Array, expected: Uint8Array): boolean {
  // Pad both to the same length so timingSafeEqual can run; the length check comes after.
  const n = Math.max(given.length, expected.length, 1);
  const a = Buffer.alloc(n);
  const b = Buffer.alloc(n);
  a.set(given);
  b.set(expected);
  // The runtime's global crypto.timingSafeEqual (the same native comparison node:crypto exports),
  // so that checking a token does not load node:crypto and its streams at start-up.
  return crypto.timingSafeEqual(a, b) && given.length === expected.length;
}
