/**
 * One request to an AS and its whole answer, on undici's `dispatch` with a handler of our own.
 *
 * Why not `pool.request()` and a read of its body: that path builds a Readable stream, an async
 * resource and a headers object per answer, and a signal listener that lives until the stream's
 * `close`. For the `{}` an AS answers to a query that was some 13 µs of a ~110 µs loopback round
 * trip, more than everything the query layer adds. Here the chunks land in an array, the two
 * headers we read (content-length, retry-after) are read as they come, and the caller's signal is
 * wired straight to the request's abort.
 *
 * The guarantees are those of reading a body safely: the whole body up to a byte cap (an AS that
 * streams without end must not fill the homeserver's memory, and a declared length past the cap is
 * refused before any byte), within a time limit as a whole, checked as each chunk arrives (undici's
 * bodyTimeout is only the longest pause between chunks, so a body dribbling a byte at a time would
 * otherwise hold the caller forever; a body that stops sending is ended by that pause or by the
 * caller's deadline, with no timer of ours per answer), and an answer whose body no one reads (a 2xx to a transaction) settles on its status
 * while a small body is drained in the background so that the connection is reused.
 */
import type { Dispatcher, Pool } from 'undici';
import { AppserviceRequestError } from '../errors.ts';
import { Deadline, type AbortLike, type Governed } from './deadline.ts';
import { bodyError, transportError } from './request-errors.ts';
import { parseJson, retryAfterFromBody, type RawResponse } from './response.ts';
import { parseRetryAfter } from './retry-policy.ts';

/** A discarded answer body is read this far, for this long, to keep its connection; then dropped. */
const DISCARD_LIMIT_BYTES = 64 * 1024;
const DISCARD_WITHIN_MS = 1_000;

export interface ExchangeOptions {
  readonly asId: string;
  readonly method: string;
  /** The path as shown in errors (without the query string, which may hold the hs_token). */
  readonly shownPath: string;
  readonly signal: AbortLike | undefined;
  /** Larger bodies are refused (`body` error) and their connection dropped. */
  readonly maxBytes: number;
  /** The longest the whole body may take once the headers are in (`timeout` error). */
  readonly bodyWithinMs: number;
  readonly onTooLarge: (() => void) | undefined;
  /** A 2xx answer's body is read by no one: settle on the status, drain or drop the body. */
  readonly discardSuccessBody: boolean;
}

/**
 * Sends `request` on `pool` and resolves with the answer, or rejects with an
 * {@link AppserviceRequestError} (`connection`, `timeout` or `body`).
 *
 * @example
 * const res = await exchange(pool, { path: '/_matrix/app/v1/users/%40a%3Ahs', method: 'GET' }, {
 *   asId: 'irc', method: 'GET', shownPath: '/_matrix/app/v1/users/%40a%3Ahs', signal: deadline,
 *   maxBytes: 1 << 20, bodyWithinMs: 30_000, onTooLarge: undefined, discardSuccessBody: false,
 * });
 */
export function exchange(
  pool: Pool,
  request: Dispatcher.DispatchOptions,
  options: ExchangeOptions,
): Promise<RawResponse> {
  const { signal } = options;
  if (signal?.aborted === true) {
    return Promise.reject(transportError(options.asId, options.method, options.shownPath, signal.reason, signal));
  }
  return new Promise<RawResponse>((resolve, reject) => {
    pool.dispatch(request, new AnswerHandler(options, resolve, reject));
  });
}

/** Collects one answer; settles the exchange once, whatever undici calls after that. */
class AnswerHandler implements Dispatcher.DispatchHandler, Governed {
  readonly #options: ExchangeOptions;
  readonly #resolve: (response: RawResponse) => void;
  readonly #reject: (error: AppserviceRequestError) => void;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the caller's signal or a limit of ours ended the request, before undici knew. */
  #abortedFor: Error | undefined;
  #settled = false;
  #status = 0;
  #retryAfter: string | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  /** When the body must be complete; set with the headers. */
  #bodyEndAt = 0;
  #draining = false;
  #drainTimer: NodeJS.Timeout | undefined;
  readonly #onAbort: (() => void) | undefined;

