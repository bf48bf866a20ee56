/**
 * Small builders shared by the client, query and mock specs: registrations built directly (no
 * loader), a naive namespace matcher, and a toy homeserver that bridges can create things in.
 */
import type { Host } from '../../lib/host.ts';
import type { NamespaceKind, NamespaceRule, Registration } from '../../lib/registration/registration.ts';

export interface RegistrationSpec {
  id?: string;
  url?: string | null;
  hsToken?: string;
  asToken?: string;
  users?: (string | { regex: string; exclusive: boolean })[];
  aliases?: (string | { regex: string; exclusive: boolean })[];
  legacyQueryToken?: boolean;
}

function rules(list: RegistrationSpec['users']): NamespaceRule[] {
  return (list ?? []).map((entry) => {
    const { regex, exclusive } = typeof entry === 'string' ? { regex: entry, exclusive: true } : entry;
    return { exclusive, source: regex, regex: new RegExp(`^(?:${regex})`) };
  });
}

export function makeRegistration(spec: RegistrationSpec = {}): Registration {
  const id = spec.id ?? 'irc';
  return {
    id,
    url: spec.url === undefined ? 'http://127.0.0.1:9' : spec.url,
    asToken: spec.asToken ?? `as-token-${id}`,
    hsToken: spec.hsToken ?? `hs-token-${id}`,
    senderLocalpart: `${id}bot`,
    namespaces: { users: rules(spec.users), aliases: rules(spec.aliases), rooms: [] },
    rateLimited: false,
    protocols: [],
    receiveEphemeral: false,
    msc3202: false,
    msc4190: false,
    receiveToDevice: false,
    legacyQueryToken: spec.legacyQueryToken ?? false,
    source: `<object ${id}>`,
    raw: {},
  };
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

  async roomAliases(roomId: string): Promise<string[]> {
    return [...this.aliases].filter(([, id]) => id === roomId).map(([alias]) => alias);
  }

  async joinedMembers(): Promise<string[]> {
    return [];
  }
}
