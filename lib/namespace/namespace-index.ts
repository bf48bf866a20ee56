import type { NamespaceKind, Registration } from '../registration/registration.ts';
import { foldCode, regexLiterals, startsWithPrefix, type LiteralPrefix } from './literal-prefix.ts';

/** One registration whose namespace matched, and whether any of the matching rules is exclusive. */
export interface NamespaceMatch {
  readonly registration: Registration;
  readonly exclusive: boolean;
}

/**
 * A rule as the index keeps it. The fields a lookup reads are copied flat onto this one object:
 * with thousands of rules each extra object visited per candidate is another cache miss.
 */
interface Entry {
  /** Position of the registration in the constructor's list: answers come back in this order. */
  readonly order: number;
  readonly registration: Registration;
  readonly regex: RegExp;
  readonly exclusive: boolean;
  readonly prefix: LiteralPrefix;
  /** A literal every match contains after the prefix (or ''): checked before running the regex. */
  readonly required: string;
  /** Where to look for `required`: the prefix's length. */
  readonly requiredFrom: number;
}

/**
 * A radix tree (a trie with single-child chains merged into one edge) over UTF-16 code units.
 *
 * Why a trie and not one map per prefix length: a lookup walks the string once, so it costs at most
 * one step per character of the longest prefix however many registrations and distinct prefix
 * lengths there are, where length buckets would slice and hash the string once per distinct length.
 * Why merged edges: with a thousand registrations the nodes no longer fit in the CPU caches and
 * every node visited is a few cache misses; `@_discord12_` is then 6 nodes deep instead of 13.
 * Why a string of first characters rather than a Map per node: fan-out is small (bounded by the
 * characters ids use), and `indexOf` on a short string touches one object instead of a hash table.
 */
class RadixNode {
  /** This node's text is its parent's text followed by this label (empty at the root). */
  label: string;
  /** Rules whose prefix ends exactly here; undefined while there are none, to touch less memory. */
  entries: Entry[] | undefined;
  /** The first character of each child's label, in the order of `kids`. */
  keys = '';
  kids: RadixNode[] = [];

  constructor(label: string) {
    this.label = label;
  }

  insert(text: string, entry: Entry): void {
    let node: RadixNode = this;
    let pos = 0;
    while (pos < text.length) {
      const k = node.keys.indexOf(text[pos]!);
      if (k < 0) {
        const leaf = new RadixNode(text.slice(pos));
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
        const middle = new RadixNode(child.label.slice(0, common));
        child.label = child.label.slice(common);
        middle.keys = child.label[0]!;
        middle.kids = [child];
        node.kids[k] = middle;
        child = middle;
      }
      node = child;
      pos += common;
    }
    (node.entries ??= []).push(entry);
  }

  /** Push every entry on the path spelled by `value` (ASCII-lowercased when `fold`) into `out`. */
  collect(value: string, fold: boolean, out: Entry[]): void {
    let node: RadixNode = this;
    let pos = 0;
    for (;;) {
      if (node.entries !== undefined) for (const entry of node.entries) out.push(entry);
      if (pos >= value.length || node.keys === '') return;
      const c = fold ? foldCode(value.charCodeAt(pos)) : value.charCodeAt(pos);
      const k = node.keys.indexOf(String.fromCharCode(c));
      if (k < 0) return;
      node = node.kids[k]!;
      if (!(fold ? startsWithFolded(value, node.label, pos) : value.startsWith(node.label, pos))) return;
      pos += node.label.length;
    }
  }
}

