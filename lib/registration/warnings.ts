/**
 * Things worth telling an operator that do not stop a homeserver from starting: `lint` prints
 * them, `appservices()` may log them. None of them is certain, so none of them is an error.
 *
 * - Overlapping exclusive namespaces of two ASes. Deciding whether two regexes can match a
 *   common string is expensive in general, so we guess from samples: each regex yields a few
 *   strings it matches (regex.ts `sampleStrings`: every repeat at its minimum, and every repeat
 *   taken at least once), and two rules overlap when either matches a sample of the other.
 *   `@irc_.*` and `@irc_bob:x` overlap; `@irc_.*:a\.org` and `@irc_.*:b\.org` do not. A miss is
 *   possible (an overlap no sample shows), a false alarm is not: the shared sample proves it.
 * - Regexes prone to catastrophic backtracking (nested unbounded repeats such as `(a+)+`), found
 *   with safe-regex2's star-height check on the pattern's repetition skeleton. They run against
 *   every event's sender, so one slow regex slows every event.
 * - `push_ephemeral` without a prefix and without either key Synapse reads: Synapse ignores it,
 *   the author probably meant `receive_ephemeral`. (mautrix-python writes it beside
 *   `de.sorunome.msc2409.push_ephemeral`, which is fine.)
 */
import safeRegex from 'safe-regex2';
import type { NamespaceKind, NamespaceRule, Registration } from './registration.ts';
import { repetitionSkeleton, sampleStrings } from './regex.ts';

export interface RegistrationWarning {
  /** The file (or `<object #n>`) the warning is about. */
  readonly source: string;
  /** Field path inside it, such as `namespaces.users[0].regex`. */
  readonly field: string;
  readonly message: string;
}

const KINDS: readonly NamespaceKind[] = ['users', 'aliases', 'rooms'];

/**
 * Warnings about a set of valid registrations (see the file comment for what is checked).
 *
 * @example
 * for (const w of registrationWarnings(await loadRegistrations(files))) {
 *   console.warn(`${w.source}: ${w.field}: ${w.message}`);
 * }
 */
export function registrationWarnings(registrations: readonly Registration[]): RegistrationWarning[] {
  const warnings: RegistrationWarning[] = [];
  for (const r of registrations) {
    if ('push_ephemeral' in r.raw && !('receive_ephemeral' in r.raw) && !('de.sorunome.msc2409.push_ephemeral' in r.raw)) {
      warnings.push({ source: r.source, field: 'push_ephemeral', message: 'is not read by Synapse nor by this library; did you mean receive_ephemeral?' });
    }
    for (const kind of KINDS) {
      r.namespaces[kind].forEach((rule, index) => {
        if (!safeRegex(repetitionSkeleton(rule.source))) {
          warnings.push({
            source: r.source,
            field: `namespaces.${kind}[${index}].regex`,
            message: `${JSON.stringify(rule.source)} has nested repeats that can backtrack catastrophically; it runs on every event`,
          });
        }
      });
    }
  }
  warnings.push(...overlaps(registrations));
  return warnings;
}

interface Claim {
  readonly registration: Registration;
  readonly kind: NamespaceKind;
  readonly index: number;
  readonly rule: NamespaceRule;
  readonly samples: readonly string[];
}

function overlaps(registrations: readonly Registration[]): RegistrationWarning[] {
  const claims: Claim[] = [];
  for (const registration of registrations) {
    for (const kind of KINDS) {
      registration.namespaces[kind].forEach((rule, index) => {
        if (rule.exclusive) claims.push({ registration, kind, index, rule, samples: sampleStrings(rule.source) });
      });
    }
  }
  const warnings: RegistrationWarning[] = [];
  for (let i = 0; i < claims.length; i++) {
    for (let j = i + 1; j < claims.length; j++) {
      const a = claims[i]!;
      const b = claims[j]!;
      if (a.kind !== b.kind || a.registration === b.registration) continue;
      const shared = a.samples.find((s) => b.rule.regex.test(s)) ?? b.samples.find((s) => a.rule.regex.test(s));
      if (shared === undefined) continue;
      warnings.push({
        source: b.registration.source,
        field: `namespaces.${b.kind}[${b.index}].regex`,
        message:
          `exclusive ${JSON.stringify(b.rule.source)} overlaps the exclusive ${JSON.stringify(a.rule.source)} of ` +
          `${a.registration.source} (${a.registration.id}): both match ${JSON.stringify(shared)}`,
      });
    }
  }
  return warnings;
}
