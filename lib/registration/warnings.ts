/**
 * Things worth telling an operator that do not stop a homeserver from starting: `lint` prints
 * them, `appservices()` may log them. None of them is certain, so none of them is an error.
 *
 * - Overlapping exclusive namespaces of two ASes. Deciding whether two regexes can match a
 *   common string is expensive in general, so we guess from samples: each regex yields a few
 *   strings it matches (regex-analysis.ts `sampleStrings`: every repeat at its minimum, and every repeat
 *   taken at least once), and two rules overlap when either matches a sample of the other.
 *   `@irc_.*` and `@irc_bob:x` overlap; `@irc_.*:a\.org` and `@irc_.*:b\.org` do not. A miss is
 *   possible (an overlap no sample shows), a false alarm is not: the shared sample proves it.
 * - Regexes that a backtracking engine would run in exponential time (`(\w+\.?)+`, `(\w|\d)*`:
 *   regex-analysis.ts `wouldBacktrack`). They run on RE2 here, in linear time, so this only says which
 *   regexes needed it: the same file under another homeserver may stall it.
 * - A url at a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
 *   metadata.google.internal...). Registrations are trusted operator configuration and the
 *   homeserver sends such a url its hs_token and events; an operator should know when one points
 *   there, since that is where a forged registration would point it.
 * - `push_ephemeral` without a prefix and without either key Synapse reads: Synapse ignores it,
 *   the author probably meant `receive_ephemeral`. (mautrix-python writes it beside
 *   `de.sorunome.msc2409.push_ephemeral`, which is fine.)
 */
import { isIP } from 'node:net';
import type { NamespaceKind, NamespaceRule, Registration } from './registration.ts';
import { sampleStrings, wouldBacktrack } from './regex-analysis.ts';

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
    if (
      'push_ephemeral' in r.raw &&
      !('receive_ephemeral' in r.raw) &&
      !('de.sorunome.msc2409.push_ephemeral' in r.raw)
    ) {
      warnings.push({
        source: r.source,
        field: 'push_ephemeral',
        message: 'is not read by Synapse nor by this library; did you mean receive_ephemeral?',
      });
    }
    const where = r.url === null ? undefined : metadataHost(r.url);
    if (where !== undefined) {
      warnings.push({
        source: r.source,
        field: 'url',
        message: `points at ${where}, a link-local or cloud metadata address; registrations are trusted configuration, so the homeserver will send it the hs_token and events: make sure this is intended`,
      });
    }
    for (const kind of KINDS) {
      r.namespaces[kind].forEach((rule, index) => {
        if (wouldBacktrack(rule.source)) {
          warnings.push({
            source: r.source,
            field: `namespaces.${kind}[${index}].regex`,
            message: `${JSON.stringify(rule.source)} runs in linear time via RE2; it would have backtracked catastrophically (nested or overlapping repeats) in a backtracking engine`,
          });
        }
      });
    }
  }
  warnings.push(...overlaps(registrations));
  return warnings;
}

const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
]);

/** The url's host when it is link-local or a cloud metadata service, else undefined. */
function metadataHost(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
  } catch {
    return undefined;
  }
  if (METADATA_NAMES.has(host)) return host;
  const v4 = isIP(host) === 4 ? host : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1];
  if (v4 !== undefined) return v4.startsWith('169.254.') ? host : undefined;
  // fe80::/10 is fe80 to febf; ::ffff:a9fe:* is 169.254.*.* mapped (URL writes it in hex);
  // fd00:ec2::254 is EC2's IPv6 metadata address.
  if (
    isIP(host) === 6 &&
    (/^fe[89ab][0-9a-f]:/.test(host) || host.startsWith('::ffff:a9fe:') || host === 'fd00:ec2::254')
  )
    return host;
  return undefined;
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
