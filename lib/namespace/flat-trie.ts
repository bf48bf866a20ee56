/**
 * The namespace index's tree of literal prefixes, built as a radix tree (a trie with single-child
 * chains merged into one edge) and then laid out flat, depth first, in one Int32Array, with each
 * rule's check (rule-program.ts) stored inline in the node where its prefix ends.
 *
 * Why flat: at ten thousand registrations the index no longer fits in the CPU caches, and a lookup
 * costs what it misses. A tree of objects (node, label string, keys string, kids array, entry
 * objects, required strings, compiled regexes) misses on each of them at every level; here a node
 * is one stretch of the array, and depth-first order puts a bridge's own nodes and rules (below
 * `@_discord1234_`) next to each other, so they come in on the same few cache lines.
 *
 * Why a radix tree: a lookup walks the id once, one step per node on the path of its longest
 * matching prefix, however many registrations and distinct prefix lengths there are.
 *
 * Node layout: `labelLength, label..., entryWords, entries..., kidCount, (firstChar, kidOffset)...`;
 * an entry is `order, exclusive (0|1), opsLength, ops...`.
 */
import { foldCode } from './literal-prefix.ts';
import { runRule, type ProgramTables } from './rule-program.ts';

interface BuildNode {
  label: string;
  /** The entries' words, already laid out: `order, exclusive, opsLength, ops...` each. */
  entries: number[];
  keys: string;
  kids: BuildNode[];
}

/** Collects prefixes and their rules' programs, then lays them out with {@link TrieBuilder.build}. */
export class TrieBuilder {
  readonly #root: BuildNode = { label: '', entries: [], keys: '', kids: [] };

  /** Files a rule under `text` (already folded for a case-insensitive tree). */
  insert(text: string, order: number, exclusive: boolean, ops: readonly number[]): void {
    let node = this.#root;
    let pos = 0;
    while (pos < text.length) {
      const k = node.keys.indexOf(text[pos]!);
      if (k < 0) {
        const leaf: BuildNode = { label: text.slice(pos), entries: [], keys: '', kids: [] };
        node.keys += text[pos];
        node.kids.push(leaf);
        node = leaf;
        break;
      }
      let child = node.kids[k]!;
      let common = 1;
      while (common < child.label.length && pos + common < text.length && child.label[common] === text[pos + common])
        common++;
      if (common < child.label.length) {
        // The new prefix ends or turns inside the edge: split it at that point.
        const middle: BuildNode = {
          label: child.label.slice(0, common),
          entries: [],
          keys: child.label[common]!,
          kids: [child],
        };
        child.label = child.label.slice(common);
        node.kids[k] = middle;
        child = middle;
      }
      node = child;
      pos += common;
    }
    node.entries.push(order, exclusive ? 1 : 0, ops.length, ...ops);
  }

  build(fold: boolean, tables: ProgramTables): FlatTrie {
    const out = new Words();
    // Iterative depth-first layout: deep chains must not overflow the stack.
    const stack: { node: BuildNode; patch: number }[] = [{ node: this.#root, patch: -1 }];
    while (stack.length > 0) {
      const { node, patch } = stack.pop()!;
      if (patch >= 0) out.words[patch] = out.length;
      const { label, entries, kids, keys } = node;
      out.push(label.length);
      for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i));
      out.push(entries.length);
      for (const word of entries) out.push(word);
      out.push(kids.length);
      const slots = out.length + 1;
      for (let k = 0; k < kids.length; k++) out.push2(keys.charCodeAt(k), -1);
      // Pushed in reverse so the first kid is laid out first, right after its parent.
      for (let k = kids.length - 1; k >= 0; k--) stack.push({ node: kids[k]!, patch: slots + 2 * k });
    }
    return new FlatTrie(out.words.slice(0, out.length), fold, tables);
  }
}

/** A growing Int32Array: a number[] of millions of words costs more to build and to copy. */
class Words {
  words = new Int32Array(1024);
  length = 0;

  push(word: number): void {
    if (this.length === this.words.length) {
      const grown = new Int32Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    this.words[this.length++] = word;
  }

  push2(a: number, b: number): void {
    this.push(a);
    this.push(b);
  }
}

/** A laid-out tree: see the file comment. Immutable. */
export class FlatTrie {
  readonly #code: Int32Array;
  readonly #fold: boolean;
  readonly #tables: ProgramTables;

  constructor(code: Int32Array, fold: boolean, tables: ProgramTables) {
    this.#code = code;
    this.#fold = fold;
    this.#tables = tables;
  }

  /**
   * Runs the rules on the path spelled by `value` and pushes `order * 2 + exclusive` into `hits`
   * for each that matches, skipping rules that cannot change a registration's answer any more.
   */
  scan(value: string, exclusiveOnly: boolean, hits: number[]): void {
    const t = this.#code;
    const fold = this.#fold;
    let o = 0;
    let pos = 0;
    for (;;) {
      const length = t[o]!;
      if (value.length - pos < length) return;
      for (let i = 0; i < length; i++) {
        const c = value.charCodeAt(pos + i);
        if ((fold ? foldCode(c) : c) !== t[o + 1 + i]) return;
      }
      pos += length;
      o += length + 1;
      const entriesEnd = o + 1 + t[o]!;
      for (let e = o + 1; e < entriesEnd;) {
        const order = t[e]!;
        const exclusive = t[e + 1]!;
        const start = e + 3;
        e = start + t[e + 2]!;
        if (exclusiveOnly && exclusive === 0) continue;
        if (decided(hits, order, exclusiveOnly)) continue;
        if (runRule(t, start, e, value, pos, this.#tables)) hits.push(order * 2 + exclusive);
      }
      o = entriesEnd;
      if (pos >= value.length) return;
      const kids = t[o]!;
      const c = fold ? foldCode(value.charCodeAt(pos)) : value.charCodeAt(pos);
      let next = -1;
      for (let k = o + 1, end = o + 1 + 2 * kids; k < end; k += 2) {
        if (t[k] === c) {
          next = t[k + 1]!;
          break;
        }
      }
      if (next < 0) return;
      o = next;
    }
  }
}

/** Is the registration's answer already final: a hit that is exclusive (or any hit, when only exclusive rules count)? */
function decided(hits: readonly number[], order: number, exclusiveOnly: boolean): boolean {
  for (const hit of hits) if (hit >> 1 === order && (exclusiveOnly || (hit & 1) === 1)) return true;
  return false;
}