  constructor(
    options: ExchangeOptions,
    resolve: (response: RawResponse) => void,
    reject: (error: AppserviceRequestError) => void,
  ) {
    this.#options = options;
    this.#resolve = resolve;
    this.#reject = reject;
    const { signal } = options;
    // A Deadline tells this handler directly; a standard signal gets a listener.
    if (signal instanceof Deadline) signal.govern(this);
    else if (signal !== undefined) {
      this.#onAbort = () => this.deadlineAborted(signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** The caller's signal fired: the caller is told now, even while the request waits for a connection. */
  deadlineAborted(reason: unknown): void {
    const { asId, method, signal } = this.#options;
    this.#fail(transportError(asId, method, this.#path, reason, signal));
    this.#abort(toError(reason));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortedFor !== undefined) controller.abort(this.#abortedFor);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx: the answer is still to come
    this.#status = statusCode;
    const retryAfter = headers['retry-after'];
    this.#retryAfter = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
    const { maxBytes, discardSuccessBody } = this.#options;
    if (discardSuccessBody && statusCode >= 200 && statusCode < 300) {
      this.#draining = true;
      this.#succeed({ status: statusCode, text: '', json: undefined, retryAfterMs: undefined, path: this.#path });
      this.#drainTimer = setTimeout(() => this.#abort(new Error('discarded answer body too slow')), DISCARD_WITHIN_MS);
      return;
    }
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      this.#tooLarge(`answer of ${declared} bytes exceeds the ${maxBytes} byte limit`);
      return;
    }
    this.#bodyEndAt = performance.now() + this.#options.bodyWithinMs;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#size += chunk.length;
    if (this.#draining) {
      if (this.#size > DISCARD_LIMIT_BYTES) this.#abort(new Error('discarded answer body too large'));
      return;
    }
    if (this.#settled) return;
    const { maxBytes, bodyWithinMs } = this.#options;
    if (this.#size > maxBytes) {
      this.#tooLarge(`answer exceeds the ${maxBytes} byte limit`);
      return;
    }
    this.#chunks.push(chunk);
    if (performance.now() > this.#bodyEndAt) {
      const { asId, method } = this.#options;
      const why = `answer still incomplete after ${bodyWithinMs} ms`;
      this.#fail(new AppserviceRequestError(asId, 'timeout', `${method} ${this.#path}: ${why}`));
      this.#abort(new Error(why));
    }
  }

  onResponseEnd(): void {
    if (this.#draining) {
      clearTimeout(this.#drainTimer);
      return;
    }
    const chunks = this.#chunks;
    const text =
      chunks.length === 0
        ? ''
        : chunks.length === 1
          ? chunks[0]!.toString('utf8')
          : Buffer.concat(chunks).toString('utf8');
    const json = parseJson(text);
    const retryAfterMs = parseRetryAfter(this.#retryAfter) ?? retryAfterFromBody(json);
    this.#succeed({ status: this.#status, text, json, retryAfterMs, path: this.#path });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.#drainTimer);
    const { asId, method, signal } = this.#options;
    this.#fail(transportError(asId, method, this.#path, error, signal));
  }

  get #path(): string {
    return this.#options.shownPath;
  }

  #tooLarge(why: string): void {
    this.#options.onTooLarge?.();
    this.#fail(bodyError(this.#options.asId, this.#options.method, this.#path, why));
    this.#abort(new Error(why));
  }

  /** Ends the request (and drops its connection); at once if it has started, else when it does. */
  #abort(reason: Error): void {
    this.#abortedFor ??= reason;
    this.#controller?.abort(reason);
  }

  #succeed(response: RawResponse): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#detach();
    this.#resolve(response);
  }

  #fail(error: AppserviceRequestError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#chunks = [];
    this.#detach();
    this.#reject(error);
  }

  #detach(): void {
    const { signal } = this.#options;
    if (signal instanceof Deadline) signal.release(this);
    else if (signal !== undefined && this.#onAbort !== undefined) signal.removeEventListener('abort', this.#onAbort);
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
