/**
 * When a request to an AS is worth repeating, how long to wait first, and the one loop that does
 * it under a single overall deadline.
 *
 * The rules follow the spec's advice to homeservers: network trouble, timeouts, 5xx and 429 are
 * transient and retried (429 after the delay the AS asked for); any other 4xx is an answer and is
 * never repeated. A wait that would end after the deadline is not started at all: the caller gets
 * the failure at once instead of sleeping only to fail later.
 */
import pRetry from 'p-retry';
import { AppserviceRequestError } from '../errors.ts';
import { Deadline } from './deadline.ts';
import { defaults } from '../options.ts';

export interface RetryOptions {
  /** The whole budget, every attempt and every wait included. Default `queryDeadlineMs` (10 000). */
  readonly deadlineMs?: number;
  /** Aborts the loop early (the client went away, the plugin is closing). */
  readonly signal?: AbortSignal | undefined;
  /** First backoff delay; later ones double. Default `queryRetryMinDelayMs` (100). */
  readonly minDelayMs?: number;
  /** Largest backoff delay (a Retry-After from the AS may be longer). Default `queryRetryMaxDelayMs` (5 000). */
  readonly maxDelayMs?: number;
  /** A hard bound on attempts, so that even a zero-delay policy cannot spin. Default `queryMaxAttempts` (50). */
  readonly maxAttempts?: number;
  /** Source of jitter in [0, 1); injectable so tests are deterministic. */
  readonly random?: () => number;
}

/**
 * Whether a failed attempt should be repeated.
 *
 * @example
 * isRetryable(new AppserviceRequestError('irc', 'status', 'HTTP 503', { status: 503 })); // true
 * isRetryable(new AppserviceRequestError('irc', 'status', 'HTTP 403', { status: 403 })); // false
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof AppserviceRequestError)) return false;
  switch (error.kind) {
    case 'connection':
    case 'timeout':
      return true;
    case 'status':
      return error.status !== undefined && (error.status >= 500 || error.status === 429);
    default:
      // An unusable body or a missing url will be the same on the next attempt.
      return false;
  }
}

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based): exponential backoff from
 * `minDelayMs` with jitter above it (so that many homeserver requests stuck on one AS do not retry
 * in lockstep, and no wait is ever shorter than `minDelayMs`), or what the AS asked for (Retry-After
 * or `retry_after_ms`) when that is longer. A hint of 0 is not an invitation to hammer: the backoff
 * still applies and still grows.
 *
 * @example
 * retryDelayMs(3, new Error('x'), { minDelayMs: 100, random: () => 0 }); // 400
 */
export function retryDelayMs(
  attempt: number,
  error: unknown,
  options: Pick<RetryOptions, 'minDelayMs' | 'maxDelayMs' | 'random'> = {},
): number {
  const min = options.minDelayMs ?? defaults.queryRetryMinDelayMs;
  const max = Math.max(min, options.maxDelayMs ?? defaults.queryRetryMaxDelayMs);
  const random = options.random ?? Math.random;
  const nominal = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  // Up to half again on top of the nominal delay, never past the cap.
  const backoff = Math.round(Math.min(max, nominal + (random() * nominal) / 2));
  if (error instanceof AppserviceRequestError && error.retryAfterMs !== undefined) {
    return Math.max(backoff, error.retryAfterMs);
  }
  return backoff;
}

/**
 * Parses an HTTP `Retry-After` header: delta-seconds or an HTTP date. Returns milliseconds from
 * `now`, or undefined when absent or unreadable (then ordinary backoff applies).
 *
 * @example
 * parseRetryAfter('2');                                  // 2000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now); // ms until then, 0 if past
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (text === '' || /^[-+]?\d/.test(text)) return undefined; // negative or fractional seconds: not HTTP
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the deadline passes. `attempt` receives the
 * signal that fires at the deadline and must pass it to the request. Always rejects with an
 * {@link AppserviceRequestError}: the last one seen, or a `timeout` one when time ran out first.
 *
 * @example
 * const exists = await withRetries('irc', (signal) => client.queryUser('@irc_bob:hs', signal), {
 *   deadlineMs: 10_000,
 * });
 */
