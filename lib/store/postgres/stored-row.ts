/**
 * A stored transaction as PostgresStore reads it: the shared `TransactionRow` columns and the seqs
 * of its queue rows.
 */
import type { StoredTransaction } from '../store.ts';
import { TRANSACTION_COLUMNS, toStoredTransaction, type TransactionRow } from '../transaction-row.ts';
import { parseTxnId } from '../txn-id.ts';
import { named, type StoreTables } from './connection.ts';

/** A `transactions` row with its items' seqs (a PostgreSQL array, which the driver parses). */
export interface StoredRow extends TransactionRow {
  readonly seqs: readonly string[];
}

/** The select list that fills a StoredRow, unqualified. */
export const STORED_COLUMNS = `${TRANSACTION_COLUMNS}, seqs`;

/**
 * @example
 * ```ts
 * const txn = storedTransaction('irc', row);
 * ```
 */
export function storedTransaction(asId: string, row: StoredRow): StoredTransaction {
  return toStoredTransaction(asId, row);
}

/**
 * The AS's transaction in flight (its lowest stored id), or null.
 *
 * @example
 * ```ts
 * const txn = await readInFlight(tables, 'irc');
 * ```
 */
export async function readInFlight({ pool, t }: StoreTables, asId: string): Promise<StoredTransaction | null> {
  const { rows } = await pool.query<StoredRow>({
    ...named(`SELECT ${STORED_COLUMNS} FROM ${t('transactions')} WHERE as_id = $1 ORDER BY txn_id LIMIT 1`),
    values: [asId],
  });
  return rows[0] ? storedTransaction(asId, rows[0]) : null;
}

/**
 * The transaction stored after `txnId` (created ahead), or null; reads only.
 *
 * @example
 * ```ts
 * const ahead = await readNextStored(tables, 'irc', sent.txnId);
 * ```
 */
export async function readNextStored(
  { pool, t }: StoreTables,
  asId: string,
  txnId: string,
): Promise<StoredTransaction | null> {
  const key = parseTxnId(txnId);
  if (!key) return null;
  const { rows } = await pool.query<StoredRow>({
    ...named(
      `SELECT ${STORED_COLUMNS} FROM ${t('transactions')} WHERE as_id = $1 AND txn_id > $2 ORDER BY txn_id LIMIT 1`,
    ),
    values: [asId, key.n],
  });
  return rows[0] ? storedTransaction(asId, rows[0]) : null;
}
