/**
 * Blocking interceptors (design section 6): a client request that names a user or an alias the
 * homeserver may not know yet waits while the AS owning that namespace is asked to create it, and
 * only then reaches the homeserver's route.
 *
 * Outcomes: `exists` and `absent` both let the request through (for `absent` the homeserver gives
 * its normal 404); `unavailable` answers `408` with a Matrix body, as the spec's notes on querying
 * ask ("This should result in an HTTP status 408"). The spec names no errcode for it, so it is the
 * generic `M_UNKNOWN`; the status is what clients act on.
 *
 * Only an authenticated request (an AS's, or a user's the host knows) makes an AS be asked, and
 * only about ids inside the Matrix grammar (`identifiers.ts`): others are `400 M_INVALID_PARAM`.
 */
import { setMaxListeners } from 'node:events';
import type { Context, Middleware, ParameterizedContext } from 'koa';
import { MatrixError } from '../errors.ts';
import type { LimitHook } from '../metrics.ts';
import { isAuthenticated } from './auth.ts';
import { requireValidIds } from './identifiers.ts';
import { isRecord, readJsonBody } from './json-body.ts';
import { routeOf } from './route-table.ts';
import type { AppserviceContext, AppserviceState, QueryResult } from './state.ts';

/** ExistenceQueries fits. */
export interface Queries {
  ensureUser(userId: string, options?: { deadlineMs?: number; signal?: AbortSignal }): Promise<QueryResult>;
  ensureAlias(alias: string, options?: { deadlineMs?: number; signal?: AbortSignal }): Promise<QueryResult>;
}

export interface InterceptorDeps {
  queries: Queries;
  /** Per request, for all its queries together; the queries' own default when unset. */
  deadlineMs?: number;
  bodyLimitBytes?: number;
  /** Told when a request names more ids than are asked (`ids_per_request`). */
  onLimit?: LimitHook;
}

/** A client may name many ids in one request; each is a query, so bound them. */
export const MAX_IDS_PER_REQUEST = 100;

export type Kind = 'user' | 'alias';

/** Asks about every id at once, under one deadline; a client that hangs up stops the wait. */
export type Ask = (ctx: Context, kind: Kind, ids: readonly string[]) => Promise<QueryResult>;

/**
 * The blocking query of one request, shared by the interceptors and `ctx.ensureUser/ensureAlias`.
 *
 * @example
 * const ask = askFor({ queries, deadlineMs: 10_000 });
 * await ask(ctx, 'alias', ['#irc_#matrix:example.org']);
 */
export function askFor(deps: Pick<InterceptorDeps, 'queries' | 'deadlineMs' | 'onLimit'>): Ask {
  const { queries, deadlineMs, onLimit } = deps;
  return async function ask(ctx: Context, kind: Kind, ids: readonly string[]): Promise<QueryResult> {
    // An id outside the grammar (over 255 bytes, controls, a bad sigil...) names nothing an AS
    // could create: refused before anything is asked, so no AS sees it and no cache keeps it.
    requireValidIds(kind, ids);
    const distinct = [...new Set(ids)];
    if (distinct.length > MAX_IDS_PER_REQUEST) onLimit?.('ids_per_request');
    const askable = distinct.slice(0, MAX_IDS_PER_REQUEST);
    if (askable.length === 0) return 'exists';
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
        throw new MatrixError(
          408,
          'M_UNKNOWN',
          `The application service responsible for this ${kind} did not answer in time.`,
        );
      }
      // 502: we are the gateway to the AS and it refused us; not a timeout, and retrying will not help.
      if (results.includes('misconfigured')) {
        throw new MatrixError(
          502,
          'M_UNKNOWN',
          `The application service responsible for this ${kind} rejected the homeserver's credentials.`,
        );
      }
      return results.includes('absent') ? 'absent' : 'exists';
    } finally {
      ctx.res.off('close', onClose);
    }
  };
}

const ASK = Symbol('koa-appservice.ask');
const HELPERS = Symbol('koa-appservice.ensure-helpers');
type WithAsk = { [ASK]?: Ask; [HELPERS]?: true };

