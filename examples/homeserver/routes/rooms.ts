/**
 * Rooms: createRoom, join/knock/invite/leave, send and state (with an AS's massaged `ts`), and
 * reading back through state and /messages.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import { clientEvent, type HomeserverData, type Room } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * roomRoutes(router, data, new RoomOps(data));
 */
export function roomRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData, ops: RoomOps): void {
  /** Client transaction ids: a retried send returns the first event instead of a duplicate. */
  const sent = new Map<string, string>();

  router.post(cs('/createRoom'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    let alias: string | undefined;
    if (input.room_alias_name !== undefined) {
      const name = input.room_alias_name;
      if (typeof name !== 'string' || name === '' || /[:\s]/.test(name)) throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid room_alias_name');
      alias = `#${name}:${data.serverName}`;
      if (data.aliases.has(alias)) throw new MatrixError(400, 'M_ROOM_IN_USE', 'Room alias already taken');
    }
    const invite = Array.isArray(input.invite) ? input.invite.filter((u): u is string => typeof u === 'string') : [];
    for (const userId of invite) {
      if (data.isLocal(userId) && !data.users.has(userId)) throw new MatrixError(404, 'M_NOT_FOUND', `Unknown user ${userId}`);
    }
    const room = await ops.createRoom(who.userId, {
      preset: input.preset as 'public_chat' | undefined,
      visibility: input.visibility === 'public' ? 'public' : 'private',
      name: typeof input.name === 'string' ? input.name : undefined,
      topic: typeof input.topic === 'string' ? input.topic : undefined,
      alias,
      invite,
      initialState: Array.isArray(input.initial_state) ? (input.initial_state as never[]) : [],
      ts: ctx.state.ts,
    });
    ctx.body = { room_id: room.roomId, ...(alias === undefined ? {} : { room_alias: alias }) };
  });

  /** A room id, or an alias the plugin already gave its AS the chance to create. */
  function resolve(idOrAlias: string): Room {
    if (idOrAlias.startsWith('#')) {
      const entry = data.aliases.get(idOrAlias);
      if (entry === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
      return ops.room(entry.roomId);
    }
    return ops.room(idOrAlias);
  }

  router.post([...cs('/join/:roomIdOrAlias'), ...cs('/rooms/:roomIdOrAlias/join')], async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = resolve(param(ctx, 'roomIdOrAlias'));
    await ops.join(room, who.userId, ctx.state.ts);
    ctx.body = { room_id: room.roomId };
  });

  router.post(cs('/knock/:roomIdOrAlias'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = resolve(param(ctx, 'roomIdOrAlias'));
    const reason = body(ctx).reason;
    await ops.knock(room, who.userId, typeof reason === 'string' ? reason : undefined);
    ctx.body = { room_id: room.roomId };
  });

  router.post(cs('/rooms/:roomId/invite'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const target = body(ctx).user_id;
    if (typeof target !== 'string' || !target.startsWith('@')) throw new MatrixError(400, 'M_INVALID_PARAM', 'user_id is required');
    await ops.invite(ops.room(param(ctx, 'roomId')), who.userId, target, ctx.state.ts);
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/leave'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    await ops.leave(ops.room(param(ctx, 'roomId')), who.userId, who.userId, ctx.state.ts);
    ctx.body = {};
  });

  // POST without a txnId is the original API, still sent by sytest and old bridges.
  router.put(cs('/rooms/:roomId/send/:type/:txnId'), send);
  router.post(cs('/rooms/:roomId/send/:type'), send);

  async function send(c: unknown): Promise<void> {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const txnKey = ctx.params.txnId === undefined ? undefined : `${who.userId}|${who.deviceId}|${who.appserviceId ?? ''}|${ctx.params.txnId}`;
    const seen = txnKey === undefined ? undefined : sent.get(txnKey);
    if (seen !== undefined) {
      ctx.body = { event_id: seen };
      return;
    }
    const event = await ops.send(ops.room(param(ctx, 'roomId')), who.userId, param(ctx, 'type'), body(ctx), { ts: ctx.state.ts });
    if (txnKey !== undefined) sent.set(txnKey, event.event_id);
    ctx.body = { event_id: event.event_id };
  }

  router.put([...cs('/rooms/:roomId/state/:type'), ...cs('/rooms/:roomId/state/:type/:stateKey')], async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    const event = await ops.send(room, who.userId, param(ctx, 'type'), body(ctx), { stateKey: ctx.params.stateKey ?? '', ts: ctx.state.ts });
    ctx.body = { event_id: event.event_id };
  });

  /** Readers must be in the room now, or have been (they keep what they saw). */
  function readable(ctx: Ctx): Room {
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    const membership = data.membership(room, who.userId);
    if (membership !== 'join' && membership !== 'leave') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    return room;
  }

  router.get([...cs('/rooms/:roomId/state/:type'), ...cs('/rooms/:roomId/state/:type/:stateKey')], (c) => {
    const ctx = c as Ctx;
    const event = data.stateEvent(readable(ctx), param(ctx, 'type'), ctx.params.stateKey ?? '');
    if (event === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
    ctx.body = event.content;
  });

  router.get(cs('/rooms/:roomId/state'), (c) => {
    const ctx = c as Ctx;
    ctx.body = [...readable(ctx).state.values()].map(clientEvent);
  });

  router.get(cs('/rooms/:roomId/joined_members'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const joined: Record<string, unknown> = {};
    for (const userId of data.joinedMembers(room)) {
      const user = data.users.get(userId);
      joined[userId] = { display_name: user?.displayname ?? null, avatar_url: user?.avatar_url ?? null };
    }
    ctx.body = { joined };
  });

  // Pagination tokens are positions in the room's timeline: `t<index>`.
  router.get(cs('/rooms/:roomId/messages'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const dir = ctx.query.dir === 'f' ? 'f' : 'b';
    const limit = Math.min(Math.max(Number(ctx.query.limit ?? 10) || 10, 1), 1000);
    const from = typeof ctx.query.from === 'string' && /^t\d+$/.test(ctx.query.from) ? Number(ctx.query.from.slice(1)) : undefined;
    const timeline = room.timeline;
    let chunk;
    let end: number;
    if (dir === 'b') {
      const start = Math.min(from ?? timeline.length, timeline.length);
      end = Math.max(0, start - limit);
      chunk = timeline.slice(end, start).reverse();
    } else {
      const start = from ?? 0;
      end = Math.min(timeline.length, start + limit);
      chunk = timeline.slice(start, end);
    }
    ctx.body = {
      chunk: chunk.map(clientEvent),
      start: `t${from ?? (dir === 'b' ? timeline.length : 0)}`,
      ...(chunk.length === 0 ? {} : { end: `t${end}` }),
    };
  });
}
