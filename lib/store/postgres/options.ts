/**
 * PostgresStore's constructor options: their defaults (from lib/options.ts) and their checks.
 */
import type pg from 'pg';
import { OptionsError } from '../../errors.ts';
import { storeDefaults } from '../../options.ts';
import { looksLikeConnectionString } from './connection.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. Needed unless `pool` is given. */
  readonly connectionString?: string;
  /** Use this pool instead of opening one; `close()` then leaves it open for its owner. */
  readonly pool?: pg.Pool;
  /** Size of the pool the store opens. Default 10 (`storeDefaults.postgresPoolSize`). */
  readonly max?: number;
  /** Schema holding the tables, created when missing. Default `koa_appservice`. */
  readonly schema?: string;
  /** Give up connecting after this long. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** How often a held sender lock checks its connection. Default 5000 ms; 0 turns it off. */
  readonly lockHeartbeatMs?: number;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export interface ResolvedPostgresOptions {
  readonly connectionString: string | undefined;
  readonly pool: pg.Pool | undefined;
  readonly max: number;
  readonly schema: string;
  readonly connectTimeoutMs: number;
  readonly lockHeartbeatMs: number;
}

/**
 * The options with their defaults filled in; throws an OptionsError (source `PostgresStore`)
 * naming the first bad one.
 *
 * @example
 * ```ts
 * resolvePostgresOptions({ connectionString: 'postgres://hs@db/hs' }).schema; // 'koa_appservice'
 * ```
 */
export function resolvePostgresOptions(options: PostgresStoreOptions): ResolvedPostgresOptions {
  const bad = (option: string, reason: string): OptionsError => new OptionsError(option, reason, 'PostgresStore');
  if (typeof options !== 'object' || options === null) throw bad('options', 'must be an object');
  const {
    connectionString,
    pool,
    max = storeDefaults.postgresPoolSize,
    schema = storeDefaults.postgresSchema,
    connectTimeoutMs = storeDefaults.postgresConnectTimeoutMs,
    lockHeartbeatMs = storeDefaults.postgresLockHeartbeatMs,
  } = options;
  if (!pool && (typeof connectionString !== 'string' || connectionString === '')) {
    throw bad('connectionString', 'give options.connectionString or options.pool');
  }
  // Not echoed: a mistyped string may still hold a password.
  if (!pool && !looksLikeConnectionString(connectionString!)) {
    throw bad('connectionString', 'must be a postgres://user:password@host:port/database URL');
  }
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw bad('schema', 'must be a plain SQL identifier (letters, digits, _)');
  }
  if (!Number.isSafeInteger(max) || max < 1) throw bad('max', `must be a positive integer, got ${String(max)}`);
  if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
    throw bad('connectTimeoutMs', `must be a positive integer, got ${String(connectTimeoutMs)}`);
  }
  if (!Number.isSafeInteger(lockHeartbeatMs) || lockHeartbeatMs < 0) {
    throw bad(
      'lockHeartbeatMs',
      `must be a non-negative integer (0 turns the heartbeat off), got ${String(lockHeartbeatMs)}`,
    );
  }
  return { connectionString, pool, max, schema, connectTimeoutMs, lockHeartbeatMs };
}
