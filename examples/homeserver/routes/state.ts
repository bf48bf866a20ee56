/**
 * Room state: one event's content (`GET/PUT /rooms/{id}/state/{type}/{stateKey}`) and the whole
 * current state. PUT of `m.room.member` goes through the membership rules (room-ops.ts).
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import { clientEvent, type HomeserverData } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * stateRoutes(router, data, new RoomOps(data));
 */
export function stateRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  const paths = [...cs('/rooms/:roomId/state/:type'), ...cs('/rooms/:roomId/state/:type/:stateKey')];

  router.put(paths, async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    const event = await ops.send(room, who.userId, param(ctx, 'type'), body(ctx), {
      stateKey: ctx.params.stateKey ?? '',
      ts: ctx.state.ts,
    });
    ctx.body = { event_id: event.event_id };
  });

  router.get(paths, (c) => {
    const ctx = c as Ctx;
    const room = ops.readable(param(ctx, 'roomId'), requester(ctx, data).userId);
    const event = data.stateEvent(room, param(ctx, 'type'), ctx.params.stateKey ?? '');
    if (event === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Event not found');
    ctx.body = ctx.query.format === 'event' ? clientEvent(event) : event.content;
  });

  router.get(cs('/rooms/:roomId/state'), (c) => {
    const ctx = c as Ctx;
    const room = ops.readable(param(ctx, 'roomId'), requester(ctx, data).userId);
    ctx.body = [...room.state.values()].map(clientEvent);
  });
}
