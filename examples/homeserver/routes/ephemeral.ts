/**
 * What is not in the timeline: typing, receipts and read markers, presence. Each change is handed
 * to `data.onEphemeral` (the homeserver wires it to `as.publishEphemeral`, so ASes with
 * `receive_ephemeral` get it); the fully-read marker is room account data, as the spec says.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData, Room } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

const PRESENCE = new Set(['online', 'offline', 'unavailable']);
const RECEIPT_TYPES = new Set(['m.read', 'm.read.private']);
/** Longest typing notice a client may ask for. */
const MAX_TYPING_MS = 120_000;

/**
 * @example
 * ephemeralRoutes(router, data, new RoomOps(data));
 */
export function ephemeralRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  /** room id → user id → typing until (epoch ms). */
  const typing = new Map<string, Map<string, number>>();
  const presence = new Map<string, { presence: string; status_msg?: string; since: number }>();

  function joinedRoom(ctx: Ctx, userId: string): Room {
    const room = ops.room(param(ctx, 'roomId'));
    if (data.membership(room, userId) !== 'join') throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    return room;
  }

  router.put(cs('/rooms/:roomId/typing/:userId'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    if (param(ctx, 'userId') !== who.userId)
      throw new MatrixError(403, 'M_FORBIDDEN', 'Cannot set typing for another user');
    const room = joinedRoom(ctx, who.userId);
    const input = body(ctx);
    if (typeof input.typing !== 'boolean') throw new MatrixError(400, 'M_BAD_JSON', 'typing must be a boolean');
    const now = Date.now();
    const inRoom = typing.get(room.roomId) ?? new Map<string, number>();
    typing.set(room.roomId, inRoom);
    if (input.typing)
      inRoom.set(who.userId, now + Math.min(typeof input.timeout === 'number' ? input.timeout : 30_000, MAX_TYPING_MS));
    else inRoom.delete(who.userId);
    const userIds = [...inRoom].filter(([, until]) => until > now).map(([userId]) => userId);
    await data.onEphemeral({ type: 'm.typing', room_id: room.roomId, content: { user_ids: userIds } });
    ctx.body = {};
  });

  async function receipt(room: Room, userId: string, type: string, eventId: string, threadId?: string): Promise<void> {
    if (!RECEIPT_TYPES.has(type)) throw new MatrixError(400, 'M_INVALID_PARAM', `Unknown receipt type ${type}`);
    const event = data.events.get(eventId);
    if (event === undefined || event.room_id !== room.roomId)
      throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
    // A private receipt is the user's own business: nobody else, no AS, is told.
    if (type === 'm.read.private') return;
    const entry = { ts: Date.now(), ...(threadId === undefined ? {} : { thread_id: threadId }) };
    await data.onEphemeral({
      type: 'm.receipt',
      room_id: room.roomId,
      content: { [eventId]: { [type]: { [userId]: entry } } },
    });
  }

  router.post(cs('/rooms/:roomId/receipt/:receiptType/:eventId'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = joinedRoom(ctx, who.userId);
    const threadId = body(ctx).thread_id;
    await receipt(
      room,
      who.userId,
      param(ctx, 'receiptType'),
      param(ctx, 'eventId'),
      typeof threadId === 'string' ? threadId : undefined,
    );
    ctx.body = {};
  });

  router.post(cs('/rooms/:roomId/read_markers'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = joinedRoom(ctx, who.userId);
    const input = body(ctx);
    const fullyRead = input['m.fully_read'];
    if (typeof fullyRead === 'string') {
      if (data.events.get(fullyRead)?.room_id !== room.roomId)
        throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
      data.accountData.set(`${who.userId}|${room.roomId}|m.fully_read`, { event_id: fullyRead });
    }
    for (const type of RECEIPT_TYPES) {
      const eventId = input[type];
      if (typeof eventId === 'string') await receipt(room, who.userId, type, eventId);
    }
    ctx.body = {};
  });

  router.get(cs('/presence/:userId/status'), (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    const userId = param(ctx, 'userId');
    if (!data.users.has(userId)) throw new MatrixError(404, 'M_NOT_FOUND', 'Unknown user');
    const state = presence.get(userId);
    if (state === undefined) {
      ctx.body = { presence: 'offline' };
      return;
    }
    const ago = Date.now() - state.since;
    ctx.body = {
      presence: state.presence,
      last_active_ago: ago,
      currently_active: state.presence === 'online',
      ...(state.status_msg === undefined ? {} : { status_msg: state.status_msg }),
    };
  });

  router.put(cs('/presence/:userId/status'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    if (param(ctx, 'userId') !== who.userId)
      throw new MatrixError(403, 'M_FORBIDDEN', 'Cannot set presence for another user');
    const input = body(ctx);
    if (typeof input.presence !== 'string' || !PRESENCE.has(input.presence))
      throw new MatrixError(400, 'M_INVALID_PARAM', 'presence must be online, offline or unavailable');
    const statusMsg = typeof input.status_msg === 'string' ? input.status_msg : undefined;
    presence.set(who.userId, {
      presence: input.presence,
      since: Date.now(),
      ...(statusMsg === undefined ? {} : { status_msg: statusMsg }),
    });
    const content = {
      presence: input.presence,
      last_active_ago: 0,
      currently_active: input.presence === 'online',
      ...(statusMsg === undefined ? {} : { status_msg: statusMsg }),
    };
    await data.onEphemeral({ type: 'm.presence', sender: who.userId, content });
    ctx.body = {};
  });
}
