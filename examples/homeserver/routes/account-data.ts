/**
 * Account data, global and per room, which bridges use to remember things about rooms and users
 * (bot-sdk's `getRoomAccountData`, mautrix's `SetRoomAccountData`). Only the owner reads or writes it.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import { MAX_EVENT_BYTES } from '../limits.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * accountDataRoutes(router, data, new RoomOps(data));
 */
export function accountDataRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  /** The storage key, after checking the requester owns it (and the room exists). */
  function key(ctx: Ctx): string {
    const who = requester(ctx, data);
    if (param(ctx, 'userId') !== who.userId)
      throw new MatrixError(403, 'M_FORBIDDEN', "Cannot access another user's account data");
    const roomId = ctx.params.roomId === undefined ? '' : ops.room(ctx.params.roomId).roomId;
    const type = param(ctx, 'type');
    // The server manages these two; clients set them through their own endpoints.
    if (ctx.method === 'PUT' && (type === 'm.fully_read' || type === 'm.push_rules'))
      throw new MatrixError(405, 'M_BAD_JSON', `Cannot set ${type} through this API`);
    return `${who.userId}|${roomId}|${type}`;
  }

  const paths = [...cs('/user/:userId/account_data/:type'), ...cs('/user/:userId/rooms/:roomId/account_data/:type')];

  router.get(paths, (c) => {
    const ctx = c as Ctx;
    const content = data.accountData.get(key(ctx));
    if (content === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Account data not found');
    ctx.body = content;
  });

  router.put(paths, (c) => {
    const ctx = c as Ctx;
    const k = key(ctx);
    const content = body(ctx);
    if (Buffer.byteLength(JSON.stringify(content)) > MAX_EVENT_BYTES)
      throw new MatrixError(413, 'M_TOO_LARGE', 'Account data is limited to 64 KiB like an event');
    data.accountData.set(k, content);
    ctx.body = {};
  });
}
