/**
 * The timeline: send (idempotent per client transaction id, with an AS's massaged `ts`), redact,
 * one event, `/messages` both ways, and `/context` around an event.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import { clientEvent, type HomeserverData, type Room, type RoomEvent } from '../data.ts';
import { body, cs, param, requester, type Ctx, type Requester } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/** Client transaction ids remembered, oldest forgotten first: a bound on memory, not on correctness of recent retries. */
const MAX_REMEMBERED_TXNS = 100_000;

/**
 * @example
 * messageRoutes(router, data, new RoomOps(data));
 */
export function messageRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  /** Client transaction ids: a retried send returns the first event instead of a duplicate. */
  const sent = new Map<string, string>();

  /** Runs `create` once per (requester, txnId); a retry gets the first event id back. */
  async function once(
    who: Requester,
    txnId: string | undefined,
    create: () => Promise<RoomEvent>,
  ): Promise<{ event_id: string }> {
    const key = txnId === undefined ? undefined : `${who.userId}|${who.deviceId}|${who.appserviceId ?? ''}|${txnId}`;
    const seen = key === undefined ? undefined : sent.get(key);
    if (seen !== undefined) return { event_id: seen };
    const event = await create();
    if (key !== undefined) {
      sent.set(key, event.event_id);
      if (sent.size > MAX_REMEMBERED_TXNS) sent.delete(sent.keys().next().value!);
    }
    return { event_id: event.event_id };
  }

  // POST without a txnId is the original API, still sent by sytest and old bridges.
  router.put(cs('/rooms/:roomId/send/:type/:txnId'), send);
  router.post(cs('/rooms/:roomId/send/:type'), send);

  async function send(c: unknown): Promise<void> {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    const type = param(ctx, 'type');
    const content = body(ctx);
    ctx.body = await once(who, ctx.params.txnId, () => ops.send(room, who.userId, type, content, { ts: ctx.state.ts }));
  }

  router.put(cs('/rooms/:roomId/redact/:eventId/:txnId'), redact);
  router.post(cs('/rooms/:roomId/redact/:eventId'), redact);

  async function redact(c: unknown): Promise<void> {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    const reason = body(ctx).reason;
    const eventId = param(ctx, 'eventId');
    ctx.body = await once(who, ctx.params.txnId, () =>
      ops.redact(room, who.userId, eventId, typeof reason === 'string' ? reason : undefined, ctx.state.ts),
    );
  }

  const readable = (ctx: Ctx) => ops.readable(param(ctx, 'roomId'), requester(ctx, data).userId);

  function eventIn(room: Room, eventId: string): RoomEvent {
    const event = data.events.get(eventId);
    if (event === undefined || event.room_id !== room.roomId)
      throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
    return event;
  }

  router.get(cs('/rooms/:roomId/event/:eventId'), (c) => {
    const ctx = c as Ctx;
    ctx.body = clientEvent(eventIn(readable(ctx), param(ctx, 'eventId')));
  });

  const limitOf = (ctx: Ctx) => Math.min(Math.max(Number(ctx.query.limit ?? 10) || 10, 1), 1000);

  // Pagination tokens are positions in the room's timeline: `t<index>`.
  router.get(cs('/rooms/:roomId/messages'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const dir = ctx.query.dir === 'f' ? 'f' : 'b';
    const limit = limitOf(ctx);
    const from =
      typeof ctx.query.from === 'string' && /^t\d+$/.test(ctx.query.from) ? Number(ctx.query.from.slice(1)) : undefined;
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

  router.get(cs('/rooms/:roomId/context/:eventId'), (c) => {
    const ctx = c as Ctx;
    const room = readable(ctx);
    const event = eventIn(room, param(ctx, 'eventId'));
    const at = room.timeline.indexOf(event);
    // The spec splits `limit` between before and after.
    const half = Math.floor(limitOf(ctx) / 2);
    const before = room.timeline.slice(Math.max(0, at - half), at).reverse();
    const after = room.timeline.slice(at + 1, at + 1 + half);
    ctx.body = {
      event: clientEvent(event),
      events_before: before.map(clientEvent),
      events_after: after.map(clientEvent),
      start: `t${Math.max(0, at - half)}`,
      end: `t${Math.min(room.timeline.length, at + 1 + half)}`,
      state: [...room.state.values()].map(clientEvent),
    };
  });
}
