/**
 * Devices: list, read, rename, delete. An AS that manages its users' devices (MSC4190; the plugin
 * sets `ctx.state.deviceManagement`) creates a device with `PUT /devices/{deviceId}` (201) and
 * deletes without user-interactive auth; everyone else confirms deletions (uia.ts) and can only
 * rename devices that exist. Every device added or removed changes the user's device list.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import type { DeviceRecord } from '../device-store.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import { assertId } from '../limits.ts';
import { userInteractiveAuth } from '../uia.ts';

/** Every spelling of a device route the plugin's route table knows (MSC4190 bridges may use any). */
function devicePaths(path: string): string[] {
  return [...cs(path), `/_matrix/client/unstable${path}`];
}

function deviceJson(device: DeviceRecord): Record<string, unknown> {
  return {
    device_id: device.deviceId,
    ...(device.displayName === undefined ? {} : { display_name: device.displayName }),
  };
}

function displayName(input: Readonly<Record<string, unknown>>): string | undefined {
  const name = input.display_name;
  if (name === undefined || name === null) return undefined;
  if (typeof name !== 'string' || name.length > 1_000)
    throw new MatrixError(400, 'M_INVALID_PARAM', 'display_name must be a string of at most 1000 characters');
  return name;
}

/**
 * @example
 * deviceRoutes(router, data);
 */
export function deviceRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData): void {
  router.get(devicePaths('/devices'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    ctx.body = { devices: data.devices.list(who.userId).map(deviceJson) };
  });

  router.get(devicePaths('/devices/:deviceId'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const device = data.devices.get(who.userId, param(ctx, 'deviceId'));
    if (device === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'No device found');
    ctx.body = deviceJson(device);
  });

  router.put(devicePaths('/devices/:deviceId'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const deviceId = param(ctx, 'deviceId');
    const name = displayName(body(ctx));
    const existing = data.devices.get(who.userId, deviceId);
    if (existing !== undefined) {
      if (name !== undefined) existing.displayName = name;
      ctx.body = {};
      return;
    }
    if (ctx.state.deviceManagement !== true) throw new MatrixError(404, 'M_NOT_FOUND', 'No device found');
    assertId('device_id', deviceId);
    data.devices.create(who.userId, deviceId, name);
    await data.onDeviceListChange({ userId: who.userId, change: 'changed' });
    ctx.status = 201;
    ctx.body = {};
  });

  router.delete(devicePaths('/devices/:deviceId'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    if (!userInteractiveAuth(ctx, data, who, body(ctx))) return;
    await deleteDevices(who.userId, [param(ctx, 'deviceId')]);
    ctx.body = {};
  });

  router.post(devicePaths('/delete_devices'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    const devices = input.devices;
    if (!Array.isArray(devices) || !devices.every((id): id is string => typeof id === 'string'))
      throw new MatrixError(400, 'M_BAD_JSON', 'devices must be a list of device ids');
    if (!userInteractiveAuth(ctx, data, who, input)) return;
    await deleteDevices(who.userId, devices);
    ctx.body = {};
  });

  /** Deleting a device the user does not have is no error (Synapse answers 200 too). */
  async function deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    let deleted = false;
    for (const deviceId of deviceIds) if (data.deleteDevice(userId, deviceId)) deleted = true;
    if (deleted) await data.onDeviceListChange({ userId, change: 'changed' });
  }
}
