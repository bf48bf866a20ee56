/**
 * PostgresStore's side of `OversizeSupport` (lib/store/dead-letters.ts). The `dead_letters` table
 * is created on first use (`IF NOT EXISTS`), outside the numbered migrations: a database without
 * dead letters never gets it.
 *
 * Splitting needs no transaction of its own: deleting a transaction row leaves its items queued
 * (a transaction only lists their seqs), so a crash between the delete and the creation that
 * follows loses nothing, and the refused id is gone either way.
 */
import type pg from 'pg';
import type { DeadLetter } from './dead-letters.ts';
import type { ItemKind } from './store.ts';

interface DeadLetterRow {
  id: string;
  kind: ItemKind;
  json: string;
  txn_id: string;
  reason: string;
  set_aside_at: string;
}

/**
 * The dead-letter statements of one schema (`t` qualifies a table name).
 *
 * @example
 * const dead = postgresDeadLetters(pool, (table) => `"koa_appservice".${table}`);
 * await dead.setAside('irc', 42, 'HTTP 413');
 */
export function postgresDeadLetters(pool: pg.Pool, t: (table: string) => string) {
  let created: Promise<unknown> | null = null;
  const table = (): Promise<unknown> => {
    created ??= pool
      .query(
        `CREATE TABLE IF NOT EXISTS ${t('dead_letters')} (
           id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           as_id        text   NOT NULL,
           kind         text   NOT NULL,
           json         text   NOT NULL,
           txn_id       bigint NOT NULL,
           reason       text   NOT NULL,
           set_aside_at bigint NOT NULL
         )`,
      )
      .catch((error: unknown) => {
        created = null; // tried again next time
        throw error;
      });
    return created;
  };

  return {
    /** Deletes `txnId` when it is the AS's transaction in flight; its items stay queued. */
    async dropInFlight(asId: string, txnId: number): Promise<boolean> {
      const { rowCount } = await pool.query(`DELETE FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2`, [asId, txnId]);
      return (rowCount ?? 0) > 0;
    },

    /** One statement, so atomic: the transaction goes, its items move to the dead letters. */
    async setAside(asId: string, txnId: number, reason: string): Promise<number> {
      await table();
      const { rowCount } = await pool.query(
        `WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2 RETURNING seqs),
              moved AS (DELETE FROM ${t('queue')} WHERE as_id = $1 AND seq IN (SELECT unnest(seqs) FROM done) RETURNING seq, kind, json)
         INSERT INTO ${t('dead_letters')} (as_id, kind, json, txn_id, reason, set_aside_at)
         SELECT $1, kind, json, $2, $3, $4 FROM moved ORDER BY seq`,
        [asId, txnId, reason, Date.now()]);
      return rowCount ?? 0;
    },

    async list(asId: string): Promise<DeadLetter[]> {
      await table();
      const { rows } = await pool.query<DeadLetterRow>(
        `SELECT id, kind, json, txn_id, reason, set_aside_at FROM ${t('dead_letters')} WHERE as_id = $1 ORDER BY id`, [asId]);
      return rows.map((row) => ({
        id: Number(row.id),
        asId,
        kind: row.kind,
        json: row.json,
        txnId: Number(row.txn_id),
        reason: row.reason,
        setAsideAt: Number(row.set_aside_at),
      }));
    },

    async get(asId: string, id: number): Promise<{ kind: ItemKind; json: string } | undefined> {
      await table();
      const { rows } = await pool.query<{ kind: ItemKind; json: string }>(
        `SELECT kind, json FROM ${t('dead_letters')} WHERE as_id = $1 AND id = $2`, [asId, id]);
      return rows[0];
    },

    async drop(asId: string, id: number): Promise<boolean> {
      await table();
      const { rowCount } = await pool.query(`DELETE FROM ${t('dead_letters')} WHERE as_id = $1 AND id = $2`, [asId, id]);
      return (rowCount ?? 0) > 0;
    },
  };
}