/** Does `value`, folded by {@link foldCode}, hold the folded `lower` at `pos`? */
function startsWithFolded(value: string, lower: string, pos: number): boolean {
  if (value.length - pos < lower.length) return false;
  for (let i = 0; i < lower.length; i++) if (foldCode(value.charCodeAt(pos + i)) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The two trees of one namespace kind. Rules with no prefix sit at the root of `exact`. */
interface KindIndex {
  readonly exact: RadixNode;
  /** Case-insensitive rules, filed under their folded prefix (see `foldCode`). */
  readonly folded: RadixNode;
}

const KINDS: readonly NamespaceKind[] = ['users', 'aliases', 'rooms'];
const NO_MATCHES: readonly NamespaceMatch[] = Object.freeze([]);
const NO_OWNERS: readonly Registration[] = Object.freeze([]);

/**
 * Which registrations' `users` / `aliases` / `rooms` namespaces match a string, without testing
 * every regex: each rule is filed under its literal prefix, and a lookup tests only the rules whose
 * prefix the string starts with, plus the few with no prefix. The answers are exactly those of
 * testing every rule in turn; the index only skips rules that cannot match.
 *
 * Immutable: build a new one when the registrations change.
 *
 * @example
 * const index = new NamespaceIndex(registry.all());
 * index.match('users', '@_discord_1234:example.org');      // [{ registration: discord, exclusive: true }]
 * index.exclusiveOwners('aliases', '#irc_#matrix:example.org'); // [irc]
 */
export class NamespaceIndex {
  readonly #kinds = new Map<NamespaceKind, KindIndex>();
  readonly #byRegistration = new Map<Registration, ReadonlyMap<NamespaceKind, readonly Entry[]>>();

  constructor(registrations: readonly Registration[]) {
    for (const kind of KINDS) this.#kinds.set(kind, { exact: new RadixNode(''), folded: new RadixNode('') });
    let order = 0;
    for (const registration of registrations) {
      // The same object twice would otherwise be answered twice.
      if (this.#byRegistration.has(registration)) continue;
      const perKind = new Map<NamespaceKind, Entry[]>();
      for (const kind of KINDS) {
        const index = this.#kinds.get(kind)!;
        const entries: Entry[] = [];
        for (const rule of registration.namespaces[kind]) {
          const { prefix, required } = regexLiterals(rule.regex);
          const { regex, exclusive } = rule;
          const entry: Entry = {
            order,
            registration,
            regex,
            exclusive,
            prefix,
            required,
            requiredFrom: prefix.text.length,
          };
          entries.push(entry);
          (entry.prefix.folded ? index.folded : index.exact).insert(entry.prefix.text, entry);
        }
        perKind.set(kind, entries);
      }
      this.#byRegistration.set(registration, perKind);
      order++;
    }
  }

  /**
   * Every registration with a rule of `kind` matching `value`, in registration order, each once;
   * `exclusive` is true when any of its matching rules is exclusive.
   *
   * @example
   * for (const { registration, exclusive } of index.match('users', '@irc_alice:example.org')) { ... }
   */
  match(kind: NamespaceKind, value: string): readonly NamespaceMatch[] {
    const hits = this.#hits(kind, value, false);
    if (hits.length === 0) return NO_MATCHES;
    const out: NamespaceMatch[] = [];
    for (let i = 0; i < hits.length;) {
      const { order, registration } = hits[i]!;
      let exclusive = false;
      for (; i < hits.length && hits[i]!.order === order; i++) exclusive ||= hits[i]!.exclusive;
      out.push({ registration, exclusive });
    }
    return out;
  }

  /**
   * Does this one registration have a rule of `kind` matching `value`? Works for a registration the
   * index was not built with too (it then tests its rules directly).
   *
   * @example
   * if (index.matches(irc, 'users', event.sender)) interested.add(irc);
   */
  matches(registration: Registration, kind: NamespaceKind, value: string): boolean {
    const entries = this.#byRegistration.get(registration)?.get(kind);
    if (entries === undefined) return registration.namespaces[kind].some((rule) => test(rule.regex, value));
    for (const entry of entries) {
      if (startsWithPrefix(value, entry.prefix) && mayMatch(entry, value) && test(entry.regex, value)) return true;
    }
    return false;
  }

  /**
   * Registrations with an exclusive rule of `kind` matching `value`, in registration order: the
   * ones that own the name, so that nobody else may register or create it.
   *
   * @example
   * const owners = index.exclusiveOwners('users', '@irc_bob:example.org');
   * if (owners.length > 0 && !owners.includes(requester)) throw new MatrixError(400, 'M_EXCLUSIVE', '...');
   */
  exclusiveOwners(kind: NamespaceKind, value: string): readonly Registration[] {
    const hits = this.#hits(kind, value, true);
    if (hits.length === 0) return NO_OWNERS;
    const out: Registration[] = [];
    for (const hit of hits) if (out.at(-1) !== hit.registration) out.push(hit.registration);
    return out;
  }

  /** The candidate rules that really match, sorted by registration order. */
  #hits(kind: NamespaceKind, value: string, exclusiveOnly: boolean): Entry[] {
    const index = this.#kinds.get(kind);
    if (index === undefined) throw new TypeError(`Unknown namespace kind: ${String(kind)}`);
    const candidates: Entry[] = [];
    index.exact.collect(value, false, candidates);
    index.folded.collect(value, true, candidates);
    const hits: Entry[] = [];
    for (const entry of candidates) {
      if (exclusiveOnly && !entry.exclusive) continue;
      // Once a registration's answer cannot change, its other rules need not run.
      if (hits.some((hit) => hit.order === entry.order && (exclusiveOnly || hit.exclusive))) continue;
      if (mayMatch(entry, value) && test(entry.regex, value)) hits.push(entry);
    }
    if (hits.length > 1) hits.sort((a, b) => a.order - b.order);
    return hits;
  }
}

/**
 * The cheap check before the regex: the required literal must occur after the prefix. Running a
 * regex costs far more than `includes` once thousands of compiled regexes no longer fit in the CPU
 * caches, which is what makes lookups grow with the number of registrations.
 */
function mayMatch(entry: Entry, value: string): boolean {
  return entry.required === '' || value.includes(entry.required, entry.requiredFrom);
}

/** `regex.test` that is not thrown off by a `g` or `y` flag's leftover `lastIndex`. */
function test(regex: RegExp, value: string): boolean {
  if (regex.global || regex.sticky) regex.lastIndex = 0;
  return regex.test(value);
}
