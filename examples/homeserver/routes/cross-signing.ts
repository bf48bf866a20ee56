/**
 * `POST /keys/device_signing/upload`: a user's cross-signing keys. Setting them up the first
 * time, or sending the same keys again, needs no user-interactive auth (MSC3967, as Synapse);
 * replacing them does, except for an AS that manages its users' devices (MSC4190, the plugin's
 * `ctx.state.deviceManagement`). A change is a change of the user's device list.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import type { CrossSigningKeys } from '../device-store.ts';
import { body, cs, requester, type Ctx } from '../http.ts';
import { userInteractiveAuth } from '../uia.ts';

const FIELDS = ['master_key', 'self_signing_key', 'user_signing_key'] as const;

/**
 * @example
 * crossSigningRoutes(router, data);
 */
export function crossSigningRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData): void {
  const paths = [...cs('/keys/device_signing/upload'), '/_matrix/client/unstable/keys/device_signing/upload'];
  router.post(paths, async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    const given: CrossSigningKeys = {};
    for (const field of FIELDS) {
      const key = input[field];
      if (key === undefined || key === null) continue;
      if (typeof key !== 'object' || Array.isArray(key) || (key as { user_id?: unknown }).user_id !== who.userId)
        throw new MatrixError(400, 'M_INVALID_PARAM', `${field} must be a key of ${who.userId}`);
      given[field] = key as Record<string, unknown>;
    }
    const held = data.devices.crossSigning.get(who.userId);
    const differs = FIELDS.some(
      (field) => given[field] !== undefined && JSON.stringify(given[field]) !== JSON.stringify(held?.[field]),
    );
    if (!differs) {
      ctx.body = {};
      return;
    }
    const replacing = held !== undefined && FIELDS.some((field) => held[field] !== undefined);
    if (replacing && !userInteractiveAuth(ctx, data, who, input)) return;
    data.devices.crossSigning.set(who.userId, { ...held, ...given });
    await data.onDeviceListChange({ userId: who.userId, change: 'changed' });
    ctx.body = {};
  });
}
