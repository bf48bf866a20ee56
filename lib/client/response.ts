/**
 * Reading an AS's answer safely: the whole body up to a byte cap (an AS that streams without end
 * must not fill the homeserver's memory), JSON when it is JSON, and Matrix's `retry_after_ms`.
 */
import type { Dispatcher } from 'undici';

/** What the transport saw; bodies are read whole (up to the cap) so the socket is reusable. */
export interface RawResponse {
  readonly status: number;
  readonly text: string;
  /** The parsed body, undefined when empty or not JSON. */
  readonly json: unknown;
  readonly retryAfterMs: number | undefined;
  readonly path: string;
}

/** A discarded answer body is read this far, for this long, to keep its connection; then dropped. */
const DISCARD_LIMIT_BYTES = 64 * 1024;
const DISCARD_WITHIN_MS = 1_000;

/** The body grew past the cap; the socket has been dropped. */
export class ResponseTooLargeError extends Error {}

/** The body did not arrive whole in time (a dribbling AS); the socket has been dropped. */
export class ResponseTooSlowError extends Error {}

/**
 * Reads the body as UTF-8, abandoning it (and its socket) as soon as it grows past `maxBytes` or
 * is still incomplete after `maxMs`. undici's bodyTimeout is only the longest pause between
 * chunks, so a body dribbling a byte at a time would otherwise hold the caller forever.
 *
 * @example
 * const text = await readCapped(await pool.request({ path: '/', method: 'GET' }), 1024 * 1024, 30_000);
 */
export async function readCapped(
  response: Dispatcher.ResponseData,
  maxBytes: number,
  maxMs: number,
  onTooLarge?: () => void,
): Promise<string> {
  const endAt = performance.now() + maxMs;
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    onTooLarge?.();
    throw new ResponseTooLargeError(`answer of ${declared} bytes exceeds the ${maxBytes} byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const body = response.body;
  // Events rather than `for await`: the async iterator costs a few µs per small answer.
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      body.off('data', onData);
      body.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        onTooLarge?.();
        return fail(new ResponseTooLargeError(`answer exceeds the ${maxBytes} byte limit`));
      }
      chunks.push(chunk);
      if (performance.now() > endAt) fail(new ResponseTooSlowError(`answer still incomplete after ${maxMs} ms`));
    };
    body.on('data', onData);
    body.once('end', resolve);
    body.once('error', reject);
  });
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

/**
 * The parsed body, or undefined when it is empty or not JSON.
 *
 * @example
 * parseJson('{"errcode":"M_NOT_FOUND"}'); // { errcode: 'M_NOT_FOUND' }
 * parseJson('<html>');                    // undefined
 */
export function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Matrix's own rate-limit hint, `retry_after_ms` in an M_LIMIT_EXCEEDED body.
 *
 * @example
 * retryAfterFromBody({ errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 500 }); // 500
 */
export function retryAfterFromBody(json: unknown): number | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const ms = (json as { retry_after_ms?: unknown }).retry_after_ms;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/**
 * An answer whose body no one reads (a 2xx to a transaction): a small body is drained in the
 * background so that the connection is reused; a large, slow or endless one is dropped with its
 * socket. Returns at once, with no body.
 *
 * @example
 * if (isSuccess(response.statusCode)) return discardBody(response, '/_matrix/app/v1/transactions/1');
 */
export function discardBody(response: Dispatcher.ResponseData, path: string): RawResponse {
  void response.body
    .dump({ limit: DISCARD_LIMIT_BYTES, signal: AbortSignal.timeout(DISCARD_WITHIN_MS) })
    .catch(() => {});
  return { status: response.statusCode, text: '', json: undefined, retryAfterMs: undefined, path };
}
