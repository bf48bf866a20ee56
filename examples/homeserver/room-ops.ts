/**
 * What happens to rooms: creation with its initial state, membership changes with the few rules a
 * small homeserver needs (join rules, invites, knocks), and state or message events. Routes call
 * these after authentication; every event goes through `data.persist`, hence to the ASes.
 */
import { MatrixError } from '../../lib/index.ts';
import type { EventDraft, HomeserverData, Room, RoomEvent } from './data.ts';

export interface CreateRoomInput {
  preset?: 'public_chat' | 'private_chat' | 'trusted_private_chat';
  visibility?: 'public' | 'private';
  name?: string;
  topic?: string;
  /** Already checked: a full alias on this server that nobody holds. */
  alias?: string;
  invite?: readonly string[];
  initialState?: readonly { type: string; state_key?: string; content: Record<string, unknown> }[];
  /** Merged over the default power levels (`power_levels_content_override`). */
  powerLevelsOverride?: Record<string, unknown>;
  /** Extra `m.room.create` content (`creation_content`). */
  creationContent?: Record<string, unknown>;
  roomVersion?: string;
  /** Marks the invites as direct chats (`is_direct`). */
  isDirect?: boolean;
  ts?: number;
}

/** What a membership change may carry besides the membership itself. */
export interface MemberOptions {
  /** An AS's massaged timestamp. */
  ts?: number;
  reason?: string;
  /** Extra member content: `displayname`, `avatar_url`, `is_direct`. */
  content?: Record<string, unknown>;
}

/**
 * @example
 * const ops = new RoomOps(data);
 * const room = await ops.createRoom('@alice:localhost', { preset: 'public_chat', name: 'Lobby' });
 */
export class RoomOps {
  readonly #data: HomeserverData;

  constructor(data: HomeserverData) {
    this.#data = data;
  }

