/**
 * Builds `Registration` objects for the push and interest specs directly, without the loader, so
 * that these specs test routing and delivery only.
 */
import type { NamespaceRule, Registration } from '../../lib/registration/registration.ts';

export interface TestRegistration {
  readonly url?: string | null;
  readonly users?: readonly string[];
  readonly aliases?: readonly string[];
  readonly rooms?: readonly string[];
  readonly exclusive?: boolean;
  readonly senderLocalpart?: string;
  readonly receiveEphemeral?: boolean;
  readonly receiveToDevice?: boolean;
}

function rules(sources: readonly string[] | undefined, exclusive: boolean): NamespaceRule[] {
  return (sources ?? []).map((source) => ({ exclusive, source, regex: new RegExp(`^(?:${source})`) }));
}

export function registration(id: string, options: TestRegistration = {}): Registration {
  const exclusive = options.exclusive ?? false;
  return {
    id,
    url: options.url === undefined ? 'http://127.0.0.1:9' : options.url,
    asToken: `as-token-${id}`,
    hsToken: `hs-token-${id}`,
    senderLocalpart: options.senderLocalpart ?? `${id}_bot`,
    namespaces: {
      users: rules(options.users, exclusive),
      aliases: rules(options.aliases, exclusive),
      rooms: rules(options.rooms, exclusive),
    },
    rateLimited: false,
    protocols: [],
    receiveEphemeral: options.receiveEphemeral ?? false,
    msc3202: false,
    msc4190: false,
    receiveToDevice: options.receiveToDevice ?? false,
    legacyQueryToken: false,
    source: `<spec ${id}>`,
    raw: {},
  };
}
