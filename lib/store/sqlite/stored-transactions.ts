/**
 * How SqliteStore hands a stored transaction out again: from its row, and, for a row stored
 * without a body (schema version 5 on), with the body rebuilt from its items.
 *
 * A transaction's items are its AS's queue rows after the previous stored transaction's
 * `last_seq` (none before it: from the head of the queue) up to its own `last_seq`: transactions
 * take consecutive runs of the queue, and acknowledging or setting one aside deletes its run.
 * The sender's builder is pure, so those rows rebuild the bytes first sent.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../../errors.ts';
import { buildBody } from '../batch.ts';
import type { ItemKind, QueuedItem, StoredTransaction, TransactionBuilder } from '../store.ts';
import { TRANSACTION_COLUMNS, toStoredTransaction, type TransactionRow } from '../transaction-row.ts';
import { formatTxnId } from '../txn-id.ts';

/** A `transactions` row with its range's end. */
export interface SqliteTransactionRow extends TransactionRow {
  readonly txn_id: number;
  readonly last_seq: number;
}

/** The select list that fills a SqliteTransactionRow. */
export const SQLITE_TRANSACTION_COLUMNS = `${TRANSACTION_COLUMNS}, last_seq`;

/** Rebuilds transactions stored without a body. */
export interface StoredTransactions {
  /**
   * The transaction of `row`: its stored body, or `build` over its items. `operation` names the
   * Store method in the TypeError thrown when a body must be rebuilt and no `build` was given.
   */
  toStored(
    operation: string,
    asId: string,
    row: SqliteTransactionRow,
    build: TransactionBuilder | undefined,
  ): StoredTransaction;
}

/**
 * Prepares the statement that reads a transaction's items, on an open, migrated database.
 *
 * @example
 * const stored = storedTransactions(db);
 * const txn = row ? stored.toStored('inFlight', 'irc', row, build) : null;
 */
export function storedTransactions(db: Database.Database): StoredTransactions {
  const items = db
    .prepare<[string, string, number, number], [number, ItemKind, string]>(
      `SELECT seq, kind, json FROM queue WHERE as_id = ?
       AND seq > coalesce((SELECT max(last_seq) FROM transactions WHERE as_id = ? AND txn_id < ?), 0)
       AND seq <= ? ORDER BY seq`,
    )
    .raw();

  return {
    toStored(operation, asId, row, build) {
      if (row.body !== null) return toStoredTransaction(asId, row);
      const txnId = formatTxnId(row.id_prefix, row.txn_id);
      if (build === undefined) {
        throw new TypeError(
          `SqliteStore.${operation}(): transaction ${txnId} of ${asId} is stored without its body; ` +
            'pass the TransactionBuilder it was created with, which rebuilds it',
        );
      }
      const rows = items.all(asId, asId, row.txn_id, row.last_seq);
      const expected =
        row.event_count + row.ephemeral_count + row.to_device_count + row.device_list_count + row.key_counts_count;
      // Fewer rows than counted would rebuild other bytes than were sent under this id: refuse.
      if (rows.length !== expected) {
        throw new StoreError(
          `sqlite store: transaction ${txnId} of ${asId} has ${expected} items, but ${rows.length} are queued for it`,
        );
      }
      const queued: QueuedItem[] = rows.map(([seq, kind, json]) => ({ seq, kind, json }));
      return toStoredTransaction(asId, row, buildBody(build, queued));
    },
  };
}
