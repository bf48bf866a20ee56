/**
 * The reference homeserver's memory: users, devices, access tokens, rooms with their state and
 * timeline, aliases and room directories, in plain maps. A real homeserver keeps these in a
 * database; the library never sees them except through the Host interface (host.ts).
 *
 * Every event goes through {@link HomeserverData.persist}, which appends it to the room and to the
 * global stream and then runs the `onPersisted` hook: the homeserver wires that hook to
 * `as.publish()`, so no persisted event can miss the application services.
 */
import { randomBytes } from 'node:crypto';
import type { DeviceKeyCounts, DeviceListUpdate, EphemeralEvent, MatrixEvent } from '../../lib/index.ts';
import { DeviceStore } from './device-store.ts';
import { checkEvent } from './limits.ts';

export interface UserRecord {
  readonly userId: string;
  displayname?: string;
  avatar_url?: string;
  password?: string;
  deactivated: boolean;
  /** The AS that registered it, if any. */
  appserviceId?: string;
}

export interface Session {
  readonly userId: string;
  readonly deviceId: string;
}

/** A persisted event: the client-server format the AS API also uses. */
export interface RoomEvent extends MatrixEvent {
  readonly origin_server_ts: number;
  /** Position in the homeserver-wide stream (for /sync); not sent to clients. */
  readonly stream: number;
}

export type Membership = 'join' | 'invite' | 'leave' | 'ban' | 'knock';

export interface Room {
  readonly roomId: string;
  /** Current state: `${type}\u0000${stateKey}` → event. */
  readonly state: Map<string, RoomEvent>;
  readonly timeline: RoomEvent[];
}

export interface EventDraft {
  type: string;
  sender: string;
  content: Record<string, unknown>;
  state_key?: string;
  /** An AS's massaged timestamp; otherwise now. */
  origin_server_ts?: number;
  /** On `m.room.redaction`: the redacted event (top level in room versions before 11). */
  redacts?: string;
}

/** Content keys that survive redaction, by event type (room versions 10 and 11, roughly). */
const KEPT_ON_REDACTION: Readonly<Record<string, readonly string[]>> = {
  'm.room.member': ['membership', 'join_authorised_via_users_server'],
  'm.room.create': ['creator', 'room_version'],
  'm.room.join_rules': ['join_rule', 'allow'],
  'm.room.power_levels': [
    'ban',
    'events',
    'events_default',
    'invite',
    'kick',
    'redact',
    'state_default',
    'users',
    'users_default',
  ],
  'm.room.history_visibility': ['history_visibility'],
};

const stateKeyOf = (type: string, stateKey: string) => `${type}\u0000${stateKey}`;

/**
 * @example
 * const data = new HomeserverData('localhost');
 * data.onPersisted = (event) => as.publish(event);
 * const user = data.createUser('@alice:localhost');
 */
export class HomeserverData {
  readonly serverName: string;
  readonly users = new Map<string, UserRecord>();
  readonly sessions = new Map<string, Session>();
  readonly rooms = new Map<string, Room>();
  /** alias → room id and who made it (for delete permissions). */
  readonly aliases = new Map<string, { roomId: string; creator: string }>();
  /** The main room directory (`/publicRooms` without a third-party instance). */
  readonly publicRooms = new Set<string>();
  /** Appservice room directories: `${appserviceId}|${networkId}` → room ids (Synapse's instance id shape). */
  readonly appserviceLists = new Map<string, Set<string>>();
  /** Every event in persist order; index + 1 is its stream position. */
  readonly stream: RoomEvent[] = [];
  readonly events = new Map<string, RoomEvent>();
  /** Account data: `${userId}|${roomId or ''}|${type}` → content. */
  readonly accountData = new Map<string, Record<string, unknown>>();
  /** Runs after each event is stored; resolve only when the event is safe with the ASes too. */
  onPersisted: (event: RoomEvent) => Promise<unknown> = async () => {};
  /** Runs for each typing, receipt or presence update (the homeserver hands them to `as.publishEphemeral`). */
  onEphemeral: (edu: EphemeralEvent) => Promise<unknown> = async () => {};
  /** Devices, their keys and users' cross-signing keys. */
  readonly devices = new DeviceStore();
  /** Runs when a user's devices or keys change, or they join or leave a room (MSC3202 device lists). */
  onDeviceListChange: (change: DeviceListUpdate) => Promise<unknown> = async () => {};
  /** Runs when a device's one-time or fallback keys change (MSC3202 key counts). */
  onKeyCounts: (counts: DeviceKeyCounts) => Promise<unknown> = async () => {};
  readonly #listeners = new Set<() => void>();

  constructor(serverName: string) {
    this.serverName = serverName;
  }

  /** A fresh opaque id with a sigil, local to this server. */
  newId(sigil: '!' | '$' | '', length = 18): string {
    const local = randomBytes(length).toString('base64url');
    return sigil === '$' ? `$${local}` : sigil === '!' ? `!${local}:${this.serverName}` : local;
  }

  userId(localpart: string): string {
    return `@${localpart}:${this.serverName}`;
  }

  isLocal(id: string): boolean {
    return id.slice(id.indexOf(':') + 1) === this.serverName;
  }

  createUser(userId: string, fields: Partial<Omit<UserRecord, 'userId' | 'deactivated'>> = {}): UserRecord {
    const user: UserRecord = { userId, deactivated: false, ...fields };
    this.users.set(userId, user);
    return user;
  }

