/**
 * Presence "contextually" (AS API, "Pushing EDUs"): an `m.presence` EDU goes to an AS whose
 * namespace holds the user, and also to one that "shares a room" with the user, that is, one of
 * the rooms the user is joined to has a joined member in the AS's users namespace (or its sender).
 *
 * Only the homeserver knows a user's rooms: this needs the optional `Host.joinedRooms` hook. The
 * answer is cached per user until a membership event about that user is published; each room's
 * members come from the room facts `Interest` already caches, so a presence update for a user
 * whose rooms and members are known costs set lookups and no host call.
 */
import { LRUCache } from 'lru-cache';
import type { Registration } from './registration/registration.ts';

type Rooms = Promise<readonly string[]>;

/** What `PresenceAudience` needs from its owner. */
export interface PresenceAudienceDeps {
  /** `Host.joinedRooms`. */
  joinedRooms(userId: string): Promise<string[]>;
  /** The ASes with a joined member in the room, once known (cached by the caller). */
  roomMembers(roomId: string): Promise<ReadonlySet<Registration>>;
  /** The same when already known, without waiting; undefined otherwise. */
  roomMembersNow(roomId: string): ReadonlySet<Registration> | undefined;
}

/**
 * Adds to a presence EDU's audience the ASes that share a room with its user.
 *
 * @example
 * const audience = new PresenceAudience({ joinedRooms: (u) => host.joinedRooms!(u), roomMembers, roomMembersNow }, 10_000);
 * await audience.addSharing(found, '@alice:hs', candidates);
 */
export class PresenceAudience {
  readonly #deps: PresenceAudienceDeps;
  readonly #rooms: LRUCache<string, Rooms>;

  constructor(deps: PresenceAudienceDeps, maxUsers: number) {
    this.#deps = deps;
    this.#rooms = new LRUCache({ max: maxUsers });
  }

  /**
   * Adds to `found` every candidate that shares a room with `userId`. Stops asking as soon as every
   * candidate is in: rooms whose members are already known are read first, without waiting.
   */
  async addSharing(found: Set<Registration>, userId: string, candidates: readonly Registration[]): Promise<void> {
    if (complete(found, candidates)) return;
    const rooms = await this.#roomsOf(userId);
    const unknown: string[] = [];
    for (const roomId of rooms) {
      const members = this.#deps.roomMembersNow(roomId);
      if (members === undefined) unknown.push(roomId);
      else if (addFrom(found, members, candidates)) return;
    }
    if (unknown.length === 0) return;
    const answers = await Promise.all(unknown.map((roomId) => this.#deps.roomMembers(roomId)));
    for (const members of answers) if (addFrom(found, members, candidates)) return;
  }

  /** The user joined or left a room: their cached room list is stale. */
  forgetUser(userId: string): void {
    this.#rooms.delete(userId);
  }

  /** One host call per user however many EDUs ask at once; a failed call is not cached. */
  #roomsOf(userId: string): Rooms {
    const cached = this.#rooms.get(userId);
    if (cached !== undefined) return cached;
    const pending: Rooms = this.#deps.joinedRooms(userId);
    this.#rooms.set(userId, pending);
    pending.catch(() => {
      if (this.#rooms.peek(userId) === pending) this.#rooms.delete(userId);
    });
    return pending;
  }
}

function complete(found: ReadonlySet<Registration>, candidates: readonly Registration[]): boolean {
  for (const r of candidates) if (!found.has(r)) return false;
  return true;
}

/** Adds the candidates among `members`; true when every candidate is now in. */
function addFrom(
  found: Set<Registration>,
  members: ReadonlySet<Registration>,
  candidates: readonly Registration[],
): boolean {
  let all = true;
  for (const r of candidates) {
    if (members.has(r)) found.add(r);
    else if (!found.has(r)) all = false;
  }
  return all;
}
