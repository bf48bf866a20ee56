/**
 * Blocking interceptors (design section 6): a client request that names a user or an alias the
 * homeserver may not know yet waits while the AS owning that namespace is asked to create it, and
 * only then reaches the homeserver's route.
 *
 * Outcomes: `exists` and `absent` both let the request through (for `absent` the homeserver gives
 * its normal 404); `unavailable` answers `408` with a Matrix body, as the spec's notes on querying
 * ask ("This should result in an HTTP status 408"). The spec names no errcode for it, so it is the
 * generic `M_UNKNOWN`; the status is what clients act on.
 */
import { setMaxListeners } from 'node:events';
import type { Context, Middleware, ParameterizedContext } from 'koa';
import { MatrixError } from '../errors.ts';
import { isRecord, readJsonBody } from './json-body.ts';
import { decode, routePath } from './paths.ts';
import type { AppserviceContext, AppserviceState, QueryResult } from './state.ts';

/** H3's ExistenceQueries fits. */
export interface Queries {
  ensureUser(userId: string, options?: { deadlineMs?: number; signal?: AbortSignal }): Promise<QueryResult>;
  ensureAlias(alias: string, options?: { deadlineMs?: number; signal?: AbortSignal }): Promise<QueryResult>;
}

export interface InterceptorDeps {
  queries: Queries;
  /** Per request, for all its queries together; the queries' own default when unset. */
  deadlineMs?: number;
  bodyLimitBytes?: number;
}

/** A client may name many ids in one request; each is a query, so bound them. */
export const MAX_IDS_PER_REQUEST = 100;

/** The spec's limit on user ids and room aliases, in bytes of UTF-8. */
export const MAX_ID_BYTES = 255;

export type Kind = 'user' | 'alias';

const CLIENT =
  /^\/_matrix\/client\/(?:r0|v3)\/(?:(directory\/room|join|knock|profile)\/([^/]+)(\/[^/]+)?|rooms\/[^/]+\/(invite|state\/m\.room\.canonical_alias)(?:\/[^/]*)?|(createroom))\/?$/i;

/** Asks about every id at once, under one deadline; a client that hangs up stops the wait. */
export type Ask = (ctx: Context, kind: Kind, ids: readonly string[]) => Promise<QueryResult>;

/**
 * The blocking query of one request, shared by the interceptors and `ctx.ensureUser/ensureAlias`.
 *
 * @example
 * const ask = askFor({ queries, deadlineMs: 10_000 });
 * await ask(ctx, 'alias', ['#irc_#matrix:example.org']);
 */
export function askFor(deps: Pick<InterceptorDeps, 'queries' | 'deadlineMs'>): Ask {
  const { queries, deadlineMs } = deps;
  return async function ask(ctx: Context, kind: Kind, ids: readonly string[]): Promise<QueryResult> {
    const unique = [...new Set(ids)].slice(0, MAX_IDS_PER_REQUEST);
    if (unique.length === 0) return 'exists';
    // An over-long id names nothing that exists or that an AS could create: asking would only
    // send the AS kilobyte paths and fill the query cache with kilobyte keys.
    const askable = unique.filter((id) => Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES);
    if (askable.length === 0) return 'absent';
    const tooLong = askable.length < unique.length;
    const gone = new AbortController();
    const onClose = () => gone.abort();
    // The response closes before we answered only when the client went away (req 'close' fires
    // as soon as the request body has been read, so it cannot tell).
    ctx.res.once('close', onClose);
    const signals = [gone.signal];
    if (deadlineMs !== undefined) signals.push(AbortSignal.timeout(deadlineMs));
    const signal = AbortSignal.any(signals);
    // One listener per id asked: up to MAX_IDS_PER_REQUEST, which is no leak, so no warning.
    setMaxListeners(askable.length + 10, signal);
    const options = { signal, ...(deadlineMs === undefined ? {} : { deadlineMs }) };
    try {
      const results = await Promise.all(
        askable.map((id) => (kind === 'user' ? queries.ensureUser(id, options) : queries.ensureAlias(id, options))),
      );
      if (results.includes('unavailable')) {
        throw new MatrixError(408, 'M_UNKNOWN', `The application service responsible for this ${kind} did not answer in time.`);
      }
      // 502: we are the gateway to the AS and it refused us; not a timeout, and retrying will not help.
      if (results.includes('misconfigured')) {
        throw new MatrixError(502, 'M_UNKNOWN', `The application service responsible for this ${kind} rejected the homeserver's credentials.`);
      }
      return tooLong || results.includes('absent') ? 'absent' : 'exists';
    } finally {
      ctx.res.off('close', onClose);
    }
  };
}

