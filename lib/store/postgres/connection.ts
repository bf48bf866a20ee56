/**
 * PostgresStore's dealings with the driver that are not about queues: where it connects (said
 * without credentials), driver errors as one line, and a transaction on a pooled client.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * What PostgresStore's write operations work with: the pool, the schema-qualified name of a table,
 * and the store's birth (see txn-id.ts), read once at open.
 */
export interface StoreTables {
  readonly pool: pg.Pool;
  readonly t: (table: string) => string;
  readonly birth: string;
}

/** SQL for a `transactions` row's id as the AS sees it (see formatTxnId). */
export const TXN_ID_SQL = "concat_ws('.', nullif(id_prefix, ''), txn_id::text)";

const statementNames = new Map<string, string>();

/**
 * A named (prepared) statement for `text`: each pooled connection parses and plans it once, not
 * on every call. The name is derived from the text, so stores on other schemas sharing a pool
 * never collide (the driver refuses one name for two texts).
 *
 * @example
 * ```ts
 * await client.query({ ...named('SELECT 1 WHERE $1::int > 0'), values: [1] });
 * ```
 */
export function named(text: string): { readonly name: string; readonly text: string } {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `koa_appservice_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return { name, text };
}

/**
 * The items' seqs as a PostgreSQL array literal (`{1,2,3}`), for a `$n::bigint[]` parameter. The
 * driver would escape and quote every element of a JS array; seqs are integers and need neither.
 */
export function seqArray(items: readonly { readonly seq: number }[]): string {
  return `{${items.map((item) => item.seq).join(',')}}`;
}

/**
 * `value` as a PostgreSQL string literal, for statements sent several to a round trip (the simple
 * query protocol has no parameters). The E'' form reads the same whatever
 * standard_conforming_strings says. Native replaces: the driver's own escapeLiteral goes
 * character by character, which shows on 30 KB transaction bodies.
 *
 * @example
 * ```ts
 * sqlLiteral("it's"); // "E'it''s'"
 * ```
 */
export function sqlLiteral(value: string): string {
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Anything that runs SQL: a pool, a pooled client, or the homeserver's own client (outbox). */
export type Queryable = Pick<pg.ClientBase, 'query'>;

export function isQueryable(value: unknown): value is Queryable {
  return typeof (value as { query?: unknown } | null)?.query === 'function';
}

/** What `pg` reads as a location: a postgres(ql):// or socket: URL, or a socket directory path. */
export function looksLikeConnectionString(value: string): boolean {
  if (value.startsWith('/')) return true;
  try {
    return ['postgres:', 'postgresql:', 'socket:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * `postgres://host:port/database`: where the store connects, for error messages. The user name
 * and password are left out, and so are the query parameters.
 *
 * @example
 * ```ts
 * describeConnection('postgres://hs:secret@db.example:5432/synapse'); // 'postgres://db.example:5432/synapse'
 * ```
 */
export function describeConnection(connectionString: string | undefined, config: pg.ClientConfig = {}): string {
  if (connectionString) {
    try {
      const url = new URL(connectionString);
      return `${url.protocol}//${url.host}${url.pathname}`;
    } catch {
      return `(socket ${connectionString.split(' ')[0]})`;
    }
  }
  return `postgres://${config.host ?? 'localhost'}:${config.port ?? 5432}/${config.database ?? ''}`;
}

/** A driver error as one line; connection failures to several addresses come as an AggregateError with no message. */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(errorText).join('; ');
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

/**
 * What ends a transaction after its work: COMMIT (true), ROLLBACK (false), or nothing because the
 * work sent its last statement and COMMIT in one round trip ('committed').
 */
export type Ending = boolean | 'committed';

/**
 * Runs `work` in a transaction on a pooled client; commits when `commit(result)` says so, else
 * rolls back; rolls back and rethrows when `work` throws. `begin` opens the transaction: a caller
 * may put more into that first round trip (fence.ts takes a row lock there), or refuse to go on;
 * what it resolves to is handed to `work`.
 *
 * @example
 * ```ts
 * const id = await inTransaction(pool, async (c) => (await c.query('INSERT ... RETURNING id')).rows[0].id, () => true);
 * ```
 */
export async function inTransaction<T, B = unknown>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, begun: B) => Promise<T>,
  commit: (result: T) => Ending,
  begin: (client: pg.PoolClient) => Promise<B> = (client) => client.query('BEGIN') as Promise<B>,
): Promise<T> {
  const client = await pool.connect();
  try {
    const begun = await begin(client);
    const result = await work(client, begun);
    const ending = commit(result);
    if (ending !== 'committed') await client.query(ending ? 'COMMIT' : 'ROLLBACK');
    client.release();
    return result;
  } catch (err) {
    // A client whose ROLLBACK fails is in an unknown state: destroy it rather than reuse it.
    const broken = await client.query('ROLLBACK').then(
      () => false,
      () => true,
    );
    client.release(broken);
    throw err;
  }
}
