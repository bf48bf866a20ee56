/**
 * What happens to rooms: creation with its initial state, membership changes with the few rules a
 * small homeserver needs (join rules, invites, knocks), and state or message events. Routes call
 * these after authentication; every event goes through `data.persist`, hence to the ASes.
 */
import { MatrixError } from '../../lib/index.ts';
import type { HomeserverData, Room, RoomEvent } from './data.ts';

export interface CreateRoomInput {
  preset?: 'public_chat' | 'private_chat' | 'trusted_private_chat';
  visibility?: 'public' | 'private';
  name?: string;
  topic?: string;
  /** Already checked: a full alias on this server that nobody holds. */
  alias?: string;
  invite?: readonly string[];
  initialState?: readonly { type: string; state_key?: string; content: Record<string, unknown> }[];
  ts?: number;
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

  async createRoom(creator: string, input: CreateRoomInput): Promise<Room> {
    const data = this.#data;
    const room = data.createRoom();
    const ts = input.ts;
    const state = (type: string, content: Record<string, unknown>, stateKey = '') =>
      data.persist(room, { type, sender: creator, content, state_key: stateKey, origin_server_ts: ts });
    const preset = input.preset ?? (input.visibility === 'public' ? 'public_chat' : 'private_chat');
    await state('m.room.create', { creator, room_version: '10' });
    await state('m.room.member', { membership: 'join', ...this.#profile(creator) }, creator);
    await state('m.room.power_levels', { users: { [creator]: 100 }, users_default: 0, events_default: 0, state_default: 50, invite: 0 });
    if (input.alias !== undefined) data.aliases.set(input.alias, { roomId: room.roomId, creator });
    await state('m.room.join_rules', { join_rule: preset === 'public_chat' ? 'public' : 'invite' });
    await state('m.room.history_visibility', { history_visibility: 'shared' });
    for (const event of input.initialState ?? []) await state(event.type, event.content, event.state_key ?? '');
    if (input.name !== undefined) await state('m.room.name', { name: input.name });
    if (input.topic !== undefined) await state('m.room.topic', { topic: input.topic });
    if (input.alias !== undefined) await state('m.room.canonical_alias', { alias: input.alias });
    if (input.visibility === 'public') data.publicRooms.add(room.roomId);
    for (const invitee of input.invite ?? []) await this.invite(room, creator, invitee);
    return room;
  }

  /** Joins by the room's join rule or an invite; joining twice is a no-op, as in the spec. */
  async join(room: Room, userId: string, ts?: number): Promise<void> {
    const current = this.#data.membership(room, userId);
    if (current === 'join') return;
    if (current === 'ban') throw new MatrixError(403, 'M_FORBIDDEN', 'You are banned from this room');
    const rule = this.#data.stateEvent(room, 'm.room.join_rules')?.content.join_rule;
    if (rule !== 'public' && current !== 'invite') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not invited to this room.');
    await this.#member(room, userId, userId, 'join', ts);
  }

  async knock(room: Room, userId: string, reason?: string): Promise<void> {
    const current = this.#data.membership(room, userId);
    if (current === 'join' || current === 'invite') throw new MatrixError(403, 'M_FORBIDDEN', 'You are already in or invited to this room');
    const rule = this.#data.stateEvent(room, 'm.room.join_rules')?.content.join_rule;
    if (rule !== 'knock') throw new MatrixError(403, 'M_FORBIDDEN', 'This room does not accept knocks');
    await this.#member(room, userId, userId, 'knock', undefined, reason);
  }

  async invite(room: Room, inviter: string, invitee: string, ts?: number): Promise<void> {
    const data = this.#data;
    if (data.membership(room, inviter) !== 'join') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    // Local invitees must exist; the plugin already gave their AS the chance to create them.
    if (data.isLocal(invitee) && !data.users.has(invitee)) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown user');
    const current = data.membership(room, invitee);
    if (current === 'join' || current === 'ban') throw new MatrixError(403, 'M_FORBIDDEN', `${invitee} is already in the room or banned`);
    await this.#member(room, inviter, invitee, 'invite', ts);
  }

  async leave(room: Room, sender: string, userId: string, ts?: number): Promise<void> {
    const current = this.#data.membership(room, userId);
    if (current === undefined || current === 'leave') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    await this.#member(room, sender, userId, 'leave', ts);
  }

  /** A state or message event from a joined member. */
  async send(room: Room, sender: string, type: string, content: Record<string, unknown>, options: { stateKey?: string; ts?: number } = {}): Promise<RoomEvent> {
    const data = this.#data;
    if (data.membership(room, sender) !== 'join') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    if (type === 'm.room.member') throw new MatrixError(400, 'M_BAD_JSON', 'Use the membership endpoints');
    if (type === 'm.room.canonical_alias') this.#checkCanonicalAlias(room, content);
    return data.persist(room, { type, sender, content, state_key: options.stateKey, origin_server_ts: options.ts });
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

  async #member(room: Room, sender: string, target: string, membership: string, ts?: number, reason?: string): Promise<void> {
    const content: Record<string, unknown> = { membership, ...(membership === 'join' ? this.#profile(target) : {}) };
    if (reason !== undefined) content.reason = reason;
    await this.#data.persist(room, { type: 'm.room.member', sender, state_key: target, content, origin_server_ts: ts });
  }
}