export async function withRetries<T>(
  asId: string,
  attempt: (signal: Deadline) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const deadlineMs = options.deadlineMs ?? defaults.queryDeadlineMs;
  const deadline = new Deadline(deadlineMs, options.signal);
  const started = performance.now();
  try {
    // The first attempt runs outside p-retry: nearly every call succeeds at once, and p-retry's
    // bookkeeping measurably slows a ~70 µs loopback round trip.
    return await attempt(deadline);
  } catch (error) {
    return await retryAfter(error, { asId, attempt, deadline, deadlineMs, started, options });
  } finally {
    deadline.dispose();
  }
}

/**
 * The retries after a first attempt that the caller made on its own fast path (see
 * `QueryGate.takeNow`): the same loop as {@link withRetries} after its first failure, under
 * what is left of the same overall deadline, counted from `started` (a `performance.now()`).
 *
 * @example
 * const started = performance.now();
 * try {
 *   return await first;
 * } catch (error) {
 *   return await retryAfterFirst('irc', error, attempt, { deadlineMs: 10_000 }, started);
 * }
 */
export async function retryAfterFirst<T>(
  asId: string,
  firstError: unknown,
  attempt: (signal: Deadline) => Promise<T>,
  options: RetryOptions,
  started: number,
): Promise<T> {
  const deadlineMs = options.deadlineMs ?? defaults.queryDeadlineMs;
  const deadline = new Deadline(deadlineMs - (performance.now() - started), options.signal);
  try {
    return await retryAfter(firstError, { asId, attempt, deadline, deadlineMs, started, options });
  } finally {
    deadline.dispose();
  }
}

interface Loop<T> {
  readonly asId: string;
  readonly attempt: (signal: Deadline) => Promise<T>;
  readonly deadline: Deadline;
  readonly deadlineMs: number;
  readonly started: number;
  readonly options: RetryOptions;
}

/** Everything after a failed first attempt: p-retry with our delays, under the same deadline. */
async function retryAfter<T>(firstError: unknown, loop: Loop<T>): Promise<T> {
  const { asId, attempt, deadline, deadlineMs, started, options } = loop;
  let last: unknown = firstError;
  const shouldRetry = async (error: unknown, attemptNumber: number): Promise<boolean> => {
    last = error;
    if (deadline.aborted || !isRetryable(error)) return false;
    const wait = retryDelayMs(attemptNumber, error, options);
    if (wait >= deadlineMs - (performance.now() - started)) return false;
    await sleep(wait, deadline);
    // Time ran out while waiting: end with a timeout (the catch below), not the old failure.
    deadline.throwIfAborted();
    return true;
  };
  const maxAttempts = Math.max(1, options.maxAttempts ?? defaults.queryMaxAttempts);
  try {
    if (maxAttempts === 1 || !(await shouldRetry(firstError, 1))) throw firstError;
    return await pRetry(() => attempt(deadline), {
      retries: maxAttempts - 2,
      // Delays are ours (shouldRetry sleeps) because p-retry's own cannot honour Retry-After.
      // No `signal` for p-retry either: every attempt gets the deadline and checks it itself.
      minTimeout: 0,
      maxRetryTime: Math.max(0, deadlineMs - (performance.now() - started)),
      shouldRetry: ({ error, attemptNumber }) => shouldRetry(error, attemptNumber + 1),
      onFailedAttempt: ({ error }) => {
        last = error;
      },
    });
  } catch (error) {
    if (error instanceof AppserviceRequestError || !deadline.aborted) throw error;
    throw new AppserviceRequestError(
      asId,
      'timeout',
      deadline.timedOut ? `no answer within the ${deadlineMs} ms deadline` : 'request aborted by the caller',
      { cause: last },
    );
  }
}

/** Waits `ms`, or less when the deadline fires first (the caller then sees `aborted`). */
function sleep(ms: number, deadline: Deadline): Promise<void> {
  return new Promise((resolve) => {
    if (deadline.aborted) return resolve();
    const timer = setTimeout(() => {
      deadline.removeListener('abort', wake);
      resolve();
    }, ms);
    const wake = (): void => {
      clearTimeout(timer);
      resolve();
    };
    deadline.once('abort', wake);
  });
}
