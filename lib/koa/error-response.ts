/**
 * Errors become Matrix JSON: `{ errcode, error }` with the right status.
 *
 * The plugin wraps only its own middleware with this. An error the homeserver's routes throw
 * (they run downstream of the plugin) passes through untouched: the homeserver has its own error
 * handling and logging, and rewriting its failures would hide its bugs and change its answers.
 * The one exception is our own `MatrixError` (for example the 408 of `ctx.ensureUser()` called from
 * a homeserver route): it is ours, so it is rendered the same way wherever it surfaces.
 */
import type { Context, Middleware } from 'koa';
import compose from 'koa-compose';
import { MatrixError } from '../errors.ts';
import type { LimitHook } from '../metrics.ts';
import { LimitError } from './limit-error.ts';
import type { AppserviceContext, AppserviceState } from './state.ts';

/** The plugin's middleware: they read and write the typed state and context of `state.ts`. */
export type PluginMiddleware = Middleware<AppserviceState, AppserviceContext>;

/** The one method of a pino-compatible logger this file needs. */
export interface ErrorLogger {
  error(fields: Record<string, unknown>, message?: string): void;
}

const errcodeByStatus: Readonly<Record<number, string>> = {
  400: 'M_BAD_JSON',
  401: 'M_MISSING_TOKEN',
  403: 'M_FORBIDDEN',
  404: 'M_NOT_FOUND',
  405: 'M_UNRECOGNIZED',
  408: 'M_UNKNOWN',
  413: 'M_TOO_LARGE',
  429: 'M_LIMIT_EXCEEDED',
};

/**
 * Any thrown value as a MatrixError. A MatrixError stays as it is; an http-errors style error
 * (`ctx.throw(404)`, @koa/router) keeps its 4xx status; anything else is a 500 whose message says
 * nothing of the internals (they go to the log, not to the client).
 *
 * @example
 * toMatrixError(new Error('db down')).toJSON(); // { errcode: 'M_UNKNOWN', error: 'Internal server error' }
 */
export function toMatrixError(err: unknown): MatrixError {
  if (err instanceof MatrixError) return err;
  if (typeof err === 'object' && err !== null) {
    const { status, expose, message } = err as { status?: unknown; expose?: unknown; message?: unknown };
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const text = expose === true && typeof message === 'string' ? message : 'Bad request';
      return new MatrixError(status, errcodeByStatus[status] ?? 'M_UNKNOWN', text, {}, { cause: err });
    }
  }
  return new MatrixError(500, 'M_UNKNOWN', 'Internal server error', {}, { cause: err });
}

/**
 * Render `err` on `ctx` as Matrix JSON. 5xx errors that are not MatrixErrors are logged (without
 * the request's query string: it may hold an access_token).
 *
 * @example
 * try { await next(); } catch (err) { renderMatrixError(ctx, err, logger); }
 */
export function renderMatrixError(ctx: Context, err: unknown, logger?: ErrorLogger): void {
  const matrixError = toMatrixError(err);
  if (matrixError.status >= 500 && !(err instanceof MatrixError)) {
    logger?.error({ err, method: ctx.method, path: ctx.path }, 'koa-appservice: unexpected error');
  }
  ctx.status = matrixError.status;
  ctx.body = matrixError.toJSON();
}

/**
 * Run `middleware` in order as one middleware, rendering what they throw as Matrix JSON, while
 * errors thrown downstream (the homeserver's own routes) pass through as they are, MatrixErrors
 * excepted. A {@link LimitError} is told to `onLimit` (for metrics).
 *
 * @example
 * app.use(matrixErrors([authMiddleware(deps), guardsMiddleware(deps)], { logger }));
 */
export function matrixErrors(
  middleware: readonly PluginMiddleware[],
  options: { logger?: ErrorLogger; onLimit?: LimitHook } = {},
): PluginMiddleware {
  // One middleware needs no dispatcher around it.
  const chain = middleware.length === 1 ? middleware[0]! : compose([...middleware]);
  return async (ctx, next) => {
    // Identity of the error that came out of the homeserver's part of the chain, if any: our
    // middleware may catch and replace it, and then the replacement is ours to render.
    let fromDownstream: { error: unknown } | undefined;
    try {
      await chain(ctx, () =>
        next().catch((error: unknown) => {
          fromDownstream = { error };
          throw error;
        }),
      );
    } catch (err) {
      if (fromDownstream !== undefined && fromDownstream.error === err && !(err instanceof MatrixError)) throw err;
      if (err instanceof LimitError) options.onLimit?.(err.limit);
      renderMatrixError(ctx, err, options.logger);
    }
  };
}
