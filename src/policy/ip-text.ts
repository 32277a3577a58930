/**
 * Fast readers and writers of the common address spellings, each with ipaddr.js as its
 * reference (fast-paths.fuzz.test.ts checks they agree): what they do not recognise they leave to
 * ipaddr.js (they return null, or false), so they can only ever be faster, never say something
 * else.
 */

/**
 * An IPv6 address written as hex groups (1 to 4 digits) separated by ":", with at most one
 * "::", no embedded IPv4 and no zone, as 8 x 16-bit parts; null for anything else.
 */
export function parseIpv6Groups(s: string): number[] | null {
  const n = s.length;
  if (n < 2 || n > 39) return null;
  // The groups are read into `out` in order; those after "::" are moved to its end at the close.
  const out = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  /** How many groups come before "::" (-1: none yet). */
  let gapAt = -1;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return null;
    gapAt = 0;
    i = 2;
    if (i === n) return out;
  }
  for (;;) {
    let v = 0;
    let digits = 0;
    while (i < n) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      v = v * 16 + d;
      digits++;
      i++;
    }
    // A ninth group is one too many, with "::" or without.
    if (digits === 0 || digits > 4 || count === 8) return null;
    out[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (gapAt >= 0) return null;
      gapAt = count;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return null;
    }
  }
  if (gapAt < 0) return count === 8 ? out : null;
  if (count > 7) return null;
  // The groups after "::" go to the end, the last first; the places they leave are the gap's zeros.
  for (let k = 1; k <= count - gapAt; k++) {
    out[8 - k] = out[count - k]!;
    out[count - k] = 0;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * The RFC 5952 text of an IPv6 address (lowercase hex without leading zeros, the longest run
 * of two or more zero groups, the leftmost of equal ones, written "::"): ipaddr.js's toString.
 */
export function formatIpv6(p: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (p[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && p[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  return best < 0 ? hexGroups(p, 0, 8) : `${hexGroups(p, 0, best)}::${hexGroups(p, best + bestLen, 8)}`;
}

/** p[from, to) in hex, joined with ":" ("" when empty). */
function hexGroups(p: readonly number[], from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += i === from ? p[i]!.toString(16) : `:${p[i]!.toString(16)}`;
  return s;
}

/**
 * True when `s` is four decimal octets (0 to 255, no leading zeros), the form that
 * ipaddr.IPv4.isValidFourPartDecimal accepts and that IPv4.parse(s).toString() gives back unchanged.
 * One scan, no regular expression: a proxy that runs none before it is ready never pages in the
 * regular-expression engine's code (about 1.3 MiB of idle memory).
 */
export function isCanonicalDottedQuad(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let digits = 0;
  let part = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 255 || ++dots > 4) return false;
      digits = 0;
      part = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && part === 0) return false; // a leading zero
      part = part * 10 + (c - 0x30);
      digits++;
    } else return false;
  }
  return dots === 4;
}
