/**
 * Glob labels (`region*`, `h*x`) and the two-level index that leads from a node of the name
 * index (name-index.ts) to the children below its glob labels: by literal prefix, then by
 * literal suffix, so a lookup only examines globs whose prefix and suffix both fit the label.
 * Generic over the node type, which is the name index's.
 */
import type { LabelGlob } from "./pattern.ts";
import { StrTable } from "./str-table.ts";

/**
 * Does `label` match a glob whose only wildcard is `*` (any run of characters)? Greedy and
 * linear: the first piece must be a prefix, the last a suffix, and the middle pieces are found
 * left to right; for `*`-only globs the leftmost placement is never worse. (A RegExp of
 * `[^.]*` runs backtracks exponentially in the number of stars, and the label is the client's.)
 */
export function globMatches(g: LabelGlob, label: string): boolean {
  return piecesMatchAt(g.pieces, label, 0, label.length);
}

/** globMatches for a glob's pieces and the label s[start, end), without taking it out of `s`. */
export function piecesMatchAt(p: readonly string[], s: string, start: number, end: number): boolean {
  const first = p[0]!;
  const last = p[p.length - 1]!;
  if (end - start < first.length + last.length || !s.startsWith(first, start) || !s.endsWith(last, end)) return false;
  let at = start + first.length;
  const stop = end - last.length;
  for (let i = 1; i < p.length - 1; i++) {
    const piece = p[i]!;
    if (piece === "") continue;
    const found = s.indexOf(piece, at);
    if (found < 0 || found + piece.length > stop) return false;
    at = found + piece.length;
  }
  return true;
}

/**
 * A glob label (its pieces, see LabelGlob) and the node below it. The pieces are held here
 * rather than the LabelGlob that carries them: one object fewer to keep per glob, and one
 * fewer to read on the way to a match, which in a large rule set is rarely in a cache.
 */
export interface GlobEdge<N> {
  readonly pieces: readonly string[];
  readonly node: N;
}

/**
 * The first (or last) one or two characters of a literal prefix (or suffix), as one number: a
 * small set of these lets a lookup skip every probe of a label that no literal can fit, before
 * slicing and hashing (the common case: a name that matches nothing).
 */
export function edgeKey(c0: number, c1: number): number {
  return c0 * 65536 + c1;
}
export const ANY = 65535;

/**
 * A set of edgeKeys. Most glob nodes have one literal prefix and one suffix: the first key is a
 * field, and a Set is made only for a second one (a large list has thousands of these).
 */
export class EdgeKeys {
  #first = -1;
  #more: Set<number> | null = null;

  add(k: number): void {
    if (this.#first < 0) this.#first = k;
    else if (k !== this.#first) {
      this.#more ??= new Set();
      this.#more.add(k);
    }
  }

  has(k: number): boolean {
    return k === this.#first || this.#more?.has(k) === true;
  }
}

export function mayFit(keys: EdgeKeys, c0: number, c1: number): boolean {
  return keys.has(edgeKey(c0, ANY)) || (c1 !== ANY && keys.has(edgeKey(c0, c1)));
}

/**
 * The globs that share a prefix, by their suffix. While they all have one suffix (most buckets:
 * one glob), that suffix and its edges alone; from a second suffix on, the tables.
 */
export class SuffixBucket<N> {
  /** The one suffix, while `onlyEdges` is set. */
  onlySuffix = "";
  onlyEdges: GlobEdge<N>[] | null = null;
  /** From a second suffix on (null before): the edge lists by suffix. */
  tables: SuffixTables<N> | null = null;

  /**
   * The edge list of `suffix`, added (empty) if new. A list is only ever added for an edge that
   * is then pushed onto it, so an empty list is a new one.
   */
  listFor(suffix: string): GlobEdge<N>[] {
    let tables = this.tables;
    if (tables === null) {
      if (this.onlyEdges === null) {
        this.onlySuffix = suffix;
        this.onlyEdges = [];
        return this.onlyEdges;
      }
      if (this.onlySuffix === suffix) return this.onlyEdges;
      // A second suffix: the tables are built, starting with the first one's edges.
      tables = new SuffixTables<N>();
      this.tables = tables;
      tables.bySuffix.set(this.onlySuffix, this.onlyEdges);
      tables.indexLength(this.onlySuffix);
      this.onlyEdges = null;
    }
    const size = tables.bySuffix.size;
    const list = tables.bySuffix.getOrAdd(suffix, newList<N>);
    if (tables.bySuffix.size !== size) tables.indexLength(suffix);
    return list;
  }
}

/** A SuffixBucket's index once its globs have two or more suffixes (most buckets never do). */
export class SuffixTables<N> {
  /** Hashed right to left: a lookup extends one hash leftwards over the label's last characters. */
  readonly bySuffix = new StrTable<GlobEdge<N>[]>(true);
  /** Distinct suffix lengths present, ascending. */
  readonly lengths: number[] = [];
  /** edgeKey(last, second to last) of the non-empty suffixes present. */
  readonly ends = new EdgeKeys();

  indexLength(suffix: string): void {
    insertSorted(this.lengths, suffix.length);
    const n = suffix.length;
    if (n > 0) this.ends.add(edgeKey(suffix.charCodeAt(n - 1), n > 1 ? suffix.charCodeAt(n - 2) : ANY));
  }
}

export class GlobEdges<N> {
  /** Hashed left to right: a lookup extends one hash rightwards over the label's first characters. */
  readonly byPrefix = new StrTable<SuffixBucket<N>>(false);
  /** Distinct prefix lengths present, ascending. */
  readonly prefixLengths: number[] = [];
  /** edgeKey(first, second) of the non-empty prefixes present. */
  readonly starts = new EdgeKeys();

  /** The node below `glob`; patterns sharing a glob label share it. */
  constructor(private readonly makeNode: () => N) {}

  child(glob: LabelGlob): N {
    return this.#edge(glob.pieces, null).node;
  }

  /** Take `edge` (a glob with its node) in as it is: the first glob of a node that had only it. */
  adopt(edge: GlobEdge<N>): void {
    this.#edge(edge.pieces, edge);
  }

  /** The edge for the glob of `pieces`: the one there, else `given` (or a new one) added. */
  #edge(pieces: readonly string[], given: GlobEdge<N> | null): GlobEdge<N> {
    const prefix = pieces[0]!;
    const suffix = pieces[pieces.length - 1]!;
    const prefixes = this.byPrefix.size;
    const bucket = this.byPrefix.getOrAdd(prefix, newBucket<N>);
    if (this.byPrefix.size !== prefixes) {
      insertSorted(this.prefixLengths, prefix.length);
      if (prefix !== "") this.starts.add(edgeKey(prefix.charCodeAt(0), prefix.length > 1 ? prefix.charCodeAt(1) : ANY));
    }
    const list = bucket.listFor(suffix);
    if (list.length > 0) {
      // The same glob (same prefix, suffix and middle pieces) already has its node.
      for (const e of list) if (samePieces(e.pieces, pieces)) return e;
    }
    const edge: GlobEdge<N> = given ?? { pieces, node: this.makeNode() };
    list.push(edge);
    return edge;
  }
}

/** Makers for StrTable.getOrAdd, made once rather than a closure per call. */
function newList<N>(): GlobEdge<N>[] {
  return [];
}
function newBucket<N>(): SuffixBucket<N> {
  return new SuffixBucket<N>();
}

export function samePieces(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function insertSorted(a: number[], n: number): void {
  let i = a.length;
  while (i > 0 && a[i - 1]! > n) i--;
  if (a[i - 1] !== n) a.splice(i, 0, n);
}
