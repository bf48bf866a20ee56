/**
 * How one failed attempt to call an AS becomes an {@link AppserviceRequestError}: its `kind` says
 * what went wrong (what withRetries and the query gate decide on), its message names only the
 * method and the path, never the hs_token that may travel in the query string.
 */
import { AppserviceRequestError } from '../errors.ts';
import type { AbortLike } from './deadline.ts';
import { errcodeOf } from './legacy-paths.ts';
import type { RawResponse } from './response.ts';

/** A non-2xx answer: the status and a plausible errcode in the message, the body and Retry-After kept for the caller. */
export function statusError(asId: string, method: string, res: RawResponse): AppserviceRequestError {
  const errcode = errcodeOf(res.json);
  const shown = errcode !== undefined && /^[A-Za-z0-9_.]{1,64}$/.test(errcode) ? ` ${errcode}` : '';
  return new AppserviceRequestError(asId, 'status', `${method} ${res.path}: HTTP ${res.status}${shown}`, {
    status: res.status,
    body: res.json ?? (res.text === '' ? undefined : res.text.slice(0, 1024)),
    ...(res.retryAfterMs === undefined ? {} : { retryAfterMs: res.retryAfterMs }),
  });
}

/** A 2xx answer whose body is not what the endpoint returns (or is too large to read). */
export function bodyError(asId: string, method: string, path: string, why: string): AppserviceRequestError {
  return new AppserviceRequestError(asId, 'body', `${method} ${path}: ${why}`);
}

/**
 * No answer: the caller's deadline or abort, one of undici's timeouts, or a failed connection.
 * The deadline is checked first, since an abort surfaces as whatever undici was doing at the time.
 */
export function transportError(
  asId: string,
  method: string,
  path: string,
  error: unknown,
  signal: AbortLike | undefined,
): AppserviceRequestError {
  const where = `${method} ${path}`;
  const code = (error as { code?: unknown } | null)?.code;
  if (signal?.aborted === true) {
    const timedOut = (signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError';
    return new AppserviceRequestError(asId, 'timeout', `${where}: ${timedOut ? 'deadline passed' : 'aborted'}`, {
      cause: error,
    });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new AppserviceRequestError(asId, 'timeout', `${where}: timed out (${code})`, { cause: error });
  }
  const shown = typeof code === 'string' ? ` (${code})` : '';
  return new AppserviceRequestError(asId, 'connection', `${where}: connection failed${shown}`, { cause: error });
}
