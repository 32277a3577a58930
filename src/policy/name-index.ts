/**
 * The index of name patterns (`example.com`, `*.example.com`, `**.example.com`, label globs such
 * as `region*.example.com`, `api.*.example.com`, `h1.*`), whose lookup cost is bounded by the
 * length of the target name, not by the number of patterns.
 *
 * Patterns form a trie of labels read from the right (`com`, then `example`, ...):
 *
 * - the nodes reached through fixed labels only are hashed by that fixed suffix as one string
 *   (`example.com`; the root is ""), so a lookup probes the target's whole name and each of its
 *   suffixes, one probe per label, without walking node to node;
 * - label globs lead from a node to a child through a two-level hash index: by the glob's
 *   literal prefix (the text before its first `*`), then by its literal suffix (the text after
 *   its last `*`). A lookup probes every prefix length and every suffix length that occurs among
 *   the node's globs (at most 63 of each, a label being at most 63 bytes; none when no literal
 *   prefix, or suffix, starts, or ends, with the label's first, or last, two characters), so
 *   it only ever examines globs whose prefix AND suffix both fit the target label. Only globs
 *   that share both with another glob and differ in their middle pieces (`*a*` and `*b*`:
 *   prefix "" and suffix "") share a bucket that is scanned; realistic sets have few of those.
 *   A node with a single glob, and a prefix bucket with a single suffix (the usual case), keep
 *   it alone and compare it directly, without tables (glob-edges.ts);
 * - below a glob, fixed labels lead to children through a per-node hash map;
 * - the rules that end at a node are kept by how many target labels may remain: none
 *   (`example.com`), one or more (`*.example.com`), any number (`**.example.com`): for each,
 *   the first rule for any port alone, else the rules by port (Slot).
 *
 * A lookup tries the longest fixed suffix first and, at each node, what lies below its globs
 * before the rules ending there: the most specific match wins. Every node is reached by one
 * path only, so a lookup visits each node at most once.
 */
import type { LabelGlob, Lead, Rule } from "./pattern.ts";
import { ANY, GlobEdges, mayFit, piecesMatchAt, samePieces, type GlobEdge } from "./glob-edges.ts";
import { HASH_SEED, hashStep, StrTable } from "./str-table.ts";

/**
 * The rules ending at a node for one lead, by port, once the first of them names a port. The
 * usual case, a first rule for any port, is kept as the Rule itself (see addRule): no rule added
 * after it can change what a lookup finds there, and a large rule set then holds one object per
 * pattern fewer.
 */
class Slot {
  anyPort: Rule | null = null;
  ports: Map<number, Rule> | null = null;

  add(rule: Rule): void {
    if (rule.port === null) {
      this.anyPort ??= rule;
      return;
    }
    this.ports ??= new Map();
    if (!this.ports.has(rule.port)) this.ports.set(rule.port, rule);
  }

  get(port: number): Rule | null {
    return this.anyPort ?? this.ports?.get(port) ?? null;
  }
}

type Rules = Rule | Slot;

/** `rules` with `rule` added: a first rule for any port alone, else a Slot. */
function addRule(rules: Rules | null, rule: Rule): Rules {
  if (rules === null) {
    if (rule.port === null) return rule;
    const slot = new Slot();
    slot.add(rule);
    return slot;
  }
  if (rules instanceof Slot) rules.add(rule);
  return rules;
}

/** The rule of `rules` for `port`, or null. */
function ruleFor(rules: Rules, port: number): Rule | null {
  return rules instanceof Slot ? rules.get(port) : rules;
}

/** The node below glob label `g` of `node`, added if new (see Node.oneGlob). */
function globChild(node: Node, g: LabelGlob): Node {
  if (node.globs) return node.globs.child(g);
  const one = node.oneGlob;
  if (one === null) {
    node.oneGlob = { pieces: g.pieces, node: new Node() };
    return node.oneGlob.node;
  }
  if (samePieces(one.pieces, g.pieces)) return one.node;
  // A second glob: the tables are built, with the first glob's edge (and node) kept.
  const edges = new GlobEdges<Node>(newNode);
  edges.adopt(one);
  node.oneGlob = null;
  node.globs = edges;
  return edges.child(g);
}

