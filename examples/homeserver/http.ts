/**
 * The reference homeserver's own HTTP plumbing: Matrix error rendering, a JSON body parser that
 * leaves alone a body the plugin already read, and the access-token check for its routes.
 */
import type { Middleware, ParameterizedContext } from 'koa';
import { MatrixError, type AppserviceContext, type AppserviceState, type Logger } from '../../lib/index.ts';
import type { HomeserverData, Session } from './data.ts';
import { assertJsonDepth } from './limits.ts';

export type Ctx = ParameterizedContext<AppserviceState, AppserviceContext> & { params: Record<string, string> };

const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Every error as Matrix JSON, and unknown endpoints as `404 M_UNRECOGNIZED`, as the spec asks.
 *
 * @example
 * app.use(matrixErrorBoundary((err) => console.error(err)));
 */
export function matrixErrorBoundary(
  onUnexpected: (err: unknown) => void = () => {},
): Middleware<AppserviceState, AppserviceContext> {
  return async (ctx, next) => {
    try {
      await next();
      // Router answers without a body (unknown path, 405, 501) still get a Matrix error body.
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null || typeof ctx.body === 'string')) {
        const status = ctx.status;
        const unrecognized = status === 404 || status === 405 || status === 501;
        ctx.body = {
          errcode: unrecognized ? 'M_UNRECOGNIZED' : 'M_UNKNOWN',
          error: unrecognized ? 'Unrecognized request' : `HTTP ${status}`,
        };
        ctx.status = status;
      }
    } catch (err) {
      if (err instanceof MatrixError) {
        ctx.status = err.status;
        ctx.body = err.toJSON();
        return;
      }
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = { errcode: status === 405 ? 'M_UNRECOGNIZED' : 'M_UNKNOWN', error: (err as Error).message };
        return;
      }
      onUnexpected(err);
      ctx.status = 500;
      ctx.body = { errcode: 'M_UNKNOWN', error: 'Internal server error' };
    }
  };
}

/**
 * One `debug` line per client request: method, path (never the query string, which may hold an
 * access_token), status, duration, and the AS that made it if one did.
 *
 * @example
 * app.use(accessLog(logger));
 */
export function accessLog(logger: Logger): Middleware<AppserviceState, AppserviceContext> {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const fields = {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms: Math.round(performance.now() - started),
        ...(ctx.state.appservice ? { appservice: ctx.state.appservice.id } : {}),
      };
      logger.debug(fields, `${ctx.method} ${ctx.path} ${ctx.status}`);
    }
  };
}

/**
 * Parses a JSON request body onto `ctx.request.body`, unless something (the plugin, on the routes
 * it inspects) already did: the stream is then consumed and the parsed body is the one to use.
 * Either way the body's nesting is bounded (limits.ts) before any route sees it.
 *
 * @example
 * app.use(as.middleware()); app.use(jsonBody()); app.use(router.routes());
 */
export function jsonBody(): Middleware<AppserviceState, AppserviceContext> {
  return async (ctx, next) => {
    const request = ctx.request as unknown as { body?: unknown };
    // Media uploads are raw bytes, read by their own route.
    if (
      request.body === undefined &&
      (ctx.method === 'POST' || ctx.method === 'PUT' || ctx.method === 'DELETE') &&
      !ctx.path.startsWith('/_matrix/media/')
    ) {
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > BODY_LIMIT_BYTES) throw new MatrixError(413, 'M_TOO_LARGE', 'Request body too large');
        chunks.push(chunk);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        request.body = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        throw new MatrixError(400, 'M_NOT_JSON', 'Content not JSON.');
      }
    }
    if (request.body !== undefined) assertJsonDepth(request.body);
    await next();
  };
}

/**
 * The parsed JSON object body; `400 M_BAD_JSON` when it is not an object.
 *
 * @example
 * const { room_id: roomId } = body(ctx);
 */
export function body(ctx: Ctx): Record<string, unknown> {
  const value = (ctx.request as unknown as { body?: unknown }).body ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MatrixError(400, 'M_BAD_JSON', 'Body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export interface Requester extends Session {
  /** Set when an application service made the request (the plugin authenticated it). */
  readonly appserviceId?: string;
}

/**
 * Who is asking: the user an AS acts as (the plugin checked it), or the owner of a user access
 * token. `401 M_MISSING_TOKEN` / `M_UNKNOWN_TOKEN` otherwise, as the spec words it.
 *
 * @example
 * const { userId } = requester(ctx, data);
 */
export function requester(ctx: Ctx, data: HomeserverData): Requester {
  const { appservice, userId, deviceId } = ctx.state;
  if (appservice !== undefined && userId !== undefined) {
    const user = data.users.get(userId);
    if (user?.deactivated) throw new MatrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated');
    return { userId, deviceId: deviceId ?? '', appserviceId: appservice.id };
  }
  const header = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  const query = ctx.query.access_token;
  const token = header?.[1] ?? (typeof query === 'string' ? query : undefined);
  if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  const session = data.sessions.get(token);
  if (session === undefined)
    throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown access token', { soft_logout: false });
  return session;
}

/**
 * A path parameter, decoded by the router; `400` when missing.
 *
 * @example
 * const roomId = param(ctx, 'roomId');
 */
export function param(ctx: Ctx, name: string): string {
  const value = ctx.params[name];
  if (value === undefined || value === '') throw new MatrixError(400, 'M_INVALID_PARAM', `Missing ${name}`);
  return value;
}

/**
 * A client-server path under both `v3` and the older `r0` prefix (bridges still use r0).
 *
 * @example
 * router.get(cs('/account/whoami'), handler);
 */
export function cs(path: string): string[] {
  return [`/_matrix/client/v3${path}`, `/_matrix/client/r0${path}`];
}
