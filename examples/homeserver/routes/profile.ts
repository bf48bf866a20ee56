/**
 * Profiles: displayname and avatar_url, read by anyone, set by their owner (an AS for its ghosts).
 * A change is also written to the member event of every joined room, as Synapse does, so room
 * members see the new name.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * profileRoutes(router, data, new RoomOps(data));
 */
export function profileRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  function profileOf(userId: string) {
    const user = data.users.get(userId);
    if (user === undefined || user.deactivated) throw new MatrixError(404, 'M_NOT_FOUND', 'Profile was not found');
    return user;
  }

  router.get(cs(`/profile/:userId`), (c) => {
    const ctx = c as Ctx;
    const user = profileOf(param(ctx, 'userId'));
    ctx.body = {
      ...(user.displayname === undefined ? {} : { displayname: user.displayname }),
      ...(user.avatar_url === undefined ? {} : { avatar_url: user.avatar_url }),
    };
  });

  for (const field of ['displayname', 'avatar_url'] as const) {
    router.get(cs(`/profile/:userId/${field}`), (c) => {
      const ctx = c as Ctx;
      const value = profileOf(param(ctx, 'userId'))[field];
      if (value === undefined) throw new MatrixError(404, 'M_NOT_FOUND', `No ${field} set`);
      ctx.body = { [field]: value };
    });

    router.put(cs(`/profile/:userId/${field}`), async (c) => {
      const ctx = c as Ctx;
      const who = requester(ctx, data);
      const target = param(ctx, 'userId');
      if (who.userId !== target) throw new MatrixError(403, 'M_FORBIDDEN', "Cannot set another user's profile");
      const value = body(ctx)[field];
      if (typeof value !== 'string' && value !== null && value !== undefined)
        throw new MatrixError(400, 'M_BAD_JSON', `${field} must be a string`);
      if (typeof value === 'string' && Buffer.byteLength(value) > 1024)
        throw new MatrixError(400, 'M_TOO_LARGE', `${field} is longer than 1024 bytes`);
      const user = profileOf(target);
      if (typeof value === 'string') user[field] = value;
      else delete user[field];
      for (const room of data.rooms.values()) {
        if (data.membership(room, target) !== 'join') continue;
        const { displayname: _d, avatar_url: _a, ...rest } = data.stateEvent(room, 'm.room.member', target)!.content;
        await ops.join(room, target, { content: rest, ts: ctx.state.ts });
      }
      ctx.body = {};
    });
  }
}
