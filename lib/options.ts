import { OptionsError } from './errors.ts';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Host } from './host.ts';
import type { Logger } from './logger.ts';
import type { Store } from './store/store.ts';

/**
 * Options of `appservices()`. Every duration carries its unit in its name; every field but
 * `registrations` and `host` has a default.
 *
 * @example
 * const as = await appservices({
 *   registrations: ['./registrations/*.yaml'],
 *   host,
 *   store: new SqliteStore('./appservice.db'),
 *   queryDeadlineMs: 5_000,
 * });
 */
export interface AppservicesOptions {
  /** Registration files, globs, or already-parsed registration objects. */
  readonly registrations: ReadonlyArray<string | Readonly<Record<string, unknown>>>;
  /** What the library asks the homeserver (users, aliases, rooms). */
  readonly host: Host;
  /** The durable queue. Default: a SqliteStore at `databasePath`. */
  readonly store?: Store;
  /** Where the default SqliteStore keeps its file. Default `./appservice.db`. */
  readonly databasePath?: string;
  /** The deadline of one blocking user/alias query, retries included. Default 10 000. */
  readonly queryDeadlineMs?: number;
  /** How long "this exists" is remembered. Default 10 minutes. */
  readonly positiveCacheTtlMs?: number;
  /** How long "the AS says no" is remembered. Default 30 s. */
  readonly negativeCacheTtlMs?: number;
  /** Bound on remembered query answers. Default 10 000. */
  readonly cacheMaxEntries?: number;
  /** First delay after a failed transaction; it doubles up to `backoffMaxMs`. Default 1 000. */
  readonly backoffInitialMs?: number;
  /** Default 60 000. */
  readonly backoffMaxMs?: number;
  /** Connections kept open to each AS. Default 8. */
  readonly connectionsPerAppservice?: number;
  /** TCP connect budget of one request to an AS. Default 5 000. */
  readonly connectTimeoutMs?: number;
  /** How long an AS may take to start answering one request. Default 30 000 (a query may create a room first). */
  readonly headersTimeoutMs?: number;
  /** How long an AS's answer body may take to arrive, whole. Default 30 000. */
  readonly bodyTimeoutMs?: number;
  /** Larger answers from an AS are refused. Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** A pushed transaction's body stays under this (an AS answering 413 gets smaller ones). Default 1 000 000. */
  readonly maxTransactionBytes?: number;
  /**
   * How long an AS found to answer only on the draft's unprefixed paths is asked there before the
   * v1 paths are tried again (the spec asks homeservers to re-try them). Default 10 minutes.
   */
  readonly legacyReprobeMs?: number;
  /** How long an AS whose queries failed is skipped before one probe query is let through. Default 5 000. */
  readonly appserviceDownForMs?: number;
  /** First wait between two attempts of a query; later waits double. Default 100. */
  readonly queryRetryMinDelayMs?: number;
  /** Longest wait between two attempts of a query (a longer Retry-After from the AS is honoured). Default 5 000. */
  readonly queryRetryMaxDelayMs?: number;
  /** Most attempts one query makes within its deadline. Default 50. */
  readonly queryMaxAttempts?: number;
  /**
   * Time for one attempt of a query, so that a hung AS gets several attempts within the deadline.
   * Default a third of `queryDeadlineMs`.
   */
  readonly queryAttemptTimeoutMs?: number;
  /** Query attempts in flight to one AS at once; more wait in a queue. Default 8, the pool's size. */
  readonly queryConcurrencyPerAppservice?: number;
  /** Queries waiting for one AS beyond those in flight; further ones fail at once. Default 1 000. */
  readonly queryQueuePerAppservice?: number;
  /** Where the plugin logs. Default: silent. A pino logger fits. */
  readonly logger?: Logger;
  /** A prom-client registry to put the plugin's metrics on (see lib/metrics.ts). Default: no metrics. */
  readonly metricsRegistry?: MetricsRegistry;
  /**
   * False on a homeserver without the Legacy authentication API (next-generation auth): every AS
   * then gets `400 M_APPSERVICE_LOGIN_UNSUPPORTED` for an `m.login.application_service` login and
   * for `/register` without `"inhibit_login": true`, as the spec requires. Default true.
   */
  readonly legacyLogin?: boolean;
  /** Unstable MSCs, each off by default, like Synapse's `experimental_features` (README, "Encrypted bridges"). */
  readonly experimentalFeatures?: ExperimentalFeatures;
}

/**
 * `msc3983`: proxy one-time key claims to ASes (`claimKeys`); `msc3984`: proxy key queries (`queryKeys`);
 * `msc4190`: ASes with `io.element.msc4190` manage their users' devices (`ctx.state.deviceManagement`).
 */
export interface ExperimentalFeatures {
  readonly msc3983?: boolean;
  readonly msc3984?: boolean;
  /**
   * MSC3202 transaction extensions (device lists, one-time key counts, unused fallback key types)
   * for ASes whose registration sets `org.matrix.msc3202: true`; like Synapse's
   * `msc3202_transaction_extensions`. The homeserver reports with `publishDeviceListUpdate` and
   * `publishKeyCounts`.
   */
  readonly msc3202?: boolean;
  readonly msc4190?: boolean;
}
export const experimentalDefaults: Required<ExperimentalFeatures> = Object.freeze({
  msc3983: false,
  msc3984: false,
  msc3202: false,
  msc4190: false,
});

