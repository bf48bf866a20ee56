/**
 * The plugin's middleware chain, built in one place so that what the specs mount is what
 * production mounts:
 *
 *   route table match ─► auth ─► guards ─► routes ─► interceptors ─► alias-changes ─► homeserver
 *
 * A request that carries no as_token and whose route (`routeOf`) is none of the plugin's skips
 * the chain: it only gets `ctx.ensureUser` / `ctx.ensureAlias`.
 */
import type { Context } from 'koa';
import { MatrixError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { aliasChangesMiddleware } from './alias-changes.ts';
import { accessTokens, authMiddleware, type AuthDeps } from './auth.ts';
import { matrixErrors, renderMatrixError, type ErrorLogger, type PluginMiddleware } from './error-response.ts';
import { guardsMiddleware, type GuardDeps } from './guards.ts';
import { askFor, attachEnsureHelpers, interceptorsMiddleware, type Queries } from './interceptors.ts';
import { routeOf } from './route-table.ts';
import { routesMiddleware, type RouteClient } from './routes.ts';

/** Everything the chain's parts need; `appservices()` builds it from the loaded registrations. */
export interface PluginChainDeps {
  registry: AuthDeps['registry'] & GuardDeps['registry'] & { readonly all: readonly Registration[]; byId(id: string): Registration | undefined };
  index: AuthDeps['index'] & GuardDeps['index'];
  host: AuthDeps['host'];
  queries: Queries;
  interest: { forgetRoomAliases(roomId: string): void };
  clientFor(asId: string): RouteClient | undefined;
  /** Called after a successful ping: the AS is up. */
  onPing?(asId: string): void;
  /** False on a homeserver without the Legacy authentication API (see `login-policy.ts`). */
  legacyLogin?: boolean;
  /** Bound on each request's blocking queries, a ping and each third-party answer. */
  deadlineMs?: number;
  bodyLimitBytes?: number;
  logger?: ErrorLogger;
}

/**
 * Whether the request presents an as_token. Users' tokens come back request after request, so
 * the ones already found to be no AS's are remembered (bounded) and not hashed again; what is
 * remembered says nothing about any as_token.
 */
function asTokenDetector(registry: PluginChainDeps['registry']): (ctx: Context) => boolean {
  const userTokens = new Set<string>();
  const isAsToken = (token: string): boolean => {
    if (userTokens.has(token)) return false;
    if (registry.byAsToken(token) !== undefined) return true;
    if (userTokens.size >= 10_000) userTokens.clear();
    userTokens.add(token);
    return false;
  };
  return (ctx) => {
    const { header, query } = accessTokens(ctx);
    if (header !== undefined && isAsToken(header)) return true;
    for (const token of query) if (isAsToken(token)) return true;
    return false;
  };
}

/**
 * The plugin's whole middleware: the fast path for requests that are not its business, else the
 * chain wrapped so that what it throws is rendered as Matrix JSON.
 *
 * @example
 * app.use(pluginChain({ registry, index, host, queries, interest, clientFor, deadlineMs: 10_000 }));
 */
export function pluginChain(deps: PluginChainDeps): PluginMiddleware {
  const { registry, index, host, queries, interest, clientFor, onPing, deadlineMs, bodyLimitBytes, logger, legacyLogin } = deps;
  const limits = {
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
  };
  const ask = askFor({ queries, ...limits });
  const chain = matrixErrors(
    [
      authMiddleware({ registry, index, host }),
      guardsMiddleware({ index, registry, host, ...limits, ...(legacyLogin === undefined ? {} : { legacyLogin }) }),
      routesMiddleware({ registry, clientFor, host, ...limits, ...(onPing === undefined ? {} : { onPing }) }),
      interceptorsMiddleware({ queries, ...limits }, ask),
      aliasChangesMiddleware({ host, interest }),
    ],
    logger === undefined ? {} : { logger },
  );
  const carriesAsToken = asTokenDetector(registry);
  // Only our own MatrixErrors thrown downstream (the 408 of ctx.ensureUser) are rendered on the
  // fast path, as the full chain would.
  const fast: PluginMiddleware = async (ctx, next) => {
    attachEnsureHelpers(ctx, ask);
    try {
      await next();
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      renderMatrixError(ctx, err);
    }
  };
  return (ctx, next) => {
    const route = routeOf(ctx);
    if ((route !== null && !route.asOnly) || carriesAsToken(ctx)) return chain(ctx, next);
    return fast(ctx, next);
  };
}
