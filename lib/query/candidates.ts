/**
 * Which ASes to ask about an id, in which order: those that claim it exclusively first (they own
 * it), then the others, each once, never one without a url (it cannot be queried).
 */
import type { Registration } from '../registration/registration.ts';

/** One namespace hit, as the namespace index reports it. */
export interface NamespaceMatch {
  readonly registration: Registration;
  readonly exclusive: boolean;
}

/**
 * @example
 * candidatesFor(index.match('users', '@irc_bob:example.org')); // [ircRegistration]
 */
export function candidatesFor(matches: readonly NamespaceMatch[]): Registration[] {
  if (matches.length <= 1) {
    const only = matches[0]?.registration;
    return only === undefined || only.url === null ? [] : [only];
  }
  const exclusive = new Map<string, Registration>();
  const shared = new Map<string, Registration>();
  for (const { registration, exclusive: isExclusive } of matches) {
    if (registration.url === null) continue;
    if (isExclusive) {
      exclusive.set(registration.id, registration);
      shared.delete(registration.id);
    } else if (!exclusive.has(registration.id)) {
      shared.set(registration.id, registration);
    }
  }
  return [...exclusive.values(), ...shared.values()];
}
