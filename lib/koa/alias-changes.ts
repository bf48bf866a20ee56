/**
 * Creating or deleting an alias through the directory API makes no room event, so the interest
 * cache (lib/interest.ts) would keep the room's old aliases and an AS owning the new alias would
 * miss the room's events until some membership or alias event came by. This middleware watches
 * those requests and drops the room's cached aliases once the homeserver has said yes.
 */
import type { Middleware } from 'koa';
import { isRecord, readJsonBody } from './json-body.ts';
import { routeOf } from './route-table.ts';
import type { AppserviceContext, AppserviceState } from './state.ts';

export interface AliasChangeDeps {
  host: { resolveAlias(alias: string): Promise<string | null> };
  interest: { forgetRoomAliases(roomId: string): void };
}

/**
 * Part of `pluginChain`, which runs it on the `aliasEdit` route only.
 *
 * @example
 * const aliasChanges = aliasChangesMiddleware({ host, interest });
 */
export function aliasChangesMiddleware(deps: AliasChangeDeps): Middleware<AppserviceState, AppserviceContext> {
  const { host, interest } = deps;
  return async (ctx, next) => {
    const route = routeOf(ctx);
    if (route?.name !== 'aliasEdit') return next();
    let roomId: string | null = null;
    if (ctx.method === 'PUT') {
      const body = await readJsonBody(ctx);
      if (isRecord(body) && typeof body.room_id === 'string') roomId = body.room_id;
    } else {
      // Asked before the homeserver deletes it: afterwards the alias no longer names the room.
      roomId = await host.resolveAlias(route.params.alias!);
    }
    await next();
    if (roomId !== null && ctx.status >= 200 && ctx.status < 300) interest.forgetRoomAliases(roomId);
  };
}
