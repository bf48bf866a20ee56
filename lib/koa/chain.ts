/**
 * The plugin's middleware chain, built in one place so that what the specs mount is what
 * production mounts:
 *
 *   route table match ─► auth ─► guards ─► routes ─► interceptors ─► alias-changes ─► homeserver
 *
 * The request's route (`routeOf`) says which parts act on it, and only those run: a request whose
 * route is none of the plugin's and that carries no as_token skips the chain altogether (it only
 * gets `ctx.ensureUser` / `ctx.ensureAlias`); an AS's request on such a route runs auth alone.
 */
import { MatrixError } from '../errors.ts';
import type { LimitHook } from '../metrics.ts';
import type { Registration } from '../registration/registration.ts';
import { aliasChangesMiddleware } from './alias-changes.ts';
import { TokenOwners } from './as-token.ts';
import { requestAuthenticator, type AuthDeps } from './auth.ts';
import { deviceManagementMiddleware } from './device-management.ts';
import { matrixErrors, renderMatrixError, type ErrorLogger, type PluginMiddleware } from './error-response.ts';
import { guardsMiddleware, type GuardDeps } from './guards.ts';
import { askFor, attachEnsureHelpers, interceptorsMiddleware, type Queries } from './interceptors.ts';
import { LimitError } from './limit-error.ts';
import { keepRoute, matchRoute, ROUTE_PARTS, type ChainPart, type RouteName } from './route-table.ts';
import { routePath } from './paths.ts';
import { routesMiddleware, type RouteClient } from './routes.ts';

/** Everything the chain's parts need; `appservices()` builds it from the loaded registrations. */
export interface PluginChainDeps {
  registry: AuthDeps['registry'] &
    GuardDeps['registry'] & { readonly all: readonly Registration[]; byId(id: string): Registration | undefined };
  index: AuthDeps['index'] & GuardDeps['index'];
  host: AuthDeps['host'];
  queries: Queries;
  interest: { forgetRoomAliases(roomId: string): void };
  clientFor(asId: string): RouteClient | undefined;
  /** Called after a successful ping: the AS is up. */
  onPing?(asId: string): void;
  /** False on a homeserver without the Legacy authentication API (see `login-policy.ts`). */
  legacyLogin?: boolean;
  /** `experimentalFeatures.msc4190`: ASes that opt in manage their users' devices (device-management.ts). */
  deviceManagement?: boolean;
  /** Bound on each request's blocking queries, a ping and each third-party answer. */
  deadlineMs?: number;
  bodyLimitBytes?: number;
  logger?: ErrorLogger;
  /** Told each time a limit is reached (README, "Security"), for the operator's metrics. */
  onLimit?: LimitHook;
}

/**
 * The plugin's whole middleware: the fast path for requests that are not its business, else the
 * chain wrapped so that what it throws is rendered as Matrix JSON.
 *
 * @example
 * app.use(pluginChain({ registry, index, host, queries, interest, clientFor, deadlineMs: 10_000 }));
 */
export function pluginChain(deps: PluginChainDeps): PluginMiddleware {
  const {
    registry,
    index,
    host,
    queries,
    interest,
    clientFor,
    onPing,
    deadlineMs,
    bodyLimitBytes,
    logger,
    legacyLogin,
    deviceManagement,
    onLimit,
  } = deps;
  const devices = { enabled: deviceManagement === true, legacyLogin: legacyLogin !== false };
  const limits = {
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
  };
  const hook = onLimit === undefined ? {} : { onLimit };
  const ask = askFor({ queries, ...limits, ...hook });
  const owners = new TokenOwners(registry, onLimit === undefined ? {} : { onForget: () => onLimit('user_tokens') });
  const authenticate = requestAuthenticator({ registry, index, host, owners, devices, ...hook });
  const auth: PluginMiddleware = async (ctx, next) => {
    const checking = authenticate(ctx);
    if (checking !== undefined) await checking;
    return next();
  };
  const parts: Record<ChainPart, PluginMiddleware> = {
    guards: guardsMiddleware({
      index,
      registry,
      host,
      ...limits,
      ...(legacyLogin === undefined ? {} : { legacyLogin }),
    }),
    routes: routesMiddleware({
      registry,
      clientFor,
      host,
      ...limits,
      ...(onPing === undefined ? {} : { onPing }),
      ...(onLimit === undefined ? {} : { thirdparty: { onLimit } }),
    }),
    interceptors: interceptorsMiddleware({ queries, ...limits }, ask),
    aliasChanges: aliasChangesMiddleware({ host, interest }),
    deviceManagement: deviceManagementMiddleware(devices),
  };
  const order: readonly ChainPart[] = ['guards', 'routes', 'interceptors', 'aliasChanges', 'deviceManagement'];
  const errorOptions = { ...(logger === undefined ? {} : { logger }), ...hook };
  const chains = new Map<RouteName, PluginMiddleware>();
  for (const [name, routeParts] of ROUTE_PARTS) {
    const acting = order.filter((part) => routeParts.includes(part));
    chains.set(
      name,
      acting.length === 0 ? authOnly : matrixErrors([auth, ...acting.map((part) => parts[part])], errorOptions),
    );
  }

  // Downstream of the plugin only our own MatrixErrors (the 408 of ctx.ensureUser) are rendered.
  // A `then` rather than an async function: this runs on every request, and the async function's
  // frame and await closures were most of what the plugin allocated on a user's request.
  function fast(ctx: Parameters<PluginMiddleware>[0], next: Parameters<PluginMiddleware>[1]): Promise<void> {
    let downstream: Promise<unknown>;
    try {
      downstream = next();
    } catch (err) {
      downstream = Promise.reject(err);
    }
    return downstream.then(undefined, (err: unknown) => {
      if (!(err instanceof MatrixError)) throw err;
      if (err instanceof LimitError) onLimit?.(err.limit);
      renderMatrixError(ctx, err);
    });
  }
  // Auth alone needs no dispatcher: what it throws is ours, what the homeserver throws is not.
  function authOnly(ctx: Parameters<PluginMiddleware>[0], next: Parameters<PluginMiddleware>[1]): Promise<void> {
    let checking: Promise<void> | undefined;
    try {
      checking = authenticate(ctx);
    } catch (err) {
      renderMatrixError(ctx, err, logger);
      return Promise.resolve();
    }
    if (checking === undefined) return fast(ctx, next);
    return checking.then(
      () => fast(ctx, next),
      (err: unknown) => renderMatrixError(ctx, err, logger),
    );
  }
  return (ctx, next) => {
    attachEnsureHelpers(ctx, ask);
    const route = matchRoute(ctx.method, routePath(ctx));
    if (route !== null && route.parts.length > 0) {
      keepRoute(ctx, route);
      return chains.get(route.name)!(ctx, next);
    }
    // No part acts on the route: only an AS's request needs auth (identity assertion, `ts`).
    if (owners.carriesAsToken(ctx)) {
      keepRoute(ctx, route);
      return authOnly(ctx, next);
    }
    return fast(ctx, next);
  };
}
