import type pg from 'pg';
import { StoreError } from '../../errors.ts';
import { advisoryLockKey } from './advisory-locks.ts';
import { postgresMigrations } from './migrations/index.ts';

/** `"name"`: a schema name as an SQL identifier. Names are checked by PostgresStore beforehand. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The schema version of `schema`, 0 when it has no koa-appservice tables yet. */
export async function postgresSchemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const table = await client.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
    `${quoteIdent(schema)}.schema_version`,
  ]);
  if (!table.rows[0]?.exists) return 0;
  const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${quoteIdent(schema)}.schema_version`);
  return rows[0]?.version ?? 0;
}

/**
 * Brings `schema` up to the newest version this code knows, all pending migrations in one
 * transaction. A transaction-scoped advisory lock makes processes that open the same database at
 * once take turns: the first migrates, the others then find nothing to do. Refuses, before
 * writing anything, a schema from a newer koa-appservice: old code on a newer schema could
 * corrupt it.
 *
 * @example
 * ```ts
 * const client = await pool.connect();
 * try { await migratePostgres(client, 'koa_appservice', 'postgres://db.example/hs'); } finally { client.release(); }
 * ```
 */
export async function migratePostgres(
  client: pg.ClientBase,
  schema: string,
  where: string,
  migrations: readonly string[] = postgresMigrations,
): Promise<void> {
  const known = migrations.length;
  const id = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [
      advisoryLockKey(`koa-appservice:migrate:${schema}`),
    ]);
    // Look before CREATE SCHEMA: IF NOT EXISTS still needs the CREATE privilege on the database,
    // which a homeserver's role may lack when an administrator created the schema for it.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${id}`);
    const current = await postgresSchemaVersion(client, schema);
    if (current > known) {
      throw new StoreError(
        `PostgreSQL ${where}: schema "${schema}" is at version ${current}, this koa-appservice knows up to ${known}: upgrade koa-appservice`,
      );
    }
    if (current < known) {
      await client.query(`SET LOCAL search_path TO ${id}`);
      if (current === 0) await client.query('CREATE TABLE schema_version (version integer NOT NULL)');
      for (let version = current; version < known; version++) {
        try {
          await client.query(migrations[version]!);
        } catch (err) {
          throw new StoreError(
            `PostgreSQL ${where}: migration of schema "${schema}" to version ${version + 1} failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      await client.query('DELETE FROM schema_version');
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [known]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
