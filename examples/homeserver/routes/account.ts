/**
 * Accounts: register (dummy auth, and `m.login.application_service` once the plugin's guard has
 * accepted it), login, whoami, deactivate.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { body, cs, requester, type Ctx } from '../http.ts';
import { assertId } from '../limits.ts';
import type { RoomOps } from '../room-ops.ts';

/** Localparts a new regular user may take (the spec's grammar for new ids). */
const NEW_LOCALPART = /^[a-z0-9._=\-/+]+$/;
/** What an AS may create: the historical grammar, so bridges can keep a remote nick's case (`Bob`). */
const HISTORICAL_LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * @example
 * accountRoutes(router, data, new RoomOps(data));
 */
export function accountRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  router.post(cs(`/register`), async (c) => {
    const ctx = c as Ctx;
    const input = body(ctx);
    const asRegister = ctx.state.appserviceRegister;
    if (asRegister !== undefined) {
      // The plugin's guard checked the token and the namespace; the homeserver checks the rest.
      if (!HISTORICAL_LOCALPART.test(asRegister.localpart) || asRegister.userId.length > 255) {
        throw new MatrixError(400, 'M_INVALID_USERNAME', 'Invalid user id');
      }
      if (data.users.has(asRegister.userId)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
      data.createUser(asRegister.userId, { appserviceId: ctx.state.appservice?.id });
      ctx.body = await registered(asRegister.userId, asRegister.inhibitLogin, input);
      return;
    }
    if (ctx.state.appservice !== undefined) {
      throw new MatrixError(
        400,
        'M_MISSING_PARAM',
        'Application services must register with type m.login.application_service',
      );
    }
    if (ctx.query.kind === 'guest') throw new MatrixError(403, 'M_GUEST_ACCESS_FORBIDDEN', 'Guest access is disabled');
    // User-interactive auth with one stage: m.login.dummy (no password check, no captcha).
    const auth = input.auth as { type?: unknown } | undefined;
    if (auth?.type !== 'm.login.dummy') {
      ctx.status = 401;
      ctx.body = { flows: [{ stages: ['m.login.dummy'] }], params: {}, session: data.newId('', 12) };
      return;
    }
    const localpart = typeof input.username === 'string' ? input.username : `user_${data.newId('', 6).toLowerCase()}`;
    if (!NEW_LOCALPART.test(localpart))
      throw new MatrixError(400, 'M_INVALID_USERNAME', 'User ID can only contain a-z, 0-9, ._=-/+');
    const userId = data.userId(localpart);
    if (data.users.has(userId)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
    data.createUser(userId, typeof input.password === 'string' ? { password: input.password } : {});
    ctx.body = await registered(userId, input.inhibit_login === true, input);
  });

  async function registered(
    userId: string,
    inhibitLogin: boolean,
    input: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (inhibitLogin) return { user_id: userId, home_server: data.serverName };
    const session = await login(userId, input);
    return {
      user_id: userId,
      access_token: session.accessToken,
      device_id: session.deviceId,
      home_server: data.serverName,
    };
  }

  /** A session, on a new device unless the client names one of its own; a new device is a device list change. */
  async function login(
    userId: string,
    input: Record<string, unknown>,
  ): Promise<{ accessToken: string; deviceId: string }> {
    const requested = typeof input.device_id === 'string' ? input.device_id : undefined;
    if (requested !== undefined) assertId('device_id', requested);
    const session = data.login(userId, requested);
    if (session.created) await data.onDeviceListChange({ userId, change: 'changed' });
    return session;
  }

  router.get(cs(`/register/available`), (c) => {
    const ctx = c as Ctx;
    const username = typeof ctx.query.username === 'string' ? ctx.query.username : '';
    if (!NEW_LOCALPART.test(username)) throw new MatrixError(400, 'M_INVALID_USERNAME', 'Invalid username');
    if (data.users.has(data.userId(username))) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
    ctx.body = { available: true };
  });

  router.get(cs(`/login`), (ctx) => {
    ctx.body = { flows: [{ type: 'm.login.password' }, { type: 'm.login.application_service' }] };
  });

  router.post(cs(`/login`), async (c) => {
    const ctx = c as Ctx;
    const input = body(ctx);
    let userId: string;
    if (ctx.state.appserviceLogin !== undefined) {
      userId = ctx.state.appserviceLogin.userId;
      if (!data.users.has(userId)) throw new MatrixError(403, 'M_FORBIDDEN', 'Invalid username or password');
    } else if (input.type === 'm.login.password') {
      const identifier = input.identifier as { user?: unknown } | undefined;
      const user = typeof identifier?.user === 'string' ? identifier.user : input.user;
      if (typeof user !== 'string') throw new MatrixError(400, 'M_MISSING_PARAM', 'identifier.user is required');
      userId = user.startsWith('@') ? user : data.userId(user);
      const record = data.users.get(userId);
      if (
        record === undefined ||
        record.deactivated ||
        record.password === undefined ||
        record.password !== input.password
      ) {
        throw new MatrixError(403, 'M_FORBIDDEN', 'Invalid username or password');
      }
    } else {
      throw new MatrixError(400, 'M_UNKNOWN', 'Unknown login type');
    }
    const session = await login(userId, input);
    ctx.body = {
      user_id: userId,
      access_token: session.accessToken,
      device_id: session.deviceId,
      home_server: data.serverName,
    };
  });

  router.get(cs(`/account/whoami`), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    ctx.body = { user_id: who.userId, is_guest: false, ...(who.deviceId === '' ? {} : { device_id: who.deviceId }) };
  });

  router.post(cs(`/account/deactivate`), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    // An AS acts for its users without user-interactive auth; a user confirms with the dummy stage.
    if (who.appserviceId === undefined && (input.auth as { type?: unknown } | undefined)?.type !== 'm.login.dummy') {
      ctx.status = 401;
      ctx.body = { flows: [{ stages: ['m.login.dummy'] }], params: {}, session: data.newId('', 12) };
      return;
    }
    const user = data.users.get(who.userId);
    if (user === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown user');
    user.deactivated = true;
    data.logoutAll(who.userId);
    for (const room of data.rooms.values()) {
      const current = data.membership(room, who.userId);
      if (current === 'join' || current === 'invite' || current === 'knock')
        await ops.leave(room, who.userId, who.userId);
    }
    ctx.body = { id_server_unbind_result: 'no-support' };
  });
}