const newNode = (): Node => new Node();

class Node {
  /** Fixed-label children; only below a glob (above, nodes are hashed by their whole suffix). */
  exact: Map<string, Node> | null = null;
  /**
   * Glob-label children: while there is one, `oneGlob` alone (most nodes below a fixed suffix
   * have one, and the tables of GlobEdges cost about a kilobyte); from the second on, `globs`.
   */
  oneGlob: GlobEdge<Node> | null = null;
  globs: GlobEdges<Node> | null = null;
  /** `example.com`: no target label may remain. */
  whole: Rules | null = null;
  /** `*.example.com`: at least one target label remains. */
  sub: Rules | null = null;
  /** `**.example.com`: any number of target labels remain. */
  apex: Rules | null = null;
}

/** Work done by lookups, for tests that check the cost is bounded (counts, not timings). */
export interface IndexCounters {
  /** Hash probes (fixed suffixes, fixed labels below globs, glob prefixes and suffixes). */
  probes: number;
  /** Globs matched against a target label (piecesMatchAt). */
  globsTested: number;
}

export class NameIndex {
  /**
   * Nodes reached through fixed labels only, by their fixed suffix ("" is the root), hashed right
   * to left: one pass over a target from its end hashes every suffix a lookup probes.
   */
  readonly #fixed = new StrTable<Node>(true);
  size = 0;
  readonly counters: IndexCounters = { probes: 0, globsTested: 0 };

  /** Room for `n` more patterns (a list about to be compiled): the suffix table is sized once. */
  reserve(n: number): void {
    this.#fixed.reserve(this.#fixed.size + n);
  }

  /**
   * A pattern whose fixed (glob-free) trailing labels are `fixedSuffix`, joined with dots ("" for
   * none), and whose labels left of them are `labels`, left to right, a LabelGlob for each label
   * that contains `*` (none: a name, or a `*.`/`**.` lead over a name). When there are labels, the
   * last of them is a glob: a fixed label right of every glob belongs to the suffix, and a path
   * that spelled it out again would need it twice.
   */
  add(lead: Lead, labels: ReadonlyArray<string | LabelGlob>, rule: Rule, fixedSuffix: string): void {
    if (labels.length > 0 && typeof labels[labels.length - 1] === "string") throw new Error(`a fixed label left of the suffix ${JSON.stringify(fixedSuffix)}`);
    let node = this.#fixed.getOrAdd(fixedSuffix, newNode);
    for (let i = labels.length - 1; i >= 0; i--) {
      const l = labels[i]!;
      if (typeof l === "string") {
        node.exact ??= new Map();
        let next = node.exact.get(l);
        if (!next) {
          next = new Node();
          node.exact.set(l, next);
        }
        node = next;
      } else {
        node = globChild(node, l);
      }
    }
    const at: "whole" | "sub" | "apex" = lead === "none" ? "whole" : lead === "one_or_more" ? "sub" : "apex";
    node[at] = addRule(node[at], rule);
    this.size++;
  }

  /**
   * The most specific rule matching `name` (canonical, lowercase, no trailing dot) on `port`.
   * `explicitOnly`: only rules that name exactly this host (no wildcard, no lead).
   */
  match(name: string, port: number, explicitOnly = false): Rule | null {
    if (this.size === 0) return null;
    const c = this.counters;
    if (explicitOnly) {
      c.probes++;
      const whole = this.#fixed.get(name)?.whole;
      const r = whole ? ruleFor(whole, port) : null;
      return r?.explicit ? r : null;
    }
    // The whole name, then each shorter suffix, then "": `from` is where the suffix starts,
    // name.length + 1 for "", and the labels left of it end at from - 1 (none when from is 0).
    // The suffixes' hashes come from one pass from the end, collected shortest first.
    const len = name.length;
    if (len + 2 > suffixAt.length) {
      suffixAt = new Int32Array(2 * (len + 2));
      suffixHash = new Int32Array(2 * (len + 2));
    }
    let n = 0;
    let h = HASH_SEED;
    suffixAt[n] = len + 1;
    suffixHash[n++] = h;
    for (let i = len; i >= 0; i--) {
      if (i < len) h = hashStep(h, name.charCodeAt(i));
      if (i === 0 || name.charCodeAt(i - 1) === 0x2e) {
        suffixAt[n] = i;
        suffixHash[n++] = h;
      }
    }
    while (n > 0) {
      n--;
      const from = suffixAt[n]!;
      c.probes++;
      const node = this.#fixed.find(suffixHash[n]!, name, Math.min(from, len), len);
      if (node) {
        const r = this.#at(node, name, from - 1, port);
        if (r) return r;
      }
    }
    return null;
  }

