/**
 * Secret comparison whose time does not depend on where the inputs differ (tokens, passwords).
 */
import { timingSafeEqual } from "node:crypto";

export function constantTimeEqual(given: Uint8Array, expected: Uint8Array): boolean {
  // Pad both to the same length so timingSafeEqual can run; the length check comes after.
  const n = Math.max(given.length, expected.length, 1);
  const a = Buffer.alloc(n);
  const b = Buffer.alloc(n);
  a.set(given);
  b.set(expected);
  return timingSafeEqual(a, b) && given.length === expected.length;
}