/** An own property, as a plain assignment would have made it. */
function defineOwn(ctx: object, name: string, value: unknown): void {
  Object.defineProperty(ctx, name, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * `ensureUser` / `ensureAlias` on a Koa context prototype: the bound function is made when a route
 * first reads it, then kept on the context. Only a context the plugin ran on has them (its `ask`).
 */
function installHelpers(proto: object): void {
  const helper = (name: 'ensureUser' | 'ensureAlias', kind: Kind): PropertyDescriptor => ({
    configurable: true,
    get(this: Context & WithAsk) {
      const ask = this[ASK];
      if (ask === undefined) return undefined;
      const ctx = this;
      const bound = (id: string) => ask(ctx, kind, [id]);
      defineOwn(ctx, name, bound);
      return bound;
    },
    set(this: Context, value: unknown) {
      defineOwn(this, name, value);
    },
  });
  Object.defineProperties(proto, {
    ensureUser: helper('ensureUser', 'user'),
    ensureAlias: helper('ensureAlias', 'alias'),
    [HELPERS]: { value: true },
  });
}

/**
 * Gives a context `ctx.ensureUser()` / `ctx.ensureAlias()`, bound to it so that a route may
 * destructure them. They are made only when a route reads them (accessors on the context's
 * prototype, installed once per Koa app): most requests never call them, and two closures per
 * request were a third of what the plugin allocated on a user's request.
 *
 * @example
 * attachEnsureHelpers(ctx, askFor({ queries }));
 */
export function attachEnsureHelpers(ctx: ParameterizedContext<AppserviceState, AppserviceContext>, ask: Ask): void {
  const holder = ctx as unknown as WithAsk;
  holder[ASK] = ask;
  if (holder[HELPERS] !== true) installHelpers(Object.getPrototypeOf(ctx) as object);
}

/**
 * Block the requests of design section 6 until the owning AS was asked. (`pluginChain` puts
 * `ctx.ensureUser()` / `ctx.ensureAlias()` on every context, with the same `ask`.)
 *
 * @example
 * const ask = askFor({ queries });
 * const interceptors = interceptorsMiddleware({ queries }, ask);
 */
export function interceptorsMiddleware(
  deps: InterceptorDeps,
  ask: Ask = askFor(deps),
): Middleware<AppserviceState, AppserviceContext> {
  const { bodyLimitBytes } = deps;
  /** The ids a request names that an AS may have to create first, or undefined when none. */
  async function named(ctx: Context): Promise<{ kind: Kind; ids: string[] } | undefined> {
    const route = routeOf(ctx);
    if (route === null) return undefined;
    const { params } = route;
    switch (route.name) {
      case 'aliasLookup':
        return { kind: 'alias', ids: [params.alias!] };
      case 'join':
      case 'knock':
        // A room id needs no AS; only an alias may be one an AS creates.
        return params.target!.startsWith('#') ? { kind: 'alias', ids: [params.target!] } : undefined;
      case 'profile':
        return { kind: 'user', ids: [params.userId!] };
      case 'invite': {
        const body = await readJsonBody(ctx, bodyLimitBytes);
        return isRecord(body) && typeof body.user_id === 'string' ? { kind: 'user', ids: [body.user_id] } : undefined;
      }
      case 'canonicalAlias': {
        const body = await readJsonBody(ctx, bodyLimitBytes);
        if (!isRecord(body)) return undefined;
        const alt = Array.isArray(body.alt_aliases) ? body.alt_aliases : [];
        return { kind: 'alias', ids: [body.alias, ...alt].filter((a): a is string => typeof a === 'string') };
      }
      case 'createRoom': {
        const body = await readJsonBody(ctx, bodyLimitBytes);
        if (!isRecord(body) || !Array.isArray(body.invite)) return undefined;
        return { kind: 'user', ids: body.invite.filter((u): u is string => typeof u === 'string') };
      }
      default:
        return undefined;
    }
  }

  return async (ctx, next) => {
    const target = await named(ctx);
    if (target !== undefined) {
      requireValidIds(target.kind, target.ids);
      // Anonymous lookups the spec allows reach the homeserver, which answers from what it knows.
      if (isAuthenticated(ctx)) await ask(ctx, target.kind, target.ids);
    }
    return next();
  };
}
