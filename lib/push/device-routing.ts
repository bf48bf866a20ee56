/**
 * Which ASes get a device list change or a device's key counts (MSC3202). Only ASes whose
 * registration sets `org.matrix.msc3202: true` and that have a url are candidates, and none at
 * all unless the homeserver turned `experimentalFeatures.msc3202` on.
 *
 * - Key counts: the ASes whose users namespace holds the user (or whose sender the user is):
 *   they are the AS's own devices, and nobody else's business.
 * - A device list `changed`: the ASes interested in the user, by the rule presence follows (the
 *   user is theirs, or shares a room with one of theirs when the host has `joinedRooms`), so an
 *   encrypting bridge learns that its room members' keys changed.
 * - A device list `left`: the ASes interested in the room the user left (its id, aliases or
 *   members), except those still interested in the user after the leave (the user is theirs, or
 *   still shares another room with them): those must keep tracking the user's devices. Publish
 *   the leave event with `publish()` before the update, so that the cached rooms and members the
 *   rule reads are the ones after the leave.
 */
import type { Interest } from '../interest.ts';
import type { Registration } from '../registration/registration.ts';
import type { EnqueueItem } from '../store/store.ts';
import { deviceListJson, keyCountsJson, type DeviceKeyCounts, type DeviceListUpdate } from './device-input.ts';

type InterestLike = Pick<Interest, 'interestedInUser' | 'interestedInRoom' | 'ownersOf'>;

/**
 * Turns the host's device reports into queue items for the ASes that get them.
 *
 * @example
 * const routing = new DeviceRouting({ registrations, interest, enabled: experimental.msc3202 });
 * await publisher.publishItems(routing.deviceListItems({ userId: '@alice:hs', change: 'changed' }));
 */
export class DeviceRouting {
  readonly #interest: InterestLike;
  /** Pushable msc3202 registrations, in registration order; empty with the switch off. */
  readonly #candidates: readonly Registration[];

  constructor(deps: { registrations: readonly Registration[]; interest: InterestLike; enabled: boolean }) {
    this.#interest = deps.interest;
    this.#candidates = deps.enabled ? deps.registrations.filter((r) => r.url !== null && r.msc3202) : [];
  }

  /**
   * The items for a device list update: none, or one for the ASes that get it. Throws an
   * InvalidEventError naming the field for a malformed update, before anything is asked.
   */
  deviceListItems(update: DeviceListUpdate): readonly EnqueueItem[] | Promise<readonly EnqueueItem[]> {
    const json = deviceListJson(update);
    if (this.#candidates.length === 0) return [];
    return (update.change === 'left' ? this.#leftAudience(update) : this.#changedAudience(update.userId)).then((regs) =>
      item('deviceList', json, regs),
    );
  }

  /** The items for a device's key counts: none, or one for the ASes owning the user. Throws like `deviceListItems`. */
  keyCountsItems(counts: DeviceKeyCounts): readonly EnqueueItem[] {
    const json = keyCountsJson(counts);
    if (this.#candidates.length === 0) return [];
    const owners = this.#interest.ownersOf(counts.userId);
    return item(
      'keyCounts',
      json,
      this.#candidates.filter((r) => owners.has(r)),
    );
  }

  #changedAudience(userId: string): Promise<readonly Registration[]> {
    return this.#interest.interestedInUser(userId, this.#candidates);
  }

  async #leftAudience(update: DeviceListUpdate): Promise<readonly Registration[]> {
    const inRoom = await this.#interest.interestedInRoom(update.roomId!, this.#candidates);
    if (inRoom.length === 0) return [];
    const still = new Set(await this.#interest.interestedInUser(update.userId, inRoom));
    return inRoom.filter((r) => !still.has(r));
  }
}

function item(kind: 'deviceList' | 'keyCounts', json: string, regs: readonly Registration[]): readonly EnqueueItem[] {
  return regs.length === 0 ? [] : [{ kind, json, asIds: regs.map((r) => r.id) }];
}
