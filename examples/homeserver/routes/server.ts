/**
 * What a client asks before anything else: the spec versions, the capabilities, and the small
 * things a bot's start-up touches (filters, push rules).
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { body, cs, param, requester, type Ctx } from '../http.ts';

/** The room versions this homeserver creates; it does not check the versions' auth rules. */
const ROOM_VERSIONS = { '10': 'stable', '11': 'stable' };
/** Filters are kept in memory; a bound keeps a looping client from filling it. */
const MAX_FILTERS = 10_000;

/**
 * @example
 * serverRoutes(router, data);
 */
export function serverRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData): void {
  const filters = new Map<string, unknown>();

  router.get('/_matrix/client/versions', (ctx) => {
    ctx.body = { versions: ['r0.6.1', 'v1.1', 'v1.5', 'v1.6', 'v1.11'], unstable_features: {} };
  });

  router.get(cs('/capabilities'), (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    ctx.body = {
      capabilities: {
        'm.change_password': { enabled: false },
        'm.room_versions': { default: '10', available: ROOM_VERSIONS },
        'm.set_displayname': { enabled: true },
        'm.set_avatar_url': { enabled: true },
        'm.3pid_changes': { enabled: false },
      },
    };
  });

  router.post(cs('/user/:userId/filter'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    if (param(ctx, 'userId') !== who.userId)
      throw new MatrixError(403, 'M_FORBIDDEN', 'Cannot create filters for other users');
    if (filters.size >= MAX_FILTERS)
      throw new MatrixError(403, 'M_RESOURCE_LIMIT_EXCEEDED', 'Too many filters', { limit_type: 'filters' });
    const filterId = String(filters.size);
    filters.set(`${who.userId}|${filterId}`, body(ctx));
    ctx.body = { filter_id: filterId };
  });

  router.get(cs('/user/:userId/filter/:filterId'), (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const filter = filters.get(`${param(ctx, 'userId')}|${param(ctx, 'filterId')}`);
    if (filter === undefined || param(ctx, 'userId') !== who.userId)
      throw new MatrixError(404, 'M_NOT_FOUND', 'No such filter');
    ctx.body = filter;
  });

  router.get(cs('/pushrules/'), (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    ctx.body = { global: { override: [], content: [], room: [], sender: [], underride: [] } };
  });
}
