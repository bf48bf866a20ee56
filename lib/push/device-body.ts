/**
 * The MSC3202 fields of a transaction body, from the `deviceList` and `keyCounts` items of the
 * batch (their stored JSON is `DeviceListItem` and `KeyCountsItem` below).
 *
 * Unlike events, these are states, not a log: within one transaction a user's last device list
 * update decides whether they are under `changed` or `left`, and a device's last key counts are
 * the ones sent. Field names follow MSC3202 as Synapse sends them: `org.matrix.msc3202.device_lists`,
 * `org.matrix.msc3202.device_one_time_keys_count` together with the older spelling
 * `org.matrix.msc3202.device_one_time_key_counts` (Synapse before 1.73 sent only that one, and
 * bridges still read either), and `org.matrix.msc3202.device_unused_fallback_key_types`. Each is
 * left out when the batch has nothing for it.
 */
import type { QueuedItem } from '../store/store.ts';

/** The stored JSON of a `deviceList` item. */
export interface DeviceListItem {
  readonly user_id: string;
  readonly change: 'changed' | 'left';
}

/** The stored JSON of a `keyCounts` item. */
export interface KeyCountsItem {
  readonly user_id: string;
  readonly device_id: string;
  readonly one_time_keys_count: Readonly<Record<string, number>>;
  readonly unused_fallback_key_types: readonly string[];
}

export const DEVICE_LISTS_FIELD = 'org.matrix.msc3202.device_lists';
export const OTK_COUNT_FIELDS = [
  'org.matrix.msc3202.device_one_time_keys_count',
  'org.matrix.msc3202.device_one_time_key_counts',
] as const;
export const FALLBACK_KEYS_FIELD = 'org.matrix.msc3202.device_unused_fallback_key_types';

/**
 * The MSC3202 fields for these items (other kinds are ignored), each prefixed with a comma, ready
 * to append to a body; '' when there is none.
 *
 * @example
 * deviceFields([{ seq: 1, kind: 'deviceList', json: '{"user_id":"@a:hs","change":"left"}' }]);
 * // ',"org.matrix.msc3202.device_lists":{"changed":[],"left":["@a:hs"]}'
 */
export function deviceFields(items: readonly QueuedItem[]): string {
  // Map keys keep first-seen order and take any device id as is ("__proto__" included).
  const lists = new Map<string, DeviceListItem['change']>();
  const counts = new Map<string, Map<string, KeyCountsItem>>();
  for (const item of items) {
    if (item.kind === 'deviceList') {
      const update = JSON.parse(item.json) as DeviceListItem;
      lists.set(update.user_id, update.change);
    } else if (item.kind === 'keyCounts') {
      const device = JSON.parse(item.json) as KeyCountsItem;
      let devices = counts.get(device.user_id);
      if (devices === undefined) counts.set(device.user_id, (devices = new Map()));
      devices.set(device.device_id, device);
    }
  }
  let out = '';
  if (lists.size > 0) {
    const changed: string[] = [];
    const left: string[] = [];
    for (const [userId, change] of lists) (change === 'left' ? left : changed).push(userId);
    out += `,${JSON.stringify(DEVICE_LISTS_FIELD)}:${JSON.stringify({ changed, left })}`;
  }
  if (counts.size > 0) {
    const otks = JSON.stringify(byUserAndDevice(counts, (d) => d.one_time_keys_count));
    for (const name of OTK_COUNT_FIELDS) out += `,${JSON.stringify(name)}:${otks}`;
    const fallback = JSON.stringify(byUserAndDevice(counts, (d) => d.unused_fallback_key_types));
    out += `,${JSON.stringify(FALLBACK_KEYS_FIELD)}:${fallback}`;
  }
  return out;
}

function byUserAndDevice<T>(
  counts: ReadonlyMap<string, ReadonlyMap<string, KeyCountsItem>>,
  pick: (device: KeyCountsItem) => T,
): Record<string, Record<string, T>> {
  return Object.fromEntries(
    [...counts].map(([userId, devices]) => [
      userId,
      Object.fromEntries([...devices].map(([deviceId, device]) => [deviceId, pick(device)])),
    ]),
  );
}
