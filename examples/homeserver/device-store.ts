/**
 * The reference homeserver's devices and end-to-end keys, in memory: each user's devices with
 * their device keys, unused one-time keys and fallback keys, and each user's cross-signing keys.
 * Limits (limits.ts) bound what one user or device can make it hold.
 *
 * Counts are what MSC3202 reports to an encrypted bridge after every change: one-time keys left
 * per algorithm (`signed_curve25519` always present, as Synapse answers) and the algorithms whose
 * fallback key has not been used yet.
 */
import { MatrixError, type DeviceKeyCounts } from '../../lib/index.ts';
import { MAX_DEVICES_PER_USER, MAX_ONE_TIME_KEYS_PER_DEVICE } from './limits.ts';

export type KeyObject = Readonly<Record<string, unknown>> | string;

export interface DeviceRecord {
  readonly userId: string;
  readonly deviceId: string;
  displayName?: string;
  /** The signed `device_keys` the device uploaded. */
  keys?: Readonly<Record<string, unknown>>;
  /** `algorithm:keyId` → key, in upload order: a claim takes the oldest. */
  readonly oneTimeKeys: Map<string, KeyObject>;
  /** algorithm → its one fallback key, until replaced. */
  readonly fallbackKeys: Map<string, { readonly keyId: string; readonly key: KeyObject; used: boolean }>;
}

/** The client API's cross-signing keys of one user. */
export interface CrossSigningKeys {
  master_key?: Readonly<Record<string, unknown>>;
  self_signing_key?: Readonly<Record<string, unknown>>;
  user_signing_key?: Readonly<Record<string, unknown>>;
}

/**
 * @example
 * const store = new DeviceStore();
 * store.create('@alice:hs', 'PHONE');
 * store.addOneTimeKeys(store.get('@alice:hs', 'PHONE')!, { 'signed_curve25519:AAA': { key: '…' } });
 */
export class DeviceStore {
  readonly #byUser = new Map<string, Map<string, DeviceRecord>>();
  readonly crossSigning = new Map<string, CrossSigningKeys>();

  get(userId: string, deviceId: string): DeviceRecord | undefined {
    return this.#byUser.get(userId)?.get(deviceId);
  }

  list(userId: string): DeviceRecord[] {
    return [...(this.#byUser.get(userId)?.values() ?? [])];
  }

  /** The device, made if it does not exist; `created` says which. */
  create(userId: string, deviceId: string, displayName?: string): { device: DeviceRecord; created: boolean } {
    let devices = this.#byUser.get(userId);
    const existing = devices?.get(deviceId);
    if (existing !== undefined) return { device: existing, created: false };
    if (devices !== undefined && devices.size >= MAX_DEVICES_PER_USER) {
      throw new MatrixError(403, 'M_RESOURCE_LIMIT_EXCEEDED', `At most ${MAX_DEVICES_PER_USER} devices per user`, {
        limit_type: 'devices',
      });
    }
    if (devices === undefined) this.#byUser.set(userId, (devices = new Map()));
    const device: DeviceRecord = {
      userId,
      deviceId,
      ...(displayName === undefined ? {} : { displayName }),
      oneTimeKeys: new Map(),
      fallbackKeys: new Map(),
    };
    devices.set(deviceId, device);
    return { device, created: true };
  }

  /** Removes the device and its keys; false when there was none. */
  delete(userId: string, deviceId: string): boolean {
    const devices = this.#byUser.get(userId);
    const deleted = devices?.delete(deviceId) ?? false;
    if (devices?.size === 0) this.#byUser.delete(userId);
    return deleted;
  }

  /**
   * Stores one-time keys; a key id already held with another key is refused (a client must not
   * reuse ids), the same key again is ignored. Returns whether anything was added.
   */
  addOneTimeKeys(device: DeviceRecord, keys: Readonly<Record<string, KeyObject>>): boolean {
    const fresh = Object.entries(keys).filter(([id, key]) => {
      const held = device.oneTimeKeys.get(id);
      if (held === undefined) return true;
      if (JSON.stringify(held) !== JSON.stringify(key))
        throw new MatrixError(400, 'M_INVALID_PARAM', `One-time key ${id} already exists with another value`);
      return false;
    });
    if (device.oneTimeKeys.size + fresh.length > MAX_ONE_TIME_KEYS_PER_DEVICE) {
      throw new MatrixError(
        403,
        'M_RESOURCE_LIMIT_EXCEEDED',
        `At most ${MAX_ONE_TIME_KEYS_PER_DEVICE} unused one-time keys per device`,
        { limit_type: 'one_time_keys' },
      );
    }
    for (const [id, key] of fresh) device.oneTimeKeys.set(id, key);
    return fresh.length > 0;
  }

  /** Replaces the fallback key of each algorithm given. Returns whether anything changed. */
  setFallbackKeys(device: DeviceRecord, keys: Readonly<Record<string, KeyObject>>): boolean {
    let changed = false;
    for (const [id, key] of Object.entries(keys)) {
      const algorithm = id.slice(0, id.indexOf(':'));
      const held = device.fallbackKeys.get(algorithm);
      if (held?.keyId === id && JSON.stringify(held.key) === JSON.stringify(key)) continue;
      device.fallbackKeys.set(algorithm, { keyId: id, key, used: false });
      changed = true;
    }
    return changed;
  }

  /** Takes the oldest one-time key of `algorithm`, or undefined when none is left. */
  claimOneTimeKey(device: DeviceRecord, algorithm: string): [string, KeyObject] | undefined {
    for (const [id, key] of device.oneTimeKeys) {
      if (id.startsWith(`${algorithm}:`)) {
        device.oneTimeKeys.delete(id);
        return [id, key];
      }
    }
    return undefined;
  }

  /** The fallback key of `algorithm` (it stays, marked used), or undefined. */
  claimFallbackKey(device: DeviceRecord, algorithm: string): [string, KeyObject] | undefined {
    const fallback = device.fallbackKeys.get(algorithm);
    if (fallback === undefined) return undefined;
    fallback.used = true;
    return [fallback.keyId, fallback.key];
  }

  counts(device: DeviceRecord): DeviceKeyCounts {
    const oneTimeKeyCounts: Record<string, number> = { signed_curve25519: 0 };
    for (const id of device.oneTimeKeys.keys()) {
      const algorithm = id.slice(0, id.indexOf(':'));
      oneTimeKeyCounts[algorithm] = (oneTimeKeyCounts[algorithm] ?? 0) + 1;
    }
    const unusedFallbackKeyTypes = [...device.fallbackKeys]
      .filter(([, fallback]) => !fallback.used)
      .map(([algorithm]) => algorithm);
    return { userId: device.userId, deviceId: device.deviceId, oneTimeKeyCounts, unusedFallbackKeyTypes };
  }
}
