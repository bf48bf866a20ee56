/**
 * Room creation: presets, an alias, invites (direct or not), `initial_state`,
 * `power_levels_content_override` and `creation_content`, with an AS's massaged `ts`.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { body, cs, requester, type Ctx } from '../http.ts';
import type { CreateRoomInput, RoomOps } from '../room-ops.ts';

const PRESETS = new Set(['public_chat', 'private_chat', 'trusted_private_chat']);

/**
 * @example
 * roomRoutes(router, data, new RoomOps(data));
 */
export function roomRoutes(
  router: Router<AppserviceState, AppserviceContext>,
  data: HomeserverData,
  ops: RoomOps,
): void {
  router.post(cs('/createRoom'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const input = body(ctx);
    let alias: string | undefined;
    if (input.room_alias_name !== undefined) {
      const name = input.room_alias_name;
      if (typeof name !== 'string' || name === '' || /[:\s]/.test(name))
        throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid room_alias_name');
      alias = `#${name}:${data.serverName}`;
      if (data.aliases.has(alias)) throw new MatrixError(400, 'M_ROOM_IN_USE', 'Room alias already taken');
    }
    const invite = Array.isArray(input.invite) ? input.invite.filter((u): u is string => typeof u === 'string') : [];
    for (const userId of invite) {
      if (data.isLocal(userId) && !data.users.has(userId))
        throw new MatrixError(404, 'M_NOT_FOUND', `Unknown user ${userId}`);
    }
    if (input.preset !== undefined && !PRESETS.has(input.preset as string))
      throw new MatrixError(400, 'M_BAD_JSON', 'Unknown preset');
    const room = await ops.createRoom(who.userId, {
      preset: input.preset as CreateRoomInput['preset'],
      visibility: input.visibility === 'public' ? 'public' : 'private',
      name: typeof input.name === 'string' ? input.name : undefined,
      topic: typeof input.topic === 'string' ? input.topic : undefined,
      alias,
      invite,
      isDirect: input.is_direct === true,
      initialState: initialState(input.initial_state),
      powerLevelsOverride: optionalObject(input, 'power_levels_content_override'),
      creationContent: optionalObject(input, 'creation_content'),
      roomVersion: typeof input.room_version === 'string' ? input.room_version : undefined,
      ts: ctx.state.ts,
    });
    ctx.body = { room_id: room.roomId, ...(alias === undefined ? {} : { room_alias: alias }) };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalObject(input: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new MatrixError(400, 'M_BAD_JSON', `${field} must be an object`);
  return value;
}

/** `initial_state` entries, shape-checked here so that a bad one fails before the room exists. */
function initialState(value: unknown): CreateRoomInput['initialState'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new MatrixError(400, 'M_BAD_JSON', 'initial_state must be an array');
  return value.map((entry: unknown, i) => {
    if (
      !isObject(entry) ||
      typeof entry.type !== 'string' ||
      !isObject(entry.content) ||
      (entry.state_key !== undefined && typeof entry.state_key !== 'string')
    ) {
      throw new MatrixError(
        400,
        'M_BAD_JSON',
        `initial_state[${i}] needs a string type, an object content and a string state_key if any`,
      );
    }
    if (entry.type === 'm.room.member')
      throw new MatrixError(400, 'M_BAD_JSON', 'initial_state cannot set memberships; use invite');
    return {
      type: entry.type,
      content: entry.content,
      ...(entry.state_key === undefined ? {} : { state_key: entry.state_key }),
    };
  });
}
