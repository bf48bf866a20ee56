/**
 * The plugin's two MSC3202 calls, `as.publishDeviceListUpdate` and `as.publishKeyCounts`, seen
 * through one small seam: a plugin build without them makes both a no-op, so the homeserver's
 * device and key routes work the same either way.
 */
import type { Appservices } from '../../lib/index.ts';
import type { DeviceListChange, KeyCounts } from './device-store.ts';

export interface DeviceListCalls {
  publishDeviceListUpdate(change: DeviceListChange): Promise<void>;
  publishKeyCounts(counts: KeyCounts): Promise<void>;
}

/**
 * @example
 * const calls = deviceListCalls(as);
 * data.onKeyCounts = (counts) => calls.publishKeyCounts(counts);
 */
export function deviceListCalls(as: Appservices): DeviceListCalls {
  const plugin = as as Appservices & Partial<DeviceListCalls>;
  return {
    publishDeviceListUpdate: (change) => plugin.publishDeviceListUpdate?.(change) ?? Promise.resolve(),
    publishKeyCounts: (counts) => plugin.publishKeyCounts?.(counts) ?? Promise.resolve(),
  };
}
