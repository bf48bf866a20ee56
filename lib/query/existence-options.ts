/**
 * The options of {@link ExistenceQueries}, checked and completed with the library's defaults
 * (lib/options.ts), so that queries built by hand behave like the ones `appservices()` builds.
 */
import { OptionsError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { attemptTimeoutFor, defaults, functionOption, integerOption } from '../options.ts';

export interface ExistenceOptions {
  /**
   * Budget of one ensure call for AS work (every AS, every retry), and the least a shared walk
   * gets even when the caller who started it asked for less. Default `queryDeadlineMs` (10 000).
   */
  readonly deadlineMs?: number;
  /** How long "exists" is remembered. Default `positiveCacheTtlMs` (10 minutes). */
  readonly positiveTtlMs?: number;
  /** How long "absent" is remembered (0: not at all). Default `negativeCacheTtlMs` (30 000). */
  readonly negativeTtlMs?: number;
  /** Cache bound, users and aliases together. Default `cacheMaxEntries` (10 000). */
  readonly maxEntries?: number;
  /** How long an AS that failed is skipped before one probe request is let through. Default `appserviceDownForMs` (5 000). */
  readonly downForMs?: number;
  /** Time for one attempt, below the deadline so a hung AS gets several. Default a third of `deadlineMs`. */
  readonly attemptTimeoutMs?: number;
  /** Attempts in flight to one AS at once. Default `queryConcurrencyPerAppservice` (8). */
  readonly concurrency?: number;
  /** Attempts waiting for one AS beyond those in flight; more fail at once. Default `queryQueuePerAppservice` (1 000). */
  readonly queueLimit?: number;
  /** Called when a query to an AS succeeds after it was down: the plugin wakes its sender. */
  readonly onAppserviceUp?: (asId: string) => void;
  /** Called when an answer comes from the cache instead of an AS (for metrics). */
  readonly onCacheHit?: (kind: 'users' | 'aliases') => void;
  /** Called each time an AS refuses the homeserver's hs_token (401/403) on a query (for metrics). */
  readonly onTokenRejected?: (asId: string) => void;
  /** Called each time a query is refused at once because the AS's query queue is full (for metrics). */
  readonly onQueueFull?: (asId: string) => void;
  /** Where a refused hs_token is reported (at most once a minute per AS). Default: nowhere. */
  readonly logger?: Logger;
  /** Backoff between attempts. Defaults `queryRetryMinDelayMs`, `queryRetryMaxDelayMs`, `queryMaxAttempts`. */
  readonly retry?: {
    readonly minDelayMs?: number;
    readonly maxDelayMs?: number;
    readonly maxAttempts?: number;
    /** Source of jitter in [0, 1); for deterministic tests. */
    readonly random?: () => number;
  };
}

export interface ExistenceSettings {
  readonly deadlineMs: number;
  readonly positiveTtlMs: number;
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
  readonly downForMs: number;
  readonly attemptTimeoutMs: number;
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly onAppserviceUp: ((asId: string) => void) | undefined;
  readonly onCacheHit: ((kind: 'users' | 'aliases') => void) | undefined;
  readonly onTokenRejected: ((asId: string) => void) | undefined;
  readonly onQueueFull: ((asId: string) => void) | undefined;
  readonly logger: Logger | undefined;
  readonly retry: {
    readonly minDelayMs: number;
    readonly maxDelayMs: number;
    readonly maxAttempts: number;
    readonly random?: () => number;
  };
}

/**
 * Every option of the queries, defaults applied; a bad one throws an `OptionsError` naming it.
 *
 * @example
 * resolveExistenceOptions({ deadlineMs: 5_000 }).negativeTtlMs; // 30 000
 */
export function resolveExistenceOptions(options: ExistenceOptions = {}): ExistenceSettings {
  const source = 'ExistenceQueries';
  const retry = options.retry ?? {};
  if (typeof retry !== 'object' || retry === null) throw new OptionsError('retry', 'must be an object', source);
  const minDelayMs = integerOption(retry.minDelayMs, 'retry.minDelayMs', source, defaults.queryRetryMinDelayMs, 0);
  const maxDelayMs = integerOption(
    retry.maxDelayMs,
    'retry.maxDelayMs',
    source,
    Math.max(minDelayMs, defaults.queryRetryMaxDelayMs),
    0,
  );
  if (maxDelayMs < minDelayMs)
    throw new OptionsError('retry.maxDelayMs', `must be at least retry.minDelayMs (${minDelayMs})`, source);
  const random = functionOption(retry.random, 'retry.random', source);
  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function')) {
    throw new OptionsError('logger', 'must have an error() method (a pino logger fits)', source);
  }
  const deadlineMs = integerOption(options.deadlineMs, 'deadlineMs', source, defaults.queryDeadlineMs);
  return {
    deadlineMs,
    positiveTtlMs: integerOption(options.positiveTtlMs, 'positiveTtlMs', source, defaults.positiveCacheTtlMs),
    negativeTtlMs: integerOption(options.negativeTtlMs, 'negativeTtlMs', source, defaults.negativeCacheTtlMs, 0),
    maxEntries: integerOption(options.maxEntries, 'maxEntries', source, defaults.cacheMaxEntries),
    downForMs: integerOption(options.downForMs, 'downForMs', source, defaults.appserviceDownForMs, 0),
    attemptTimeoutMs: integerOption(
      options.attemptTimeoutMs,
      'attemptTimeoutMs',
      source,
      attemptTimeoutFor(deadlineMs),
    ),
    concurrency: integerOption(options.concurrency, 'concurrency', source, defaults.queryConcurrencyPerAppservice),
    queueLimit: integerOption(options.queueLimit, 'queueLimit', source, defaults.queryQueuePerAppservice, 0),
    onAppserviceUp: functionOption(options.onAppserviceUp, 'onAppserviceUp', source),
    onCacheHit: functionOption(options.onCacheHit, 'onCacheHit', source),
    onTokenRejected: functionOption(options.onTokenRejected, 'onTokenRejected', source),
    onQueueFull: functionOption(options.onQueueFull, 'onQueueFull', source),
    logger,
    retry: {
      minDelayMs,
      maxDelayMs,
      maxAttempts: integerOption(retry.maxAttempts, 'retry.maxAttempts', source, defaults.queryMaxAttempts),
      ...(random === undefined ? {} : { random }),
    },
  };
}
