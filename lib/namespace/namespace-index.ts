import type { NamespaceKind, Registration } from '../registration/registration.ts';
import { FlatTrie, TrieBuilder } from './flat-trie.ts';
import { startsWithPrefix, type LiteralPrefix } from './literal-prefix.ts';
import { compileRule, ProgramTables } from './rule-program.ts';

/** One registration whose namespace matched, and whether any of the matching rules is exclusive. */
export interface NamespaceMatch {
  readonly registration: Registration;
  readonly exclusive: boolean;
}

/** A rule as `matches()` tests it for one registration. */
interface Entry {
  readonly regex: RegExp;
  readonly prefix: LiteralPrefix;
  /** A literal every match contains after the prefix (or ''): checked before running the regex. */
  readonly required: string;
}

/** The two trees of one namespace kind. Rules with no prefix sit at the root of `exact`. */
interface KindIndex {
  readonly exact: FlatTrie;
  /** Case-insensitive rules, filed under their folded prefix (see `foldCode`). */
  readonly folded: FlatTrie;
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
  /** The registrations by order (their position in the constructor's list, repeats left out). */
  readonly #registrations: Registration[] = [];

  constructor(registrations: readonly Registration[]) {
    const tables = new ProgramTables();
    const builders = new Map(KINDS.map((kind) => [kind, { exact: new TrieBuilder(), folded: new TrieBuilder() }]));
    for (const registration of registrations) {
      // The same object twice would otherwise be answered twice.
      if (this.#byRegistration.has(registration)) continue;
      const order = this.#registrations.push(registration) - 1;
      const perKind = new Map<NamespaceKind, Entry[]>();
      for (const kind of KINDS) {
        const builder = builders.get(kind)!;
        const entries: Entry[] = [];
        for (const { regex, exclusive } of registration.namespaces[kind]) {
          const { prefix, required, ops } = compileRule(regex, tables);
          entries.push({ regex, prefix, required });
          (prefix.folded ? builder.folded : builder.exact).insert(prefix.text, order, exclusive, ops);
        }
        perKind.set(kind, entries);
      }
      this.#byRegistration.set(registration, perKind);
    }
    tables.seal();
    for (const [kind, { exact, folded }] of builders) {
      this.#kinds.set(kind, { exact: exact.build(false, tables), folded: folded.build(true, tables) });
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
      const order = hits[i]! >> 1;
      let exclusive = false;
      for (; i < hits.length && hits[i]! >> 1 === order; i++) exclusive ||= (hits[i]! & 1) === 1;
      out.push({ registration: this.#registrations[order]!, exclusive });
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
    for (const hit of hits) {
      const registration = this.#registrations[hit >> 1]!;
      if (out.at(-1) !== registration) out.push(registration);
    }
    return out;
  }

  /** The matching rules as `order * 2 + exclusive`, sorted: by registration order. */
  #hits(kind: NamespaceKind, value: string, exclusiveOnly: boolean): number[] {
    const index = this.#kinds.get(kind);
    if (index === undefined) throw new TypeError(`Unknown namespace kind: ${String(kind)}`);
    const hits: number[] = [];
    index.exact.scan(value, exclusiveOnly, hits);
    index.folded.scan(value, exclusiveOnly, hits);
    if (hits.length > 1) hits.sort((a, b) => a - b);
    return hits;
  }
}

/** The cheap check before the regex: the required literal must occur after the prefix. */
function mayMatch(entry: Entry, value: string): boolean {
  return entry.required === '' || value.includes(entry.required, entry.prefix.text.length);
}

/** `regex.test` that is not thrown off by a `g` or `y` flag's leftover `lastIndex`. */
function test(regex: RegExp, value: string): boolean {
  if (regex.global || regex.sticky) regex.lastIndex = 0;
  return regex.test(value);
}