/**
 * Puts `ctx.ensureUser()` / `ctx.ensureAlias()` on a context, bound to it so that a route may
 * destructure them; two closures cost next to nothing.
 *
 * @example
 * attachEnsureHelpers(ctx, askFor({ queries }));
 */
export function attachEnsureHelpers(ctx: ParameterizedContext<AppserviceState, AppserviceContext>, ask: Ask): void {
  ctx.ensureUser = (userId) => ask(ctx, 'user', [userId]) as Promise<'exists' | 'absent'>;
  ctx.ensureAlias = (alias) => ask(ctx, 'alias', [alias]) as Promise<'exists' | 'absent'>;
}

/**
 * Block the requests of design section 6 until the owning AS was asked, and put
 * `ctx.ensureUser()` / `ctx.ensureAlias()` on every context for the homeserver's own routes.
 *
 * @example
 * app.use(matrixErrors([authMiddleware(d), guardsMiddleware(d), interceptorsMiddleware({ queries })]));
 * router.get('/_matrix/client/v3/custom/:userId', async (ctx) => { await ctx.ensureUser(ctx.params.userId); });
 */
export function interceptorsMiddleware(deps: InterceptorDeps, ask: Ask = askFor(deps)): Middleware<AppserviceState, AppserviceContext> {
  const { bodyLimitBytes } = deps;
  return async (ctx, next) => {
    attachEnsureHelpers(ctx, ask);
    const path = routePath(ctx);
    const match = /^\/_matrix\/client\//i.test(path) ? CLIENT.exec(path) : null;
    if (match === null) return next();
    const [, byPathRaw, segment, rest, inRoomRaw, createRoom] = match;
    const byPath = byPathRaw?.toLowerCase();
    const inRoom = inRoomRaw?.toLowerCase();
    const id = segment === undefined ? undefined : decode(segment);
    const method = ctx.method;

    if (byPath === 'directory/room' && method === 'GET' && rest === undefined && id?.startsWith('#')) {
      await ask(ctx, 'alias', [id]);
    } else if ((byPath === 'join' || byPath === 'knock') && method === 'POST' && rest === undefined && id?.startsWith('#')) {
      await ask(ctx, 'alias', [id]);
    } else if (byPath === 'profile' && method === 'GET' && id?.startsWith('@')) {
      await ask(ctx, 'user', [id]);
    } else if (inRoom === 'invite' && method === 'POST') {
      const body = await readJsonBody(ctx, bodyLimitBytes);
      if (isRecord(body) && typeof body.user_id === 'string') await ask(ctx, 'user', [body.user_id]);
    } else if (inRoom === 'state/m.room.canonical_alias' && method === 'PUT') {
      const body = await readJsonBody(ctx, bodyLimitBytes);
      if (isRecord(body)) {
        const alt = Array.isArray(body.alt_aliases) ? body.alt_aliases : [];
        const aliases = [body.alias, ...alt].filter((a): a is string => typeof a === 'string' && a.startsWith('#'));
        await ask(ctx, 'alias', aliases);
      }
    } else if (createRoom !== undefined && method === 'POST') {
      const body = await readJsonBody(ctx, bodyLimitBytes);
      if (isRecord(body) && Array.isArray(body.invite)) {
        await ask(ctx, 'user', body.invite.filter((u): u is string => typeof u === 'string'));
      }
    }
    return next();
  };
}
