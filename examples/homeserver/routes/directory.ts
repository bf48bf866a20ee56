/**
 * Aliases and room directories. Alias lookups reach here only after the plugin asked the AS that
 * owns the alias (it may have just created it); the plugin's guards already refused aliases in
 * another AS's exclusive namespace. `PUT /directory/list/appservice/...` is the plugin's route (it
 * calls Host.setRoomDirectoryVisibility); the DELETE that Synapse and sytest also use is here.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { setAppserviceVisibility } from '../host.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';
import type { RoomOps } from '../room-ops.ts';

/**
 * @example
 * directoryRoutes(router, data, new RoomOps(data));
 */
export function directoryRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  router.get(cs('/directory/room/:alias'), (c) => {
    const ctx = c as Ctx;
    const entry = data.aliases.get(param(ctx, 'alias'));
    if (entry === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
    ctx.body = { room_id: entry.roomId, servers: [data.serverName] };
  });

  router.put(cs('/directory/room/:alias'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const alias = param(ctx, 'alias');
    if (!alias.startsWith('#') || !data.isLocal(alias))
      throw new MatrixError(400, 'M_INVALID_PARAM', 'Alias must be on this server');
    const roomId = body(ctx).room_id;
    if (typeof roomId !== 'string') throw new MatrixError(400, 'M_INVALID_PARAM', 'room_id is required');
    ops.room(roomId);
    if (data.aliases.has(alias)) throw new MatrixError(409, 'M_UNKNOWN', 'Room alias already exists');
    data.aliases.set(alias, { roomId, creator: who.userId });
    ctx.body = {};
  });

  router.delete(cs('/directory/room/:alias'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const alias = param(ctx, 'alias');
    const entry = data.aliases.get(alias);
    if (entry === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
    // The guard let an AS through only for aliases in its own namespace.
    if (entry.creator !== who.userId && who.appserviceId === undefined)
      throw new MatrixError(403, 'M_FORBIDDEN', 'You did not create this alias');
    data.aliases.delete(alias);
    ctx.body = {};
  });

  router.get(cs('/directory/list/room/:roomId'), (c) => {
    const ctx = c as Ctx;
    const roomId = ops.room(param(ctx, 'roomId')).roomId;
    ctx.body = { visibility: data.publicRooms.has(roomId) ? 'public' : 'private' };
  });

  router.put(cs('/directory/list/room/:roomId'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const room = ops.room(param(ctx, 'roomId'));
    if (data.membership(room, who.userId) !== 'join')
      throw new MatrixError(403, 'M_FORBIDDEN', 'You are not in this room');
    const visibility = body(ctx).visibility;
    if (visibility === 'public') data.publicRooms.add(room.roomId);
    else if (visibility === 'private') data.publicRooms.delete(room.roomId);
    else throw new MatrixError(400, 'M_INVALID_PARAM', 'visibility must be public or private');
    ctx.body = {};
  });

  router.delete(cs('/directory/list/appservice/:networkId/:roomId'), (c) => {
    const ctx = c as Ctx;
    const appservice = ctx.state.appservice;
    if (appservice === undefined)
      throw new MatrixError(403, 'M_FORBIDDEN', 'Only application services can edit their room directory.');
    setAppserviceVisibility(data, appservice.id, param(ctx, 'networkId'), param(ctx, 'roomId'), 'private');
    ctx.body = {};
  });

  router.get(cs('/publicRooms'), (c) => {
    const ctx = c as Ctx;
    const q = ctx.query;
    ctx.body = publicRooms({
      limit: typeof q.limit === 'string' ? Number(q.limit) : undefined,
      third_party_instance_id: q.third_party_instance_id,
      include_all_networks: q.include_all_networks === 'true',
    });
  });

  router.post(cs('/publicRooms'), (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    ctx.body = publicRooms(body(ctx));
  });

  /** The main list, one AS network's list (`<appservice id>|<network id>`), or all of them. */
  function publicRooms(input: Record<string, unknown>): Record<string, unknown> {
    const ids = new Set<string>();
    const instance = input.third_party_instance_id;
    if (typeof instance === 'string') {
      for (const roomId of data.appserviceLists.get(instance) ?? []) ids.add(roomId);
    } else {
      for (const roomId of data.publicRooms) ids.add(roomId);
      if (input.include_all_networks === true)
        for (const list of data.appserviceLists.values()) for (const roomId of list) ids.add(roomId);
    }
    const limit = typeof input.limit === 'number' && input.limit > 0 ? input.limit : Infinity;
    const chunk = [...ids].slice(0, limit).flatMap((roomId) => {
      const room = data.rooms.get(roomId);
      if (room === undefined) return [];
      const content = (type: string) => data.stateEvent(room, type)?.content;
      return [
        {
          room_id: roomId,
          num_joined_members: data.joinedMembers(room).length,
          world_readable: content('m.room.history_visibility')?.history_visibility === 'world_readable',
          guest_can_join: false,
          join_rule: content('m.room.join_rules')?.join_rule ?? 'invite',
          ...optional('name', content('m.room.name')?.name),
          ...optional('topic', content('m.room.topic')?.topic),
          ...optional('canonical_alias', content('m.room.canonical_alias')?.alias),
        },
      ];
    });
    return { chunk, total_room_count_estimate: ids.size };
  }
}

function optional(key: string, value: unknown): Record<string, unknown> {
  return typeof value === 'string' ? { [key]: value } : {};
}
