/**
 * Which application services want an event (design section 4).
 *
 * The cheap rules come first and use only the event: the sender, an `m.room.member` state_key
 * and the room id, each looked up in the namespace index. The room-level rules (an alias of the
 * room, a joined member of the room) need the homeserver, so the host is asked only when some AS
 * not already interested could still match that way, and the answer is cached per room until a
 * membership or alias event for the room is observed.
 */
import { LRUCache } from 'lru-cache';
import type { EphemeralEvent, MatrixEvent, ToDeviceMessage } from './events.ts';
import type { Host } from './host.ts';
import { PushableOrder } from './interest-order.ts';
import { PresenceAudience } from './interest-presence.ts';
import type { NamespaceKind, Registration } from './registration/registration.ts';

/** The part of `NamespaceIndex` this file needs; any structurally equal object will do. */
export interface NamespaceIndexLike {
  match(
    kind: NamespaceKind,
    value: string,
  ): readonly { readonly registration: Registration; readonly exclusive: boolean }[];
}

export interface InterestOptions {
  /** Rooms whose alias and member facts are kept; least recently used are dropped. Default 10 000. */
  readonly roomCacheSize?: number;
}

type RoomFacts = Promise<ReadonlySet<Registration>>;

const ALIAS_EVENT_TYPES: ReadonlySet<string> = new Set(['m.room.canonical_alias', 'm.room.aliases']);

/**
 * Decides which ASes (those with a url) an event, an ephemeral event or a to-device message goes to.
 *
 * @example
 * const interest = new Interest({ host, registrations, index: new NamespaceIndex(registrations) });
 * interest.observe(event);                       // every published event, before asking
 * const ases = await interest.interestedIn(event);
 */
export class Interest {
  readonly #host: Host;
  readonly #index: NamespaceIndexLike;
  /** Registrations that can receive pushes (url !== null), in registration order. */
  readonly #pushable: readonly Registration[];
  readonly #pushableSet: ReadonlySet<Registration>;
  /** `@<sender_localpart>:<serverName>` → its registration: an AS always wants what its bot sees. */
  readonly #bySenderUser: ReadonlyMap<string, Registration>;
  /** Only these can match through a room's aliases; when all are already in, the host is not asked. */
  readonly #aliasCapable: readonly Registration[];
  /** Decisions over every pushable AS, answered from the few found ones (interest-order.ts). */
  readonly #order: PushableOrder;
  readonly #aliasFacts: LRUCache<string, RoomFacts>;
  readonly #memberFacts: LRUCache<string, RoomFacts>;
  /** The answers of the cached host calls that have answered, so that they can be read without waiting. */
  readonly #settled = new WeakMap<RoomFacts, ReadonlySet<Registration>>();
  /** Presence to ASes sharing a room with the user; undefined when the host cannot list a user's rooms. */
  readonly #presence: PresenceAudience | undefined;