  /** Rules at or below `node`, with the labels of name[0, end) not consumed yet (none: end < 1). */
  #at(node: Node, name: string, end: number, port: number): Rule | null {
    const left = end > 0;
    if (left && (node.globs || node.oneGlob || node.exact)) {
      const r = this.#below(node, name, end, port);
      if (r) return r;
    }
    if (!left && node.whole) {
      const r = ruleFor(node.whole, port);
      if (r) return r;
    }
    if (node.apex) {
      const r = ruleFor(node.apex, port);
      if (r) return r;
    }
    if (left && node.sub) {
      const r = ruleFor(node.sub, port);
      if (r) return r;
    }
    return null;
  }

  /** Follow the fixed-label and glob children of `node` that fit the last label of name[0, end). */
  #below(node: Node, name: string, end: number, port: number): Rule | null {
    const c = this.counters;
    const start = name.lastIndexOf(".", end - 1) + 1;
    const rest = start - 1; // -1 when this was the first label
    if (node.exact) {
      c.probes++;
      const next = node.exact.get(name.slice(start, end));
      if (next) {
        const r = this.#at(next, name, rest, port);
        if (r) return r;
      }
    }
    const one = node.oneGlob;
    if (one) {
      c.globsTested++;
      return piecesMatchAt(one.pieces, name, start, end) ? this.#at(one.node, name, rest, port) : null;
    }
    const g = node.globs;
    if (!g) return null;
    const len = end - start;
    const first = name.charCodeAt(start);
    const second = len > 1 ? name.charCodeAt(start + 1) : ANY;
    const last = name.charCodeAt(end - 1);
    const secondLast = len > 1 ? name.charCodeAt(end - 2) : ANY;
    const anyPrefix = mayFit(g.starts, first, second);
    // The label's prefixes are hashed left to right and its suffixes right to left, each
    // character once, as the probed lengths grow.
    let ph = HASH_SEED;
    let hashed = 0;
    for (const pl of g.prefixLengths) {
      if (pl > len) break;
      if (pl > 0 && !anyPrefix) break;
      while (hashed < pl) ph = hashStep(ph, name.charCodeAt(start + hashed++));
      c.probes++;
      const bucket = g.byPrefix.find(ph, name, start, start + pl);
      if (!bucket) continue;
      const only = bucket.onlyEdges;
      if (only !== null) {
        // One suffix: compared as it is, no hashing.
        const sfx = bucket.onlySuffix;
        if (pl + sfx.length > len) continue;
        c.probes++;
        if (!name.endsWith(sfx, end)) continue;
        for (const e of only) {
          c.globsTested++;
          if (!piecesMatchAt(e.pieces, name, start, end)) continue;
          const r = this.#at(e.node, name, rest, port);
          if (r) return r;
        }
        continue;
      }
      const { bySuffix, ends, lengths } = bucket.tables!;
      const anySuffix = mayFit(ends, last, secondLast);
      let sh = HASH_SEED;
      let back = 0;
      for (const sl of lengths) {
        if (pl + sl > len) break;
        if (sl > 0 && !anySuffix) break;
        while (back < sl) sh = hashStep(sh, name.charCodeAt(end - 1 - back++));
        c.probes++;
        const edges = bySuffix.find(sh, name, end - sl, end);
        if (!edges) continue;
        for (const e of edges) {
          c.globsTested++;
          if (!piecesMatchAt(e.pieces, name, start, end)) continue;
          const r = this.#at(e.node, name, rest, port);
          if (r) return r;
        }
      }
    }
    return null;
  }
}

/** Scratch for NameIndex.match: where each probed suffix starts, and its hash (grown on demand). */
let suffixAt = new Int32Array(64);
let suffixHash = new Int32Array(64);
