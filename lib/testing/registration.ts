/**
 * A `Registration` built in code, for tests that want an AS without writing a YAML file and
 * running the loader. Only the id is required; everything else has a default, and every field of
 * `Registration` can be overridden as is.
 */
import type { NamespaceKind, NamespaceRule, Namespaces, Registration } from '../registration/registration.ts';

/** A namespace rule as a test writes it: a JS regex source, exclusive or not. */
export type TestNamespaceRule = string | { readonly regex: string; readonly exclusive?: boolean };

export interface TestRegistrationSpec {
  readonly id: string;
  /** Default: null (nothing is pushed to the AS and it is never queried). */
  readonly url?: string | null;
  /** Default: `as-<id>`. */
  readonly asToken?: string;
  /** Default: `hs-<id>`. */
  readonly hsToken?: string;
  /** Default: `<id>bot`. */
  readonly senderLocalpart?: string;
  /**
   * Compiled rules used exactly as given, for a test that needs its own RegExp (flags, a
   * subclass). A kind given here must not also be given through `users` / `aliases` / `rooms`.
   */
  readonly namespaces?: Partial<Namespaces>;
  /** JS regex sources, compiled anchored at the start the way the loader compiles them. */
  readonly users?: readonly TestNamespaceRule[];
  readonly aliases?: readonly TestNamespaceRule[];
  readonly rooms?: readonly TestNamespaceRule[];
  /** Exclusivity of the string rules in `users` / `aliases` / `rooms`. Default: true. */
  readonly exclusive?: boolean;
  /** Default: true, as in Synapse. */
  readonly rateLimited?: boolean;
  readonly protocols?: readonly string[];
  readonly receiveEphemeral?: boolean;
  readonly msc3202?: boolean;
  readonly msc4190?: boolean;
  /** Default: `receiveEphemeral`, as the loader sets it. */
  readonly receiveToDevice?: boolean;
  readonly legacyQueryToken?: boolean;
  readonly ipRangeWhitelist?: readonly string[];
  /** Default: `<test <id>>`. */
  readonly source?: string;
  /** Default: `{}`. */
  readonly raw?: Readonly<Record<string, unknown>>;
}

const KINDS: readonly NamespaceKind[] = ['users', 'aliases', 'rooms'];

/**
 * Builds a `Registration` the way the loader would produce it, with defaults for every field
 * but the id. Namespace regexes are JS sources (not Python: no translation happens here), and
 * they are compiled as the translator's output is, `^(?:<source>)` with the `u` flag, so a rule
 * matches at the start of a string and not necessarily to its end, like Synapse's `re.match`.
 *
 * @example
 * import { testRegistration } from 'koa-appservice/testing';
 *
 * const irc = testRegistration({
 *   id: 'irc',
 *   url: mock.url,
 *   hsToken: 'hs-secret',
 *   users: ['@irc_.*:hs\\.test', { regex: '@ircbot:hs\\.test', exclusive: false }],
 *   aliases: ['#irc_.*:hs\\.test'],
 * });
 * irc.asToken; // 'as-irc'
 * irc.namespaces.users[0]!.regex.test('@irc_bob:hs.test'); // true
 */
export function testRegistration(spec: TestRegistrationSpec): Registration {
  const { id } = spec;
  const exclusive = spec.exclusive ?? true;
  const namespaces = Object.fromEntries(
    KINDS.map((kind) => {
      const given = spec.namespaces?.[kind];
      const written = spec[kind];
      if (given !== undefined && written !== undefined) {
        throw new TypeError(`testRegistration(${id}): namespaces.${kind} and ${kind} are both given`);
      }
      return [kind, given ?? (written ?? []).map((rule) => compile(rule, exclusive))];
    }),
  ) as unknown as Namespaces;
  const receiveEphemeral = spec.receiveEphemeral ?? false;
  return {
    id,
    url: spec.url === undefined ? null : spec.url,
    asToken: spec.asToken ?? `as-${id}`,
    hsToken: spec.hsToken ?? `hs-${id}`,
    senderLocalpart: spec.senderLocalpart ?? `${id}bot`,
    namespaces,
    rateLimited: spec.rateLimited ?? true,
    protocols: spec.protocols ?? [],
    receiveEphemeral,
    msc3202: spec.msc3202 ?? false,
    msc4190: spec.msc4190 ?? false,
    receiveToDevice: spec.receiveToDevice ?? (receiveEphemeral || (spec.msc3202 ?? false)),
    legacyQueryToken: spec.legacyQueryToken ?? false,
    // Left out unless given (absent means any address), so a plain object compares deep-equal.
    ...(spec.ipRangeWhitelist === undefined ? {} : { ipRangeWhitelist: spec.ipRangeWhitelist }),
    source: spec.source ?? `<test ${id}>`,
    raw: spec.raw ?? {},
  };
}

function compile(rule: TestNamespaceRule, exclusiveDefault: boolean): NamespaceRule {
  const { regex, exclusive = exclusiveDefault } = typeof rule === 'string' ? { regex: rule } : rule;
  // The shape and flag of lib/registration/regex.ts's output, so specs see what the loader makes.
  return { exclusive, source: regex, regex: new RegExp(`^(?:${regex})`, 'u') };
}
