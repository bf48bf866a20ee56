/**
 * The client-server routes the library answers itself (spec: Application Service API,
 * "Client-Server API Extensions" and "Third-party networks"): the appservice ping, third-party
 * lookups fanned out to the ASes that declare a protocol, and the appservice room directory.
 */
import type { Context, Middleware } from 'koa';
import { AppserviceRequestError, MatrixError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { hasAccessToken } from './as-token.ts';
import { isRecord, readJsonBody } from './json-body.ts';
import { routeOf } from './route-table.ts';
import { ThirdpartyLookups, type ThirdpartyClient, type ThirdpartyOptions } from './thirdparty.ts';
import type { AppserviceContext, AppserviceState, KoaHost } from './state.ts';

/** The part of AppserviceClient the routes use. */
export interface RouteClient extends ThirdpartyClient {
  ping(transactionId?: string, signal?: AbortSignal): Promise<unknown>;
}

export interface RouteDeps {
  registry: { readonly all: readonly Registration[]; byId(id: string): Registration | undefined };
  clientFor(asId: string): RouteClient | undefined;
  host: KoaHost;
  /** Called after a successful ping: the AS is up, so wake its sender (design section 7). */
  onPing?(asId: string): void;
  /** Bound on a ping or on each AS's third-party answer. Default 10 000. */
  deadlineMs?: number;
  bodyLimitBytes?: number;
  /** Concurrency and caching of third-party lookups (their deadline is `deadlineMs`). */
  thirdparty?: Omit<ThirdpartyOptions, 'deadlineMs'>;
}

/** Identity-assertion parameters and the token are for us, never for the AS. */
const NOT_FIELDS = new Set(['access_token', 'user_id', 'device_id', 'org.matrix.msc3202.device_id', 'ts']);

/**
 * Ping, third-party lookups and the appservice room directory, as one middleware dispatching on
 * the request's route (`routeOf`). Requests that are none of these go on to the homeserver.
 *
 * @example
 * const routes = routesMiddleware({ registry, clientFor, host, onPing }); // after authMiddleware, as pluginChain does
 */
export function routesMiddleware(deps: RouteDeps): Middleware<AppserviceState, AppserviceContext> {
  const { registry, clientFor, host, onPing, bodyLimitBytes } = deps;
  const deadlineMs = deps.deadlineMs ?? 10_000;
  const thirdparty = new ThirdpartyLookups({ registry, clientFor }, { ...deps.thirdparty, deadlineMs });

  async function ping(ctx: Context, state: AppserviceState, appserviceId: string | undefined): Promise<void> {
    const reg = state.appservice;
    // Missing credentials are 401 M_MISSING_TOKEN throughout the client-server API; any token that is
    // not this AS's as_token is appservice_ping.yaml's 403.
    if (reg === undefined && !hasAccessToken(ctx))
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
    if (reg === undefined || reg.id !== appserviceId) {
      throw new MatrixError(403, 'M_FORBIDDEN', "Provided access token is not the appservice's as_token");
    }
    const body = await readJsonBody(ctx, bodyLimitBytes);
    const transactionId = isRecord(body) ? body.transaction_id : undefined;
    if (transactionId !== undefined && typeof transactionId !== 'string') {
      throw new MatrixError(400, 'M_BAD_JSON', 'transaction_id must be a string');
    }
    const asClient = reg.url === null ? undefined : clientFor(reg.id);
    if (asClient === undefined)
      throw new MatrixError(400, 'M_URL_NOT_SET', "Application service doesn't have a URL configured");
    const started = performance.now();
    const signal = AbortSignal.timeout(deadlineMs);
    try {
      await asClient.ping(transactionId, signal);
    } catch (err) {
      throw pingError(err, signal);
    }
    ctx.body = { duration_ms: Math.round(performance.now() - started) };
    onPing?.(reg.id);
  }

  /** PUT sets the visibility from the body; DELETE, as in Synapse, takes the room off the list. */
  async function editDirectory(ctx: Context, state: AppserviceState, networkId: string, roomId: string): Promise<void> {
    const appservice = state.appservice;
    if (appservice === undefined) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'Only application services can edit their room directory.');
    }
    let visibility: unknown = 'private';
    if (ctx.method === 'PUT') {
      const body = await readJsonBody(ctx, bodyLimitBytes);
      visibility = isRecord(body) ? body.visibility : undefined;
    }
    if (visibility !== 'public' && visibility !== 'private') {
      throw new MatrixError(400, 'M_INVALID_PARAM', 'visibility must be "public" or "private"');
    }
    if (host.setRoomDirectoryVisibility === undefined) {
      throw new MatrixError(404, 'M_UNRECOGNIZED', 'This homeserver has no application service room directories.');
    }
    await host.setRoomDirectoryVisibility(appservice.id, networkId, roomId, visibility);
    ctx.body = {};
  }

  /** The lookup's fields are the client's query, less what is for the homeserver (tokens, identity). */
  function fieldsOf(ctx: Context): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(ctx.query)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (!NOT_FIELDS.has(name) && first !== undefined) fields[name] = first;
    }
    return fields;
  }

  return async (ctx, next) => {
    const route = routeOf(ctx);
    if (route === null) return next();
    const { params } = route;
    switch (route.name) {
      case 'ping':
        return ping(ctx, ctx.state, params.appserviceId);
      case 'thirdpartyProtocols':
        ctx.body = await thirdparty.protocols(undefined);
        return;
      case 'thirdpartyProtocol': {
        const protocol = params.protocol ?? '';
        const found = (await thirdparty.protocols(protocol))[protocol];
        if (found === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'The protocol is unknown.');
        ctx.body = found;
        return;
      }
      case 'thirdpartyLocation':
      case 'thirdpartyUser': {
        const kind = route.name === 'thirdpartyLocation' ? 'location' : 'user';
        ctx.body = await thirdparty.lookup(kind, params.protocol ?? null, fieldsOf(ctx));
        return;
      }
      case 'directoryList':
        return editDirectory(ctx, ctx.state, params.networkId ?? '', params.roomId ?? '');
      default:
        return next();
    }
  };
}

/** A failed ping as the spec's errcodes. */
function pingError(err: unknown, signal: AbortSignal): MatrixError {
  if (err instanceof AppserviceRequestError) {
    switch (err.kind) {
      case 'url-not-set':
        return new MatrixError(
          400,
          'M_URL_NOT_SET',
          "Application service doesn't have a URL configured",
          {},
          { cause: err },
        );
      case 'timeout':
        return new MatrixError(
          504,
          'M_CONNECTION_TIMEOUT',
          'Connection to application service timed out',
          {},
          { cause: err },
        );
      case 'status':
      case 'body': {
        const body = typeof err.body === 'string' ? err.body : err.body === undefined ? '' : JSON.stringify(err.body);
        const extra = err.status === undefined ? { body } : { status: err.status, body };
        return new MatrixError(502, 'M_BAD_STATUS', `Ping returned status ${err.status ?? 'unusable body'}`, extra, {
          cause: err,
        });
      }
      case 'connection':
        break;
    }
  }
  if (signal.aborted)
    return new MatrixError(
      504,
      'M_CONNECTION_TIMEOUT',
      'Connection to application service timed out',
      {},
      { cause: err },
    );
  return new MatrixError(502, 'M_CONNECTION_FAILED', 'Failed to connect to application service', {}, { cause: err });
}
