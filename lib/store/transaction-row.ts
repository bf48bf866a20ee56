/**
 * A stored transaction as the SQL stores keep it (one row of `transactions`), and the one mapping
 * from such a row to the `StoredTransaction` the Store interface hands out.
 */
import type { ItemCounts, StoredTransaction } from './store.ts';
import { formatTxnId } from './txn-id.ts';

/** The columns both SQL stores select. PostgreSQL returns `bigint` as a string, SQLite as a number. */
export interface TransactionRow {
  readonly txn_id: number | string;
  /** The store's birth when the row was stored ('' for rows from before stores had one). */
  readonly id_prefix: string;
  /**
   * The body as stored, or null when the store keeps only the transaction's items and rebuilds
   * the body from them (SqliteStore from schema version 5): then the caller passes it in.
   */
  readonly body: string | null;
  readonly event_count: number;
  readonly ephemeral_count: number;
  readonly to_device_count: number;
  readonly device_list_count: number;
  readonly key_counts_count: number;
}

/** The select list that fills a TransactionRow. */
export const TRANSACTION_COLUMNS =
  'txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, device_list_count, key_counts_count';

/**
 * `body`: the body rebuilt from the transaction's items, for a row stored without one.
 *
 * @example
 * ```ts
 * const row = db.prepare(`SELECT ${TRANSACTION_COLUMNS} FROM transactions WHERE as_id = ?`).get('irc');
 * const txn = row ? toStoredTransaction('irc', row) : null;
 * ```
 */
export function toStoredTransaction(asId: string, row: TransactionRow, body?: string): StoredTransaction {
  const txnId = formatTxnId(row.id_prefix, row.txn_id);
  const sent = body ?? row.body;
  // A store that rebuilds bodies passes the rebuilt one; reaching here without either is its bug.
  if (sent === null) throw new TypeError(`transaction ${txnId} of ${asId} has no stored body and none was rebuilt`);
  return { asId, txnId, body: sent, counts: countsOf(row) };
}

/** The MSC3202 kinds only when the transaction carries some, as `BatchCut` counts them. */
function countsOf(row: TransactionRow): ItemCounts {
  const counts: { -readonly [K in keyof ItemCounts]: ItemCounts[K] } = {
    event: row.event_count,
    ephemeral: row.ephemeral_count,
    toDevice: row.to_device_count,
  };
  if (row.device_list_count > 0) counts.deviceList = row.device_list_count;
  if (row.key_counts_count > 0) counts.keyCounts = row.key_counts_count;
  return counts;
}