  room(roomId: string): Room {
    const room = this.#data.rooms.get(roomId);
    if (room === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown room');
    return room;
  }

  /** A room the user may read: members now or before (they keep what they saw). */
  readable(roomId: string, userId: string): Room {
    const room = this.room(roomId);
    const membership = this.#data.membership(room, userId);
    if (membership !== 'join' && membership !== 'leave' && membership !== 'ban')
      throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    return room;
  }

  /**
   * Every event of the new room is built and checked before the first is stored, so a bad
   * `initial_state` entry or an oversized name refuses the request instead of leaving half a room.
   */
  async createRoom(creator: string, input: CreateRoomInput): Promise<Room> {
    const data = this.#data;
    const preset = input.preset ?? (input.visibility === 'public' ? 'public_chat' : 'private_chat');
    const drafts: EventDraft[] = [];
    const state = (type: string, content: Record<string, unknown>, stateKey = '') =>
      drafts.push({ type, sender: creator, content, state_key: stateKey, origin_server_ts: input.ts });
    state('m.room.create', { ...input.creationContent, creator, room_version: input.roomVersion ?? '10' });
    state('m.room.member', { membership: 'join', ...this.#profile(creator) }, creator);
    const invitees = input.invite ?? [];
    // trusted_private_chat: invitees get the creator's power, as the spec's preset table says.
    const trusted = preset === 'trusted_private_chat' ? Object.fromEntries(invitees.map((id) => [id, 100])) : {};
    const override = input.powerLevelsOverride ?? {};
    const users = { [creator]: 100, ...trusted, ...(override.users as Record<string, unknown> | undefined) };
    state('m.room.power_levels', {
      users_default: 0,
      events_default: 0,
      state_default: 50,
      invite: 0,
      ban: 50,
      kick: 50,
      redact: 50,
      ...override,
      users,
    });
    state('m.room.join_rules', { join_rule: preset === 'public_chat' ? 'public' : 'invite' });
    state('m.room.history_visibility', { history_visibility: 'shared' });
    for (const event of input.initialState ?? []) state(event.type, event.content, event.state_key ?? '');
    if (input.name !== undefined) state('m.room.name', { name: input.name });
    if (input.topic !== undefined) state('m.room.topic', { topic: input.topic });
    if (input.alias !== undefined) state('m.room.canonical_alias', { alias: input.alias });

    const room = data.createRoom();
    try {
      for (const draft of drafts) data.prepare(room, draft);
    } catch (error) {
      data.rooms.delete(room.roomId);
      throw error;
    }
    if (input.alias !== undefined) data.aliases.set(input.alias, { roomId: room.roomId, creator });
    for (const draft of drafts) await data.persist(room, draft);
    if (input.visibility === 'public') data.publicRooms.add(room.roomId);
    for (const invitee of invitees)
      await this.invite(room, creator, invitee, {
        ts: input.ts,
        ...(input.isDirect === true ? { content: { is_direct: true } } : {}),
      });
    return room;
  }

  /** Joins by the room's join rule or an invite; joining again only refreshes the profile, as in Synapse. */
  async join(room: Room, userId: string, options: MemberOptions = {}): Promise<void> {
    const current = this.#data.membership(room, userId);
    if (current === 'ban') throw new MatrixError(403, 'M_FORBIDDEN', 'You are banned from this room');
    const rule = this.#data.stateEvent(room, 'm.room.join_rules')?.content.join_rule;
    if (current !== 'join' && rule !== 'public' && current !== 'invite')
      throw new MatrixError(403, 'M_FORBIDDEN', 'You are not invited to this room.');
    if (current === 'join' && options.content === undefined) return;
    await this.#member(room, userId, userId, 'join', options);
  }

  async knock(room: Room, userId: string, options: MemberOptions = {}): Promise<void> {
    const current = this.#data.membership(room, userId);
    if (current === 'join' || current === 'invite')
      throw new MatrixError(403, 'M_FORBIDDEN', 'You are already in or invited to this room');
    const rule = this.#data.stateEvent(room, 'm.room.join_rules')?.content.join_rule;
    if (rule !== 'knock') throw new MatrixError(403, 'M_FORBIDDEN', 'This room does not accept knocks');
    await this.#member(room, userId, userId, 'knock', options);
  }

  async invite(room: Room, inviter: string, invitee: string, options: MemberOptions = {}): Promise<void> {
    const data = this.#data;
    this.#joined(room, inviter);
    this.#power(room, inviter, 'invite', 0);
    // Local invitees must exist; the plugin already gave their AS the chance to create them.
    if (data.isLocal(invitee) && !data.users.has(invitee)) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown user');
    const current = data.membership(room, invitee);
    if (current === 'join' || current === 'ban')
      throw new MatrixError(403, 'M_FORBIDDEN', `${invitee} is already in the room or banned`);
    await this.#member(room, inviter, invitee, 'invite', options);
  }

  /** Leaving (sender === target), kicking (needs the kick level), or unbanning (the ban level). */
  async leave(room: Room, sender: string, target: string, options: MemberOptions = {}): Promise<void> {
    const current = this.#data.membership(room, target);
    if (sender === target) {
      if (current === undefined || current === 'leave' || current === 'ban')
        throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    } else if (current === 'ban') {
      this.#joined(room, sender);
      this.#power(room, sender, 'ban', 50);
    } else {
      this.#joined(room, sender);
      if (current === undefined || current === 'leave')
        throw new MatrixError(403, 'M_FORBIDDEN', `${target} is not in this room`);
      this.#power(room, sender, 'kick', 50, target);
    }
    await this.#member(room, sender, target, 'leave', options);
  }

  async ban(room: Room, sender: string, target: string, options: MemberOptions = {}): Promise<void> {
    this.#joined(room, sender);
    this.#power(room, sender, 'ban', 50, target);
    await this.#member(room, sender, target, 'ban', options);
  }

  /** `PUT /state/m.room.member/{userId}`: the membership endpoints by another door (bridges set ghosts' room profiles this way). */
  async setMember(
    room: Room,
    sender: string,
    target: string,
    content: Record<string, unknown>,
    ts?: number,
  ): Promise<RoomEvent> {
    const options = { content, ts };
    switch (content.membership) {
      case 'join':
        if (sender !== target) throw new MatrixError(403, 'M_FORBIDDEN', 'Cannot force another user to join');
        await this.join(room, target, options);
        break;
      case 'invite':
        await this.invite(room, sender, target, options);
        break;
      case 'leave':
        await this.leave(room, sender, target, options);
        break;
      case 'ban':
        await this.ban(room, sender, target, options);
        break;
      case 'knock':
        if (sender !== target) throw new MatrixError(403, 'M_FORBIDDEN', 'Cannot knock for another user');
        await this.knock(room, target, options);
        break;
      default:
        throw new MatrixError(400, 'M_BAD_JSON', 'membership must be join, invite, leave, ban or knock');
    }
    return this.#data.stateEvent(room, 'm.room.member', target)!;
  }

  /** A state or message event from a joined member. */
  async send(
    room: Room,
    sender: string,
    type: string,
    content: Record<string, unknown>,
    options: { stateKey?: string; ts?: number } = {},
  ): Promise<RoomEvent> {
    const data = this.#data;
    this.#joined(room, sender);
    if (type === 'm.room.member') {
      if (options.stateKey === undefined) throw new MatrixError(400, 'M_BAD_JSON', 'm.room.member is a state event');
      return this.setMember(room, sender, options.stateKey, content, options.ts);
    }
    if (type === 'm.room.redaction') throw new MatrixError(400, 'M_BAD_JSON', 'Use the redact endpoint');
    if (type === 'm.room.canonical_alias') this.#checkCanonicalAlias(room, content);
    return data.persist(room, { type, sender, content, state_key: options.stateKey, origin_server_ts: options.ts });
  }

  /** Redacts an event of this room: one's own always, another's with the redact level. */
  async redact(room: Room, sender: string, eventId: string, reason?: string, ts?: number): Promise<RoomEvent> {
    const data = this.#data;
    this.#joined(room, sender);
    const target = data.events.get(eventId);
    if (target === undefined || target.room_id !== room.roomId)
      throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
    if (target.sender !== sender) this.#power(room, sender, 'redact', 50);
    const content: Record<string, unknown> = { redacts: eventId, ...(reason === undefined ? {} : { reason }) };
    const redaction = await data.persist(room, {
      type: 'm.room.redaction',
      sender,
      content,
      redacts: eventId,
      origin_server_ts: ts,
    });
    data.applyRedaction(target, redaction);
    return redaction;
  }

  /** A user's power level in the room (the spec's defaults when the event or entry is missing). */
  powerOf(room: Room, userId: string): number {
    const levels = this.#data.stateEvent(room, 'm.room.power_levels')?.content as
      { users?: Record<string, unknown>; users_default?: unknown } | undefined;
    const level = levels?.users?.[userId] ?? levels?.users_default ?? 0;
    return typeof level === 'number' ? level : 0;
  }

  #power(
    room: Room,
    sender: string,
    action: 'invite' | 'kick' | 'ban' | 'redact',
    fallback: number,
    target?: string,
  ): void {
    const needed = this.#data.stateEvent(room, 'm.room.power_levels')?.content[action];
    const required = typeof needed === 'number' ? needed : fallback;
    const mine = this.powerOf(room, sender);
    if (mine < required || (target !== undefined && target !== sender && mine <= this.powerOf(room, target))) {
      throw new MatrixError(403, 'M_FORBIDDEN', `You do not have the power to ${action} here`);
    }
  }

  #joined(room: Room, userId: string): void {
    if (this.#data.membership(room, userId) !== 'join')
      throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
  }

  #checkCanonicalAlias(room: Room, content: Record<string, unknown>): void {
    const alt = Array.isArray(content.alt_aliases) ? content.alt_aliases : [];
    for (const alias of [content.alias, ...alt]) {
      if (alias === undefined || alias === null) continue;
      if (typeof alias !== 'string' || this.#data.aliases.get(alias)?.roomId !== room.roomId) {
        throw new MatrixError(400, 'M_BAD_ALIAS', `${String(alias)} does not point to this room`);
      }
    }
  }

  #profile(userId: string): Record<string, string> {
    const user = this.#data.users.get(userId);
    const out: Record<string, string> = {};
    if (user?.displayname !== undefined) out.displayname = user.displayname;
    if (user?.avatar_url !== undefined) out.avatar_url = user.avatar_url;
    return out;
  }

  async #member(room: Room, sender: string, target: string, membership: string, options: MemberOptions): Promise<void> {
    const content: Record<string, unknown> = {
      ...(membership === 'join' ? this.#profile(target) : {}),
      ...options.content,
      membership,
    };
    if (options.reason !== undefined) content.reason = options.reason;
    await this.#data.persist(room, {
      type: 'm.room.member',
      sender,
      state_key: target,
      content,
      origin_server_ts: options.ts,
    });
  }
}