  constructor(
    deps: { host: Host; registrations: readonly Registration[]; index: NamespaceIndexLike },
    options: InterestOptions = {},
  ) {
    this.#host = deps.host;
    this.#index = deps.index;
    this.#pushable = deps.registrations.filter((r) => r.url !== null);
    this.#pushableSet = new Set(this.#pushable);
    this.#bySenderUser = new Map(this.#pushable.map((r) => [`@${r.senderLocalpart}:${deps.host.serverName}`, r]));
    this.#aliasCapable = this.#pushable.filter((r) => r.namespaces.aliases.length > 0);
    this.#order = new PushableOrder(this.#pushable);
    const max = options.roomCacheSize ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`roomCacheSize must be a positive integer, got ${max}`);
    this.#aliasFacts = new LRUCache({ max });
    this.#memberFacts = new LRUCache({ max });
    const joinedRooms = deps.host.joinedRooms?.bind(deps.host);
    this.#presence =
      joinedRooms === undefined
        ? undefined
        : new PresenceAudience(
            {
              joinedRooms,
              roomMembers: (roomId) => this.#facts(this.#memberFacts, roomId, this.#computeMemberFacts),
              roomMembersNow: (roomId) => this.#known(this.#memberFacts, roomId),
            },
            max,
          );
  }

  /**
   * The ASes interested in a room event, in registration order.
   *
   * @example
   * const ases = await interest.interestedIn({ event_id: '$1', room_id: '!r:hs', type: 'm.room.message', sender: '@irc_bob:hs', content: {} });
   */
  async interestedIn(event: MatrixEvent): Promise<readonly Registration[]> {
    const found = new Set<Registration>();
    this.#addUser(found, event.sender);
    if (event.type === 'm.room.member' && typeof event.state_key === 'string') this.#addUser(found, event.state_key);
    await this.#addRoom(found, event.room_id, this.#pushable);
    return this.#order.ordered(found, this.#pushable);
  }

  /**
   * `interestedIn` without waiting, when the answer needs no host call: the event's own fields
   * settle it for every AS, or the room's facts are cached and already known. Otherwise
   * undefined: call `interestedIn`. Publishing uses it to skip a promise per event.
   *
   * @example
   * const ases = interest.interestedInNow(event) ?? (await interest.interestedIn(event));
   */
  interestedInNow(event: MatrixEvent): readonly Registration[] | undefined {
    const found = new Set<Registration>();
    this.#addUser(found, event.sender);
    if (event.type === 'm.room.member' && typeof event.state_key === 'string') this.#addUser(found, event.state_key);
    for (const m of this.#index.match('rooms', event.room_id))
      if (this.#pushableSet.has(m.registration)) found.add(m.registration);
    const ask = this.#order.toAsk(found, this.#pushable);
    if (ask !== 'none') {
      const viaAliases = ask === 'both' ? this.#known(this.#aliasFacts, event.room_id) : undefined;
      const viaMembers = this.#known(this.#memberFacts, event.room_id);
      if ((ask === 'both' && viaAliases === undefined) || viaMembers === undefined) return undefined;
      if (viaAliases !== undefined) for (const r of viaAliases) found.add(r);
      for (const r of viaMembers) found.add(r);
    }
    return this.#order.ordered(found, this.#pushable);
  }

  /**
   * The ASes that asked for ephemeral events and are interested in this one (AS API, "Pushing
   * EDUs"): room-scoped EDUs follow the room rules; presence goes to the ASes whose namespace holds
   * its user and, when the host has `joinedRooms`, to those sharing a room with the user.
   *
   * @example
   * const ases = await interest.interestedInEphemeral({ type: 'm.typing', room_id: '!r:hs', content: { user_ids: [] } });
   */
  async interestedInEphemeral(edu: EphemeralEvent): Promise<readonly Registration[]> {
    const candidates = this.#pushable.filter((r) => r.receiveEphemeral);
    if (candidates.length === 0) return [];
    const found = new Set<Registration>();
    if (typeof edu.sender === 'string') this.#addUser(found, edu.sender);
    if (typeof edu.room_id === 'string') await this.#addRoom(found, edu.room_id, candidates);
    if (edu.type === 'm.presence' && typeof edu.sender === 'string')
      await this.#presence?.addSharing(found, edu.sender, candidates);
    return this.#order.ordered(found, candidates);
  }

  /**
   * The ASes that asked for to-device messages and own the recipient (a local user in their
   * users namespace, or their sender).
   *
   * @example
   * const ases = interest.interestedInToDevice({ type: 'm.room_key', sender: '@a:hs', to_user_id: '@irc_b:hs', to_device_id: 'D', content: {} });
   */
  interestedInToDevice(message: ToDeviceMessage): readonly Registration[] {
    const candidates = this.#pushable.filter((r) => r.receiveToDevice);
    if (candidates.length === 0) return [];
    const found = new Set<Registration>();
    this.#addUser(found, message.to_user_id);
    return this.#order.ordered(found, candidates);
  }

  /**
   * The candidates interested in a user as presence is routed: the user is in their users
   * namespace (or is their sender), or shares a room with them (when the host has `joinedRooms`).
   */
  async interestedInUser(userId: string, candidates: readonly Registration[]): Promise<readonly Registration[]> {
    const found = new Set<Registration>();
    this.#addUser(found, userId);
    await this.#presence?.addSharing(found, userId, candidates);
    return this.#order.ordered(found, candidates);
  }

  /** The candidates interested in a room by the room rules: its id, its aliases, its joined members. */
  async interestedInRoom(roomId: string, candidates: readonly Registration[]): Promise<readonly Registration[]> {
    const found = new Set<Registration>();
    await this.#addRoom(found, roomId, candidates);
    return this.#order.ordered(found, candidates);
  }

  /**
   * The ASes (with a url) that a user "matches" (AS API): a local user in their users namespace, or
   * their sender. Only these may see the user's private read receipts.
   *
   * @example
   * const mayRead = interest.ownersOf('@irc_bob:hs').has(registration);
   */
  ownersOf(userId: string): ReadonlySet<Registration> {
    const found = new Set<Registration>();
    this.#addUser(found, userId);
    return found;
  }

  /**
   * Call for every published event (the publisher does): a membership change drops the room's
   * cached members and the user's cached rooms, an alias change the room's cached aliases, so the
   * next event sees the new facts.
   *
   * @example
   * interest.observe({ event_id: '$2', room_id: '!r:hs', type: 'm.room.member', state_key: '@a:hs', sender: '@a:hs', content: { membership: 'join' } });
   */
  observe(event: MatrixEvent): void {
    if (event.type === 'm.room.member') {
      this.#memberFacts.delete(event.room_id);
      if (typeof event.state_key === 'string') this.#presence?.forgetUser(event.state_key);
    } else if (ALIAS_EVENT_TYPES.has(event.type)) this.#aliasFacts.delete(event.room_id);
  }

  /**
   * An alias of the room was created or deleted without an event (the directory API): drop its
   * cached aliases so the next event sees the change.
   *
   * @example
   * interest.forgetRoomAliases('!r:hs');
   */
  forgetRoomAliases(roomId: string): void {
    this.#aliasFacts.delete(roomId);
  }

  #isLocal(userId: string): boolean {
    return userId.slice(userId.indexOf(':') + 1) === this.#host.serverName;
  }

  /** Users namespaces cover local users only: a remote id matching a regex makes no AS interested. */
  #addUser(found: Set<Registration>, userId: string): void {
    if (!this.#isLocal(userId)) return;
    for (const m of this.#index.match('users', userId))
      if (this.#pushableSet.has(m.registration)) found.add(m.registration);
    const bot = this.#bySenderUser.get(userId);
    if (bot !== undefined) found.add(bot);
  }

  async #addRoom(found: Set<Registration>, roomId: string, candidates: readonly Registration[]): Promise<void> {
    for (const m of this.#index.match('rooms', roomId))
      if (this.#pushableSet.has(m.registration)) found.add(m.registration);
    const ask = this.#order.toAsk(found, candidates);
    if (ask === 'none') return;
    const [viaAliases, viaMembers] = await Promise.all([
      ask === 'both' ? this.#facts(this.#aliasFacts, roomId, this.#computeAliasFacts) : undefined,
      this.#facts(this.#memberFacts, roomId, this.#computeMemberFacts),
    ]);
    if (viaAliases !== undefined) for (const r of viaAliases) found.add(r);
    for (const r of viaMembers) found.add(r);
  }

  /** The room's cached facts when their host call has answered; undefined when unknown or pending. */
  #known(cache: LRUCache<string, RoomFacts>, roomId: string): ReadonlySet<Registration> | undefined {
    const cached = cache.get(roomId);
    return cached === undefined ? undefined : this.#settled.get(cached);
  }

  /**
   * One host call per room however many events ask at once (the promise is cached); a failed call
   * is not cached, and an invalidation while a call runs is not undone by its late answer.
   */
  #facts(cache: LRUCache<string, RoomFacts>, roomId: string, compute: (roomId: string) => RoomFacts): RoomFacts {
    const cached = cache.get(roomId);
    if (cached !== undefined) return cached;
    const pending = compute(roomId);
    cache.set(roomId, pending);
    pending.then(
      (facts) => void this.#settled.set(pending, facts),
      () => {
        if (cache.peek(roomId) === pending) cache.delete(roomId);
      },
    );
    return pending;
  }

  readonly #computeAliasFacts = async (roomId: string): RoomFacts => {
    const aliases = await this.#host.roomAliases(roomId);
    const out = new Set<Registration>();
    if (this.#aliasCapable.length === 0) return out;
    for (const alias of aliases) {
      for (const m of this.#index.match('aliases', alias))
        if (this.#pushableSet.has(m.registration)) out.add(m.registration);
    }
    return out;
  };

  readonly #computeMemberFacts = async (roomId: string): RoomFacts => {
    const members = await this.#host.joinedMembers(roomId);
    const out = new Set<Registration>();
    for (const userId of members) this.#addUser(out, userId);
    return out;
  };
}
