/**
 * The checks `appservices()` runs on its options before anything starts, and the defaults it fills
 * in: a mistake fails at start-up and names its option, rather than surfacing as a stalled queue
 * later. The options and their defaults themselves are in options.ts.
 */
import { OptionsError } from './errors.ts';
import type { Host } from './host.ts';
import {
  attemptTimeoutFor,
  defaults,
  integerOption,
  type AppservicesOptions,
  type ResolvedOptions,
} from './options.ts';

function positiveInteger(options: AppservicesOptions, name: keyof ResolvedOptions & keyof AppservicesOptions): number {
  return integerOption(options[name], name, 'appservices()', defaults[name] as number);
}

function hasFunction(value: object, name: string): boolean {
  return typeof (value as Record<string, unknown>)[name] === 'function';
}

/**
 * Checks everything up front, so that a mistake fails at start-up and names its option.
 *
 * @example
 * const resolved = resolveOptions({ registrations: ['./registrations/*.yaml'], host });
 * resolved.queryDeadlineMs; // 10 000 unless given
 */
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
    if (
      typeof registry !== 'object' ||
      registry === null ||
      !hasFunction(registry, 'registerMetric') ||
      !hasFunction(registry, 'metrics')
    ) {
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
    maxTransactionBytes: positiveInteger(options, 'maxTransactionBytes'),
    legacyReprobeMs: positiveInteger(options, 'legacyReprobeMs'),
    appserviceDownForMs: positiveInteger(options, 'appserviceDownForMs'),
    queryRetryMinDelayMs: positiveInteger(options, 'queryRetryMinDelayMs'),
    queryRetryMaxDelayMs: positiveInteger(options, 'queryRetryMaxDelayMs'),
    queryMaxAttempts: positiveInteger(options, 'queryMaxAttempts'),
    queryAttemptTimeoutMs: integerOption(
      options.queryAttemptTimeoutMs,
      'queryAttemptTimeoutMs',
      'appservices()',
      attemptTimeoutFor(positiveInteger(options, 'queryDeadlineMs')),
    ),
    queryConcurrencyPerAppservice: positiveInteger(options, 'queryConcurrencyPerAppservice'),
    queryQueuePerAppservice: integerOption(
      options.queryQueuePerAppservice,
      'queryQueuePerAppservice',
      'appservices()',
      defaults.queryQueuePerAppservice,
      0,
    ),
    databasePath: options.databasePath ?? defaults.databasePath,
    legacyLogin: options.legacyLogin ?? defaults.legacyLogin,
  };
  if (resolved.backoffMaxMs < resolved.backoffInitialMs) {
    throw new OptionsError('backoffMaxMs', `must be at least backoffInitialMs (${resolved.backoffInitialMs})`);
  }
  if (resolved.queryRetryMaxDelayMs < resolved.queryRetryMinDelayMs) {
    throw new OptionsError(
      'queryRetryMaxDelayMs',
      `must be at least queryRetryMinDelayMs (${resolved.queryRetryMinDelayMs})`,
    );
  }
  return resolved;
}