  /** A new access token for `userId`, on a new device unless `deviceId` names one it has (`created` says which). */
  login(
    userId: string,
    deviceId = this.newId('', 6).toUpperCase(),
  ): { accessToken: string; deviceId: string; created: boolean } {
    const accessToken = `syt_${this.newId('', 24)}`;
    const { created } = this.devices.create(userId, deviceId);
    this.sessions.set(accessToken, { userId, deviceId });
    return { accessToken, deviceId, created };
  }

  deviceExists(userId: string, deviceId: string): boolean {
    return this.devices.get(userId, deviceId) !== undefined;
  }

  /** Removes the device, its keys and its access tokens; false when the user had no such device. */
  deleteDevice(userId: string, deviceId: string): boolean {
    for (const [token, session] of this.sessions)
      if (session.userId === userId && session.deviceId === deviceId) this.sessions.delete(token);
    return this.devices.delete(userId, deviceId);
  }

  /** Every access token and device of the user goes (a deactivated account keeps none). */
  logoutAll(userId: string): void {
    for (const [token, session] of this.sessions) if (session.userId === userId) this.sessions.delete(token);
    for (const device of this.devices.list(userId)) this.devices.delete(userId, device.deviceId);
  }

  createRoom(): Room {
    const room: Room = { roomId: this.newId('!'), state: new Map(), timeline: [] };
    this.rooms.set(room.roomId, room);
    return room;
  }

  stateEvent(room: Room, type: string, stateKey = ''): RoomEvent | undefined {
    return room.state.get(stateKeyOf(type, stateKey));
  }

  membership(room: Room, userId: string): Membership | undefined {
    return this.stateEvent(room, 'm.room.member', userId)?.content.membership as Membership | undefined;
  }

  joinedMembers(room: Room): string[] {
    const out: string[] = [];
    for (const event of room.state.values()) {
      if (event.type === 'm.room.member' && event.content.membership === 'join') out.push(event.state_key as string);
    }
    return out;
  }

  roomAliases(roomId: string): string[] {
    return [...this.aliases].filter(([, entry]) => entry.roomId === roomId).map(([alias]) => alias);
  }

  /**
   * The event `draft` would become, checked as `publish()` checks it and against the spec's size
   * limits (limits.ts); throws a MatrixError instead. Stores nothing.
   */
  prepare(room: Room, draft: EventDraft): RoomEvent {
    const event: RoomEvent = {
      event_id: this.newId('$', 24),
      room_id: room.roomId,
      type: draft.type,
      sender: draft.sender,
      content: draft.content,
      ...(draft.state_key === undefined ? {} : { state_key: draft.state_key }),
      ...(draft.redacts === undefined ? {} : { redacts: draft.redacts }),
      origin_server_ts: draft.origin_server_ts ?? Date.now(),
      stream: this.stream.length + 1,
    };
    checkEvent(clientEvent(event));
    return event;
  }

  /**
   * Checks the event (see `prepare`), stores it, wakes /sync, and resolves once `onPersisted` (the
   * AS publish) has. A refused event is never stored, so it cannot break the room's reads.
   */
  async persist(room: Room, draft: EventDraft): Promise<RoomEvent> {
    const event = this.prepare(room, draft);
    const member = draft.type === 'm.room.member' ? draft.state_key : undefined;
    const before = member === undefined ? undefined : this.membership(room, member);
    room.timeline.push(event);
    this.stream.push(event);
    this.events.set(event.event_id, event);
    if (draft.state_key !== undefined) room.state.set(stateKeyOf(draft.type, draft.state_key), event);
    for (const wake of [...this.#listeners]) wake();
    await this.onPersisted(event);
    // Sharing a room is what makes a user's devices matter to the room's other members.
    if (member !== undefined) {
      const after = this.membership(room, member);
      if (after === 'join' && before !== 'join')
        await this.onDeviceListChange({ userId: member, change: 'changed', roomId: room.roomId });
      else if (before === 'join' && after !== 'join')
        await this.onDeviceListChange({ userId: member, change: 'left', roomId: room.roomId });
    }
    return event;
  }

  /** Strips a redacted event's content down to the keys the redaction algorithm keeps. */
  applyRedaction(target: RoomEvent, redaction: RoomEvent): void {
    const keep = KEPT_ON_REDACTION[target.type] ?? [];
    const content = Object.fromEntries(Object.entries(target.content).filter(([key]) => keep.includes(key)));
    const unsigned = {
      ...(target.unsigned as Record<string, unknown> | undefined),
      redacted_because: clientEvent(redaction),
    };
    // Stored events are shared by the timeline, the state map and the stream: change them in place.
    Object.assign(target as { content: unknown; unsigned?: unknown }, { content, unsigned });
  }

  /** Calls `wake` on the next persisted event; returns the unsubscribe. */
  listen(wake: () => void): () => void {
    this.#listeners.add(wake);
    return () => this.#listeners.delete(wake);
  }
}

/**
 * An event as clients see it: without the homeserver's stream position.
 *
 * @example
 * ctx.body = { chunk: events.map(clientEvent) };
 */
export function clientEvent(event: RoomEvent): MatrixEvent {
  const { stream: _stream, ...rest } = event;
  return rest;
}
