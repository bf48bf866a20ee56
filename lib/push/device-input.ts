/**
 * What the homeserver reports for MSC3202 (`publishDeviceListUpdate`, `publishKeyCounts`), and
 * the checks that keep a malformed report out of the durable queues. A bad report is refused
 * with an InvalidEventError naming the field, as a bad event or to-device message is, before
 * anything is queued.
 */
import { InvalidEventError } from '../errors.ts';
import type { DeviceListItem, KeyCountsItem } from './device-body.ts';

/**
 * A user's device list changed (a device added or removed, its keys changed): `change: 'changed'`.
 * Or a user stopped sharing a room: `change: 'left'` with the room they left as `roomId`.
 */
export interface DeviceListUpdate {
  readonly userId: string;
  readonly change: 'changed' | 'left';
  /** `'left'`: the room the user left (required). `'changed'`: an optional hint, not used. */
  readonly roomId?: string;
}

/** A device's one-time key counts and unused fallback key types, as they are now. */
export interface DeviceKeyCounts {
  readonly userId: string;
  readonly deviceId: string;
  /** By algorithm, e.g. `{ signed_curve25519: 50 }`. */
  readonly oneTimeKeyCounts: Readonly<Record<string, number>>;
  /** e.g. `['signed_curve25519']`; `[]` once the fallback key was used. */
  readonly unusedFallbackKeyTypes: readonly string[];
}

function fail(what: string, field: string, reason: string): never {
  throw new InvalidEventError(`${what}.${field}: ${reason}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireId(what: string, obj: Record<string, unknown>, field: string, sigil: '@' | '!'): string {
  const value = obj[field];
  // An id without its sigil or server part would be matched against namespaces wrongly.
  if (typeof value !== 'string' || !value.startsWith(sigil) || value.indexOf(':') < 2)
    fail(what, field, `must look like ${sigil}local:server, got ${describe(value)}`);
  return value;
}

/**
 * Checks a device list update and returns the JSON to queue for it.
 *
 * @example
 * deviceListJson({ userId: '@alice:hs', change: 'left', roomId: '!r:hs' }); // '{"user_id":"@alice:hs","change":"left"}'
 */
export function deviceListJson(value: unknown): string {
  const what = 'deviceListUpdate';
  if (!isObject(value)) throw new InvalidEventError(`${what}: must be an object, got ${describe(value)}`);
  const userId = requireId(what, value, 'userId', '@');
  const change = value.change;
  if (change !== 'changed' && change !== 'left')
    fail(what, 'change', `must be 'changed' or 'left', got ${describe(change)}`);
  if (change === 'left') requireId(what, value, 'roomId', '!');
  else if (value.roomId !== undefined) requireId(what, value, 'roomId', '!');
  const item: DeviceListItem = { user_id: userId, change };
  return JSON.stringify(item);
}

/**
 * Checks a device's key counts and returns the JSON to queue for them.
 *
 * @example
 * keyCountsJson({ userId: '@irc_bob:hs', deviceId: 'D', oneTimeKeyCounts: { signed_curve25519: 50 }, unusedFallbackKeyTypes: [] });
 */
export function keyCountsJson(value: unknown): string {
  const what = 'keyCounts';
  if (!isObject(value)) throw new InvalidEventError(`${what}: must be an object, got ${describe(value)}`);
  const userId = requireId(what, value, 'userId', '@');
  const deviceId = value.deviceId;
  if (typeof deviceId !== 'string' || deviceId === '')
    fail(what, 'deviceId', `must be a non-empty string, got ${describe(deviceId)}`);
  const counts = value.oneTimeKeyCounts;
  if (!isObject(counts)) fail(what, 'oneTimeKeyCounts', `must be an object, got ${describe(counts)}`);
  const oneTimeKeys: Record<string, number> = {};
  for (const [algorithm, n] of Object.entries(counts)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      fail(what, `oneTimeKeyCounts.${algorithm}`, `must be a non-negative integer, got ${describe(n)}`);
    Object.defineProperty(oneTimeKeys, algorithm, { value: n, enumerable: true, writable: true, configurable: true });
  }
  const types = value.unusedFallbackKeyTypes;
  if (!Array.isArray(types) || !(types as unknown[]).every((t) => typeof t === 'string' && t !== ''))
    fail(what, 'unusedFallbackKeyTypes', `must be an array of non-empty strings, got ${describe(types)}`);
  const item: KeyCountsItem = {
    user_id: userId,
    device_id: deviceId,
    one_time_keys_count: oneTimeKeys,
    unused_fallback_key_types: types as string[],
  };
  return JSON.stringify(item);
}
