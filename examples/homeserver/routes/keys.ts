/**
 * End-to-end keys: `/keys/upload`, `/keys/query`, `/keys/claim`. The homeserver answers from its
 * own store first; for users in an AS's exclusive namespace it asks that AS through the plugin
 * (MSC3984 `as.queryKeys`, merged with `mergeKeyQuery`; MSC3983 `as.claimKeys` when it has no
 * one-time key left), and a device's fallback key is the last resort of a claim. Every change to
 * a device's keys is reported for MSC3202: its counts, and its user's device list when the device
 * keys themselves change.
 */
import type Router from '@koa/router';
import {
  MatrixError,
  mergeKeyQuery,
  type AppserviceContext,
  type AppserviceState,
  type KeyProxyApi,
  type KeysQueryAnswer,
} from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import type { DeviceRecord, KeyObject } from '../device-store.ts';
import { body, cs, requester, type Ctx } from '../http.ts';
import { assertId, MAX_KEY_REQUEST_ENTRIES } from '../limits.ts';

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ "algorithm:keyId": key }` from an upload, checked; undefined when absent. */
function keyMap(input: JsonRecord, field: string): Record<string, KeyObject> | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new MatrixError(400, 'M_BAD_JSON', `${field} must be an object`);
  for (const [id, key] of Object.entries(value)) {
    assertId(`${field} key id`, id);
    if (id.indexOf(':') < 1 || (typeof key !== 'string' && !isRecord(key)))
      throw new MatrixError(400, 'M_BAD_JSON', `${field}: "${id}" must be algorithm:key_id with a key`);
  }
  return value as Record<string, KeyObject>;
}

/**
 * The request's `timeout` ("the time to wait when downloading keys from remote servers"), which
 * here bounds the question to an AS; the plugin's query deadline otherwise.
 */
function askOptions(input: JsonRecord): { deadlineMs?: number } {
  const timeout = input.timeout;
  return typeof timeout === 'number' && Number.isFinite(timeout) && timeout >= 0
    ? { deadlineMs: Math.min(timeout, 60_000) }
    : {};
}

/** Caps the entries of a query or claim (each may cost a question to an AS). */
function countEntries(entries: number): void {
  if (entries > MAX_KEY_REQUEST_ENTRIES)
    throw new MatrixError(413, 'M_TOO_LARGE', `At most ${MAX_KEY_REQUEST_ENTRIES} entries per request`);
}

/**
 * @example
 * keyRoutes(router, data, as);
 */
export function keyRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  proxy: KeyProxyApi,
): void {
  router.post(cs('/keys/upload'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    if (who.deviceId === '')
      throw new MatrixError(
        400,
        'M_MISSING_PARAM',
        'Keys belong to a device: an application service names it (device_id)',
      );
    const device = data.devices.get(who.userId, who.deviceId);
    if (device === undefined) throw new MatrixError(400, 'M_UNKNOWN_DEVICE', 'Unknown device');
    const input = body(ctx);
    const deviceKeys = input.device_keys;
    let listChanged = false;
    if (deviceKeys !== undefined && deviceKeys !== null) {
      if (!isRecord(deviceKeys) || deviceKeys.user_id !== who.userId || deviceKeys.device_id !== who.deviceId)
        throw new MatrixError(400, 'M_INVALID_PARAM', 'device_keys must be the keys of the device uploading them');
      listChanged = JSON.stringify(device.keys) !== JSON.stringify(deviceKeys);
      device.keys = deviceKeys;
    }
    const oneTimeKeys = keyMap(input, 'one_time_keys');
    const fallbackKeys = keyMap(input, 'fallback_keys') ?? keyMap(input, 'org.matrix.msc2732.fallback_keys');
    const added = oneTimeKeys !== undefined && data.devices.addOneTimeKeys(device, oneTimeKeys);
    const replaced = fallbackKeys !== undefined && data.devices.setFallbackKeys(device, fallbackKeys);
    if (listChanged) await data.onDeviceListChange({ userId: who.userId, change: 'changed' });
    const counts = data.devices.counts(device);
    if (added || replaced) await data.onKeyCounts(counts);
    ctx.body = { one_time_key_counts: counts.oneTimeKeyCounts };
  });

  router.post(cs('/keys/query'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    const wanted = input.device_keys;
    if (!isRecord(wanted)) throw new MatrixError(400, 'M_BAD_JSON', 'device_keys must be an object');
    countEntries(Object.keys(wanted).length);
    const request: Record<string, string[]> = {};
    const answer: Required<Pick<KeysQueryAnswer, 'device_keys' | 'master_keys' | 'self_signing_keys'>> &
      KeysQueryAnswer = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
    for (const [userId, deviceIds] of Object.entries(wanted)) {
      if (!Array.isArray(deviceIds) || !deviceIds.every((id): id is string => typeof id === 'string'))
        throw new MatrixError(400, 'M_BAD_JSON', `device_keys.${userId} must be a list of device ids`);
      request[userId] = deviceIds;
      const devices =
        deviceIds.length === 0
          ? data.devices.list(userId)
          : deviceIds.flatMap((id) => data.devices.get(userId, id) ?? []);
      const found: JsonRecord = (answer.device_keys[userId] = {});
      for (const device of devices) if (device.keys !== undefined) found[device.deviceId] = publicKeys(device);
      const crossSigning = data.devices.crossSigning.get(userId);
      if (crossSigning?.master_key) answer.master_keys[userId] = crossSigning.master_key;
      if (crossSigning?.self_signing_key) answer.self_signing_keys[userId] = crossSigning.self_signing_key;
      // Only its owner sees a user-signing key (client-server API, "Cross-signing").
      if (crossSigning?.user_signing_key && userId === who.userId)
        (answer.user_signing_keys ??= {})[userId] = crossSigning.user_signing_key;
    }
    const fromAppservices = await proxy.queryKeys(request, askOptions(input));
    ctx.body = { ...mergeKeyQuery(answer, fromAppservices), failures: {} };
  });

  router.post(cs('/keys/claim'), async (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    const input = body(ctx);
    const wanted = input.one_time_keys;
    if (!isRecord(wanted)) throw new MatrixError(400, 'M_BAD_JSON', 'one_time_keys must be an object');
    const claimed: Record<string, Record<string, JsonRecord>> = {};
    const take = (userId: string, deviceId: string, [id, key]: [string, unknown]) =>
      (((claimed[userId] ??= {})[deviceId] ??= {})[id] = key);
    const missing: Record<string, Record<string, string>> = {};
    const changed = new Set<DeviceRecord>();
    let entries = 0;
    for (const [userId, devices] of Object.entries(wanted)) {
      if (!isRecord(devices)) throw new MatrixError(400, 'M_BAD_JSON', `one_time_keys.${userId} must be an object`);
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        countEntries(++entries);
        if (typeof algorithm !== 'string')
          throw new MatrixError(400, 'M_BAD_JSON', `one_time_keys.${userId}.${deviceId} must be an algorithm`);
        const device = data.devices.get(userId, deviceId);
        const own = device === undefined ? undefined : data.devices.claimOneTimeKey(device, algorithm);
        if (own === undefined) (missing[userId] ??= {})[deviceId] = algorithm;
        else {
          take(userId, deviceId, own);
          changed.add(device!);
        }
      }
    }
    // MSC3983: an AS may hold one-time keys for its users' devices that the homeserver ran out of.
    const fromAppservices =
      Object.keys(missing).length === 0 ? undefined : await proxy.claimKeys(missing, askOptions(input));
    for (const [userId, devices] of Object.entries(fromAppservices?.oneTimeKeys ?? {}))
      for (const [deviceId, keys] of Object.entries(devices))
        Object.assign(((claimed[userId] ??= {})[deviceId] ??= {}), keys);
    for (const [userId, devices] of Object.entries(fromAppservices?.missing ?? {})) {
      for (const [deviceId, algorithms] of Object.entries(devices)) {
        const device = data.devices.get(userId, deviceId);
        const algorithm = algorithms[0];
        if (device === undefined || algorithm === undefined) continue;
        const wasUnused = device.fallbackKeys.get(algorithm)?.used === false;
        const fallback = data.devices.claimFallbackKey(device, algorithm);
        if (fallback !== undefined) take(userId, deviceId, fallback);
        if (wasUnused) changed.add(device);
      }
    }
    for (const device of changed) await data.onKeyCounts(data.devices.counts(device));
    ctx.body = { one_time_keys: claimed, failures: {} };
  });
}

/** A device's keys as others see them, with its display name as the spec's `unsigned` carries it. */
function publicKeys(device: DeviceRecord): JsonRecord {
  const keys = device.keys ?? {};
  if (device.displayName === undefined) return { ...keys };
  return {
    ...keys,
    unsigned: { ...(keys.unsigned as JsonRecord | undefined), device_display_name: device.displayName },
  };
}
