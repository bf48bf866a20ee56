/**
 * Membership: join (by id or alias), knock, invite, leave, kick, ban, unban, forget, and the two
 * member lists bridges read (`joined_members`, `members`). Joins and invites by alias or of unknown
 * users reach here only after the plugin asked the AS that owns the name.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import { clientEvent, type HomeserverData, type Room } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * membershipRoutes(router, data, new RoomOps(data));
 */
export function membershipRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  /** A room id, or an alias the plugin already gave its AS the chance to create. */
  function resolve(idOrAlias: string): Room {
    if (idOrAlias.startsWith('#')) {
      const entry = data.aliases.get(idOrAlias);
      if (entry === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
      return ops.room(entry.roomId);
    }
    return ops.room(idOrAlias);
  }

  const reasonOf = (input: Record<string, unknown>) => (typeof input.reason === 'string' ? input.reason : undefined);

  router.post([...cs('/join/:roomIdOrAlias'), ...cs('/rooms/:roomIdOrAlias/join')], async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = resolve(param(ctx, 'roomIdOrAlias'));
    await ops.join(room, who.userId, { ts: ctx.state.ts, reason: reasonOf(body(ctx)) });
    ctx.body = { room_id: room.roomId };
  });

  router.post(cs('/knock/:roomIdOrAlias'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = resolve(param(ctx, 'roomIdOrAlias'));
    await ops.knock(room, who.userId, { reason: reasonOf(body(ctx)) });
    ctx.body = { room_id: room.roomId };
  });

  /** The target of invite, kick, ban and unban: `user_id` in the body. */
  function target(input: Record<string, unknown>): string {
    const userId = input.user_id;
    if (typeof userId !== 'string' || !/^@[^:]+:.+$/.test(userId))
      throw new MatrixError(400, 'M_INVALID_PARAM', 'user_id must be a user id');
    return userId;
  }

  router.post(cs('/rooms/:roomId/invite'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    await ops.invite(ops.room(param(ctx, 'roomId')), who.userId, target(input), {
      ts: ctx.state.ts,
      reason: reasonOf(input),
    });
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/leave'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    await ops.leave(ops.room(param(ctx, 'roomId')), who.userId, who.userId, {
      ts: ctx.state.ts,
      reason: reasonOf(body(ctx)),
    });
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/kick'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    const room = ops.room(param(ctx, 'roomId'));
    const userId = target(input);
    if (data.membership(room, userId) === 'ban')
      throw new MatrixError(403, 'M_FORBIDDEN', `${userId} is banned; unban instead`);
    await ops.leave(room, who.userId, userId, { ts: ctx.state.ts, reason: reasonOf(input) });
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/ban'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    await ops.ban(ops.room(param(ctx, 'roomId')), who.userId, target(input), {
      ts: ctx.state.ts,
      reason: reasonOf(input),
    });
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/unban'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    const room = ops.room(param(ctx, 'roomId'));
    const userId = target(input);
    if (data.membership(room, userId) !== 'ban') throw new MatrixError(403, 'M_FORBIDDEN', `${userId} is not banned`);
    await ops.leave(room, who.userId, userId, { ts: ctx.state.ts, reason: reasonOf(input) });
    ctx.body = {};
  });

  // Nothing to forget in memory beyond what /sync already hides; answered so bridges can clean up.
  router.post(cs('/rooms/:roomId/forget'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const membership = data.membership(ops.room(param(ctx, 'roomId')), who.userId);
    if (membership === 'join' || membership === 'invite')
      throw new MatrixError(400, 'M_UNKNOWN', 'Leave the room before forgetting it');
    ctx.body = {};
  });

  router.get(cs('/joined_rooms'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    ctx.body = {
      joined_rooms: [...data.rooms.values()]
        .filter((room) => data.membership(room, who.userId) === 'join')
        .map((room) => room.roomId),
    };
  });

  const readable = (ctx: Ctx) => ops.readable(param(ctx, 'roomId'), requester(ctx, data).userId);

  router.get(cs('/rooms/:roomId/joined_members'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const joined: Record<string, unknown> = {};
    for (const userId of data.joinedMembers(room)) {
      const content = data.stateEvent(room, 'm.room.member', userId)!.content;
      joined[userId] = { display_name: content.displayname ?? null, avatar_url: content.avatar_url ?? null };
    }
    ctx.body = { joined };
  });

  router.get(cs('/rooms/:roomId/members'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const only = typeof ctx.query.membership === 'string' ? ctx.query.membership : undefined;
    const not = typeof ctx.query.not_membership === 'string' ? ctx.query.not_membership : undefined;
    const chunk = [...room.state.values()].filter(
      (e) =>
        e.type === 'm.room.member' &&
        (only === undefined || e.content.membership === only) &&
        (not === undefined || e.content.membership !== not),
    );
    ctx.body = { chunk: chunk.map(clientEvent) };
  });
}
