/**
 * Small builders shared by the client, query and mock specs: registrations built directly (no
 * loader), a naive namespace matcher, and a toy homeserver that bridges can create things in.
 */
import type { Host } from '../../lib/host.ts';
import type { NamespaceKind, Registration } from '../../lib/registration/registration.ts';
import { testRegistration, type TestNamespaceRule } from '../../lib/testing/registration.ts';

export interface RegistrationSpec {
  id?: string;
  url?: string | null;
  hsToken?: string;
  asToken?: string;
  users?: TestNamespaceRule[];
  aliases?: TestNamespaceRule[];
  legacyQueryToken?: boolean;
}

/** The defaults these specs were written against: an unreachable url, longer tokens, no rate limit. */
export function makeRegistration(spec: RegistrationSpec = {}): Registration {
  const id = spec.id ?? 'irc';
  return testRegistration({
    ...spec,
    id,
    url: spec.url === undefined ? 'http://127.0.0.1:9' : spec.url,
    asToken: spec.asToken ?? `as-token-${id}`,
    hsToken: spec.hsToken ?? `hs-token-${id}`,
    rateLimited: false,
  });
}

/** Tests every rule of every registration: what NamespaceIndex does, without the speed. */
export function naiveIndex(registrations: readonly Registration[]): {
  match(kind: NamespaceKind, value: string): { registration: Registration; exclusive: boolean }[];
} {
  return {
    match: (kind, value) =>
      registrations.flatMap((registration) => {
        const hits = registration.namespaces[kind].filter((rule) => rule.regex.test(value));
        return hits.length === 0 ? [] : [{ registration, exclusive: hits.some((rule) => rule.exclusive) }];
      }),
  };
}

/** A homeserver reduced to two sets, counting how often the library asked it. */
export class ToyHost implements Host {
  readonly serverName: string;
  readonly users = new Set<string>();
  readonly aliases = new Map<string, string>();
  hostCalls = 0;
  #rooms = 0;

  constructor(serverName = 'hs.test') {
    this.serverName = serverName;
  }

  createRoom(alias: string): string {
    const roomId = `!room${++this.#rooms}:${this.serverName}`;
    this.aliases.set(alias, roomId);
    return roomId;
  }

  async userExists(userId: string): Promise<boolean> {
    this.hostCalls++;
    return this.users.has(userId);
  }

  async resolveAlias(alias: string): Promise<string | null> {
    this.hostCalls++;
    return this.aliases.get(alias) ?? null;
  }

  async authenticate(): Promise<null> {
    return null;
  }

  async roomAliases(roomId: string): Promise<string[]> {
    return [...this.aliases].filter(([, id]) => id === roomId).map(([alias]) => alias);
  }

  async joinedMembers(): Promise<string[]> {
    return [];
  }
}
