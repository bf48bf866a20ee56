import type { NamespaceKind, NamespaceRule, Registration } from '../registration/registration.ts';
import { regexLiterals, startsWithPrefix, type LiteralPrefix } from './literal-prefix.ts';

/** One registration whose namespace matched, and whether any of the matching rules is exclusive. */
export interface NamespaceMatch {
  readonly registration: Registration;
  readonly exclusive: boolean;
}

/** A rule as the index keeps it: where it came from and the prefix it is filed under. */
interface Entry {
  /** Position of the registration in the constructor's list: answers come back in this order. */
  readonly order: number;
  readonly registration: Registration;
  readonly rule: NamespaceRule;
  readonly prefix: LiteralPrefix;
  /** A literal every match contains after the prefix (or ''): checked before running the regex. */
  readonly required: string;
}

/**
 * A trie over UTF-16 code units, chosen over "one map per prefix length" because a lookup then costs
 * one map access per character of the string (up to the longest prefix) however many registrations
 * and however many distinct prefix lengths there are; prefix-length buckets would slice and hash the
 * string once per distinct length. Each node holds the rules whose prefix ends exactly there.
 */
class TrieNode {
  readonly entries: Entry[] = [];
  children: Map<number, TrieNode> | undefined;

  insert(text: string, entry: Entry): void {
    let node: TrieNode = this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      node.children ??= new Map();
      let child = node.children.get(c);
      if (child === undefined) {
        child = new TrieNode();
        node.children.set(c, child);
      }
      node = child;
    }
    node.entries.push(entry);
  }

  /** Push every entry on the path spelled by `value` (ASCII-lowercased when `fold`) into `out`. */
  collect(value: string, fold: boolean, out: Entry[]): void {
    let node: TrieNode | undefined = this;
    for (let i = 0; ; i++) {
      for (const entry of node.entries) out.push(entry);
      if (i >= value.length || node.children === undefined) return;
      let c = value.charCodeAt(i);
      if (fold && c >= 65 && c <= 90) c += 32;
      node = node.children.get(c);
      if (node === undefined) return;
    }
  }
}

/** The two tries of one namespace kind. Rules with no prefix sit at the root of `exact`. */
interface KindIndex {
  readonly exact: TrieNode;
  /** Case-insensitive rules, filed under their ASCII-lowercased prefix. */
  readonly folded: TrieNode;
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
    for (const kind of KINDS) this.#kinds.set(kind, { exact: new TrieNode(), folded: new TrieNode() });
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
          const entry: Entry = { order, registration, rule, prefix, required };
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
    for (let i = 0; i < hits.length; ) {
      const { order, registration } = hits[i]!;
      let exclusive = false;
      for (; i < hits.length && hits[i]!.order === order; i++) exclusive ||= hits[i]!.rule.exclusive;
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
      if (startsWithPrefix(value, entry.prefix) && mayMatch(entry, value) && test(entry.rule.regex, value)) return true;
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
      if (exclusiveOnly && !entry.rule.exclusive) continue;
      // Once a registration's answer cannot change, its other rules need not run.
      if (hits.some((hit) => hit.order === entry.order && (exclusiveOnly || hit.rule.exclusive))) continue;
      if (mayMatch(entry, value) && test(entry.rule.regex, value)) hits.push(entry);
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
  return entry.required === '' || value.includes(entry.required, entry.prefix.text.length);
}

/** `regex.test` that is not thrown off by a `g` or `y` flag's leftover `lastIndex`. */
function test(regex: RegExp, value: string): boolean {
  if (regex.global || regex.sticky) regex.lastIndex = 0;
  return regex.test(value);
}
