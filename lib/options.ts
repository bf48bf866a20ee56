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
}

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
  readonly databasePath: string;
  readonly legacyLogin: boolean;
}

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
  databasePath: './appservice.db',
  legacyLogin: true,
});

function positiveInteger(options: AppservicesOptions, name: keyof ResolvedOptions & keyof AppservicesOptions): number {
  const value = options[name];
  if (value === undefined) return defaults[name] as number;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new OptionsError(name, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function hasFunction(value: object, name: string): boolean {
  return typeof (value as Record<string, unknown>)[name] === 'function';
}

/** Checks everything up front, so that a mistake fails at start-up and names its option. */
export function resolveOptions(options: AppservicesOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new OptionsError('options', 'must be an object');
  if (!Array.isArray(options.registrations) || options.registrations.length === 0) {
    throw new OptionsError('registrations', 'must be a non-empty array of file paths, globs or registration objects');
  }
  const host = options.host as unknown;
  if (typeof host !== 'object' || host === null) throw new OptionsError('host', 'must be an object implementing Host');
  if (typeof (host as Host).serverName !== 'string' || (host as Host).serverName === '') {
    throw new OptionsError('host', 'host.serverName must be a non-empty string');
  }
  for (const method of ['userExists', 'resolveAlias', 'roomAliases', 'joinedMembers']) {
    if (!hasFunction(host, method)) throw new OptionsError('host', `host.${method} must be a function`);
  }
  if (options.store !== undefined) {
    for (const method of ['open', 'enqueue', 'createTransaction', 'acknowledge', 'close']) {
      if (typeof options.store !== 'object' || options.store === null || !hasFunction(options.store, method)) {
        throw new OptionsError('store', `must implement Store (missing ${method}())`);
      }
    }
  }
  if (options.logger !== undefined) {
    for (const level of ['debug', 'info', 'warn', 'error']) {
      if (typeof options.logger !== 'object' || options.logger === null || !hasFunction(options.logger, level)) {
        throw new OptionsError('logger', `must have a ${level}() method (a pino logger fits)`);
      }
    }
  }
  if (options.metricsRegistry !== undefined) {
    const registry = options.metricsRegistry as unknown;
    if (typeof registry !== 'object' || registry === null || !hasFunction(registry, 'registerMetric') || !hasFunction(registry, 'metrics')) {
      throw new OptionsError('metricsRegistry', 'must be a prom-client Registry');
    }
  }
  if (options.databasePath !== undefined && (typeof options.databasePath !== 'string' || options.databasePath === '')) {
    throw new OptionsError('databasePath', 'must be a non-empty string');
  }
  if (options.legacyLogin !== undefined && typeof options.legacyLogin !== 'boolean') {
    throw new OptionsError('legacyLogin', `must be a boolean, got ${JSON.stringify(options.legacyLogin)}`);
  }
  const resolved: ResolvedOptions = {
    queryDeadlineMs: positiveInteger(options, 'queryDeadlineMs'),
    positiveCacheTtlMs: positiveInteger(options, 'positiveCacheTtlMs'),
    negativeCacheTtlMs: positiveInteger(options, 'negativeCacheTtlMs'),
    cacheMaxEntries: positiveInteger(options, 'cacheMaxEntries'),
    backoffInitialMs: positiveInteger(options, 'backoffInitialMs'),
    backoffMaxMs: positiveInteger(options, 'backoffMaxMs'),
    connectionsPerAppservice: positiveInteger(options, 'connectionsPerAppservice'),
    connectTimeoutMs: positiveInteger(options, 'connectTimeoutMs'),
    headersTimeoutMs: positiveInteger(options, 'headersTimeoutMs'),
    bodyTimeoutMs: positiveInteger(options, 'bodyTimeoutMs'),
    maxResponseBytes: positiveInteger(options, 'maxResponseBytes'),
    databasePath: options.databasePath ?? defaults.databasePath,
    legacyLogin: options.legacyLogin ?? defaults.legacyLogin,
  };
  if (resolved.backoffMaxMs < resolved.backoffInitialMs) {
    throw new OptionsError('backoffMaxMs', `must be at least backoffInitialMs (${resolved.backoffInitialMs})`);
  }
  return resolved;
}
