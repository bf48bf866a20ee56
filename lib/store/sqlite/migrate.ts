import type Database from 'better-sqlite3';
import { StoreError } from '../../errors.ts';
import { sqliteMigrations } from './migrations/index.ts';

/** The schema version recorded in the database header (`PRAGMA user_version`); 0 when new. */
export function sqliteSchemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database at `path` up to the newest schema this code knows, all pending migrations
 * in one IMMEDIATE transaction (so two processes opening the same new file cannot both migrate,
 * and a failed migration leaves the previous version intact). Refuses, before writing anything, a
 * database from a newer koa-appservice: running old code on a newer schema could corrupt it.
 *
 * @example
 * ```ts
 * const db = new Database('./appservice.db');
 * migrateSqlite(db, './appservice.db'); // throws StoreError for a database from the future
 * ```
 */
export function migrateSqlite(
  db: Database.Database,
  path: string,
  migrations: readonly string[] = sqliteMigrations,
): void {
  const known = migrations.length;
  const refuseNewer = (version: number): void => {
    if (version > known) {
      throw new StoreError(
        `database ${path} is at schema version ${version}, this koa-appservice knows up to ${known}: upgrade koa-appservice`,
      );
    }
  };
  refuseNewer(sqliteSchemaVersion(db));
  if (sqliteSchemaVersion(db) === known) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const current = sqliteSchemaVersion(db);
    refuseNewer(current);
    for (let version = current; version < known; version++) {
      try {
        db.exec(migrations[version]!);
      } catch (err) {
        throw new StoreError(
          `database ${path}: migration to schema version ${version + 1} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    // user_version lives in the database header and commits or rolls back with the transaction.
    db.pragma(`user_version = ${known}`);
  }).immediate();
}
