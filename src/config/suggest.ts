/** Did-you-mean for config keys and tables: the nearest known word, when it is near enough. */

/** The closest known key by edit distance, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 4));
  if (best !== undefined && bestDistance <= limit) return best;
  // A key written in another style (allowedDomains) or missing a prefix/suffix still deserves a hint.
  const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  return candidates.find((c) => squash(c) === squash(word) || (word.length >= 5 && squash(c).includes(squash(word))));
}

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}