export interface ResolvedOptions {
  readonly queryDeadlineMs: number;
  readonly positiveCacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  readonly cacheMaxEntries: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly connectionsPerAppservice: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxTransactionBytes: number;
  readonly legacyReprobeMs: number;
  readonly appserviceDownForMs: number;
  readonly queryRetryMinDelayMs: number;
  readonly queryRetryMaxDelayMs: number;
  readonly queryMaxAttempts: number;
  readonly queryAttemptTimeoutMs: number;
  readonly queryConcurrencyPerAppservice: number;
  readonly queryQueuePerAppservice: number;
  readonly databasePath: string;
  readonly legacyLogin: boolean;
}

/**
 * Every default of the library, in one place: `appservices()` and every constructor a homeserver
 * may call itself (`AppserviceClient`, `ExistenceQueries`, `withRetries`) read them from here.
 */
export const defaults: ResolvedOptions = Object.freeze({
  queryDeadlineMs: 10_000,
  positiveCacheTtlMs: 10 * 60_000,
  negativeCacheTtlMs: 30_000,
  cacheMaxEntries: 10_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 60_000,
  connectionsPerAppservice: 8,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  maxResponseBytes: 1024 * 1024,
  maxTransactionBytes: 1_000_000,
  legacyReprobeMs: 10 * 60_000,
  appserviceDownForMs: 5_000,
  queryRetryMinDelayMs: 100,
  queryRetryMaxDelayMs: 5_000,
  queryMaxAttempts: 50,
  queryAttemptTimeoutMs: attemptTimeoutFor(10_000),
  queryConcurrencyPerAppservice: 8,
  queryQueuePerAppservice: 1_000,
  databasePath: './appservice.db',
  legacyLogin: true,
});

/**
 * The per-attempt timeout that goes with a query deadline when none is given: a third of it, so
 * that an AS that hangs gets three attempts (the spec: "retry several times before timing out").
 *
 * @example
 * attemptTimeoutFor(10_000); // 3 334
 */
export function attemptTimeoutFor(deadlineMs: number): number {
  return Math.ceil(deadlineMs / 3);
}

/**
 * An integer option of a constructor: `fallback` when undefined, else at least `min`, or an
 * {@link OptionsError} naming the option and the constructor (`source`).
 *
 * @example
 * const connections = integerOption(options.connections, 'connections', 'AppserviceClient', defaults.connectionsPerAppservice);
 */
export function integerOption(value: unknown, option: string, source: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what =
      min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
    throw new OptionsError(option, `must be ${what}, got ${JSON.stringify(value)}`, source);
  }
  return value;
}

/**
 * A callback option of a constructor: undefined, or a function.
 *
 * @example
 * const onUp = functionOption(options.onAppserviceUp, 'onAppserviceUp', 'ExistenceQueries');
 */
export function functionOption<F extends (...args: never[]) => unknown>(
  value: F | undefined,
  option: string,
  source: string,
): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new OptionsError(option, 'must be a function', source);
  return value;
}

/**
 * Defaults of the push side (`Sender`, `Senders`), beside the backoff ones above: items per
 * transaction by kind (the spec sets no limit; Synapse sends 100 of each; the MSC3202 kinds are
 * coalesced per user and device in the body, so 100 updates weigh at most 100 entries) and how often a
 * standby process tries to become an AS's sender (stores shared by several processes).
 */
export const pushDefaults = Object.freeze({
  limits: Object.freeze({ event: 100, ephemeral: 100, toDevice: 100, deviceList: 100, keyCounts: 100 }),
  electIntervalMs: 1_000,
});

/**
 * Push defaults beyond the counts above. `maxTransactionBytes`: a transaction body stays under
 * 1 000 000 bytes, below the request limits ASes commonly sit behind: nginx's default
 * `client_max_body_size 1m` and aiohttp's default `client_max_size` of 1 MiB (mautrix-python
 * bridges), and matrix-appservice-node's 5 000 000. Everyday traffic (events of a few KB, 100 per
 * transaction) stays far below it; it binds only on bursts of large events. `attemptTimeoutMs`:
 * one attempt to send a transaction is given up after this, below the AS client's 30 s headers
 * timeout, so that a hung AS gets several attempts a minute rather than one.
 */
export const pushLimitDefaults = Object.freeze({
  maxTransactionBytes: defaults.maxTransactionBytes,
  attemptTimeoutMs: 15_000,
});

/**
 * Defaults of the stores' constructor options (`new SqliteStore(path, options)`,
 * `new PostgresStore(options)`); the stores read them from here.
 */
export const storeDefaults = Object.freeze({
  /** SqliteStore `synchronous`: a resolved enqueue survives a power cut. */
  sqliteSynchronous: 'full' as 'full' | 'normal',
  /** PostgresStore `max`: connections in the pool it opens. */
  postgresPoolSize: 10,
  /** PostgresStore `schema`. */
  postgresSchema: 'koa_appservice',
  /** PostgresStore `connectTimeoutMs`. */
  postgresConnectTimeoutMs: 10_000,
  /** PostgresStore `lockHeartbeatMs`: how often a held sender lock checks its connection. */
  postgresLockHeartbeatMs: 5_000,
});
