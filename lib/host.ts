/**
 * What the library asks the homeserver. The library never reaches into the homeserver's
 * database: everything it needs to know about users, aliases and rooms comes through here.
 *
 * @example
 * const host: Host = {
 *   serverName: 'example.org',
 *   userExists: async (id) => users.has(id),
 *   resolveAlias: async (alias) => aliases.get(alias) ?? null,
 *   roomAliases: async (roomId) => aliasesOf(roomId),
 *   joinedMembers: async (roomId) => membersOf(roomId),
 *   authenticate: async (token) => sessions.get(token) ?? null,
 * };
 */
export interface Host {
  /** The homeserver's server name, the part after `:` in its users' ids. */
  readonly serverName: string;
  userExists(userId: string): Promise<boolean>;
  /** The room id an alias points to, or null when the alias is unknown. */
  resolveAlias(alias: string): Promise<string | null>;
  roomAliases(roomId: string): Promise<string[]>;
  joinedMembers(roomId: string): Promise<string[]>;
  /**
   * The user (and device) a client's access token belongs to, or null for a token the homeserver
   * does not know. Asked before the library does any work for a client that is no AS (asking an
   * AS to create a user or a room, third-party lookups): an unauthenticated request gets 401 and
   * no AS hears of it. Not asked for as_tokens.
   */
  authenticate(accessToken: string): Promise<{ userId: string; deviceId?: string } | null>;
  /**
   * Optional: backs `PUT /directory/list/appservice/{networkId}/{roomId}`; without it that route
   * answers 404. Each AS has its own lists, one per network, separate from the main room directory
   * (`/publicRooms` with `third_party_instance_id` reads them), so the AS's id comes first.
   */
  setRoomDirectoryVisibility?(
    appserviceId: string,
    networkId: string,
    roomId: string,
    visibility: 'public' | 'private',
  ): Promise<void>;
  /**
   * Optional: the ids of the rooms the user is joined to, as far as this homeserver knows (the user
   * may be local or remote). Turns on presence "contextually" (AS API, "Pushing EDUs"): an
   * `m.presence` EDU then also goes to the ASes with a user in one of those rooms, not only to those
   * whose namespace holds the user. Without it that feature is off and `appservices()` says so once
   * at start. Answers are cached per user until a membership event about the user is published.
   *
   * @example
   * joinedRooms: async (userId) => db.roomsWhereJoined(userId),
   */
  joinedRooms?(userId: string): Promise<string[]>;
}
