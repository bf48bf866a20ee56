/**
 * MSC4190, device management for application services: an AS that opts in
 * (`io.element.msc4190: true`) creates its users' devices with `PUT /devices/{deviceId}` and
 * deletes them (`DELETE /devices/{deviceId}`, `POST /delete_devices`) and replaces their
 * cross-signing keys (`POST /keys/device_signing/upload`) without user-interactive auth, because
 * it logs none of them in (`m.login.application_service` is refused it, login-policy.ts).
 *
 * The plugin decides, the host performs: devices live in the homeserver's database, so on those
 * routes the plugin only sets `ctx.state.deviceManagement = true` for such an AS, and the host's
 * own routes read it (create the device on `PUT`, skip user-interactive auth on the others).
 * Everyone else gets nothing set, and the host's normal rules apply.
 *
 * Off unless the homeserver turns it on (`experimentalFeatures.msc4190`, like Synapse's opt-in
 * to the unstable MSC). A homeserver without legacy login (`legacyLogin: false`) treats every AS
 * as having the flag, as the MSC requires of servers that switched to OAuth: such an AS has no
 * other way to get a device.
 */
import type { Context } from 'koa';
import type { Logger } from '../logger.ts';
import type { Registration } from '../registration/registration.ts';
import type { PluginMiddleware } from './error-response.ts';
import { routeOf } from './route-table.ts';
import type { AppserviceState } from './state.ts';

/** The homeserver's side of the decision. */
export interface DeviceManagementSettings {
  /** `experimentalFeatures.msc4190`. */
  readonly enabled: boolean;
  /** False on a homeserver without the Legacy authentication API: every AS manages its devices. */
  readonly legacyLogin: boolean;
}

/**
 * Whether `registration` manages its users' devices on this homeserver.
 *
 * @example
 * managesDevices(bridge, { enabled: true, legacyLogin: true }); // bridge.msc4190
 */
export function managesDevices(registration: Registration, settings: DeviceManagementSettings): boolean {
  return settings.enabled && (registration.msc4190 || !settings.legacyLogin);
}

/**
 * Whether the request is `PUT /devices/{deviceId}` by an AS that manages devices, naming the same
 * device it asserts (`device_id`): that device is about to be created, so identity assertion must
 * not refuse it for being unknown.
 *
 * @example
 * if (createsAssertedDevice(ctx, appservice, deviceId, settings)) state.deviceId = deviceId;
 */
export function createsAssertedDevice(
  ctx: Context,
  registration: Registration,
  deviceId: string,
  settings: DeviceManagementSettings,
): boolean {
  const route = routeOf(ctx);
  return (
    route?.name === 'device' &&
    ctx.method === 'PUT' &&
    route.params.deviceId === deviceId &&
    managesDevices(registration, settings)
  );
}

/**
 * The chain's part on the device routes (device-routes.ts): marks the request of an AS that
 * manages devices. Runs after auth, so `ctx.state.userId` is the user the AS acts as.
 *
 * @example
 * const part = deviceManagementMiddleware({ enabled: true, legacyLogin: true });
 */
export function deviceManagementMiddleware(settings: DeviceManagementSettings): PluginMiddleware {
  return (ctx, next) => {
    const state = ctx.state as AppserviceState;
    if (state.appservice !== undefined && managesDevices(state.appservice, settings)) state.deviceManagement = true;
    return next();
  };
}

/**
 * Says once at start when a registration asks for MSC4190 and the homeserver has not turned it
 * on: that AS is refused `m.login.application_service` (login-policy.ts) and, without device
 * management, cannot get a device any other way.
 *
 * @example
 * noticeDeviceManagementOff(registrations, experimental.msc4190, logger);
 */
export function noticeDeviceManagementOff(
  registrations: readonly Registration[],
  enabled: boolean,
  logger: Pick<Logger, 'info'>,
): void {
  if (enabled) return;
  const asking = registrations.filter((r) => r.msc4190).map((r) => r.id);
  if (asking.length === 0) return;
  logger.info(
    { feature: 'MSC4190 device management', option: 'experimentalFeatures.msc4190', appservices: asking },
    "koa-appservice: feature off: these appservices set io.element.msc4190 but cannot create or delete their users' devices without user-interactive auth; set experimentalFeatures.msc4190 to turn it on",
  );
}
