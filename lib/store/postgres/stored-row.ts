/**
 * A stored transaction as PostgresStore reads it back. A row stored from schema version 5 on
 * keeps no body, only the seqs of its queue rows: the body is rebuilt from those rows, in seq
 * order, with the builder the sender created it with (a pure function of the items, so the same
 * bytes every time). A row stored before keeps its body and is handed out with exactly those bytes.
 */
import { StoreError } from '../../errors.ts';
import { buildBody } from '../batch.ts';
import type { ItemKind, QueuedItem, StoredTransaction, TransactionBuilder } from '../store.ts';
import { TRANSACTION_COLUMNS, toStoredTransaction, type TransactionRow } from '../transaction-row.ts';
import { formatTxnId, parseTxnId } from '../txn-id.ts';
import { named, type StoreTables } from './connection.ts';

/** A `transactions` row with how many items it holds; `body` is null when the row keeps none. */
export interface StoredRow extends Omit<TransactionRow, 'body'> {
  readonly body: string | null;
  readonly seq_count: number;
}

/** One item of a body-less transaction, on the rows that carry its transaction's columns. */
export interface ItemColumns {
  readonly seq: string | null;
  readonly kind: ItemKind | null;
  readonly json: string | null;
}

/**
 * The select list of a StoredRow and its seqs (for the join to its items), unqualified. Only the
 * count goes back to the client: the row comes once per item, and an array column would be
 * parsed again on every one of them.
 */
export const STORED_COLUMNS = `${TRANSACTION_COLUMNS}, seqs`;

/** The outer select list of a StoredRow from a subquery `alias` selecting STORED_COLUMNS. */
export function storedRowColumns(alias: string): string {
  return `${TRANSACTION_COLUMNS.split(', ')
    .map((column) => `${alias}.${column}`)
    .join(', ')}, cardinality(${alias}.seqs) AS seq_count`;
}

/**
 * `FROM <the transaction row as t>` joined to its queue rows when it keeps no body (none when it
 * keeps one): one row per item, or one row with null item columns.
 */
function withItems(t: (table: string) => string, transaction: string): string {
  return `SELECT ${storedRowColumns('t')}, q.seq, q.kind, q.json FROM (${transaction}) AS t
    LEFT JOIN LATERAL (
      SELECT seq, kind, json FROM ${t('queue')} WHERE as_id = $1 AND t.body IS NULL AND seq = ANY (t.seqs) ORDER BY seq
    ) AS q ON true`;
}

/**
 * The StoredTransaction of `rows` (its row, repeated with each of its items when it keeps no
 * body), or null for no rows. `build` rebuilds a missing body; without it, a TypeError naming
 * `method` says that the builder is needed.
 *
 * @example
 * ```ts
 * const txn = storedTransaction('irc', rows, build, 'inFlight');
 * ```
 */
export function storedTransaction(
  asId: string,
  rows: readonly (StoredRow & Partial<ItemColumns>)[],
  build: TransactionBuilder | undefined,
  method: string,
): StoredTransaction | null {
  const row = rows[0];
  if (!row) return null;
  if (row.body !== null) return toStoredTransaction(asId, { ...row, body: row.body });
  const txnId = formatTxnId(row.id_prefix, row.txn_id);
  const items: QueuedItem[] = [];
  for (const { seq, kind, json } of rows) if (seq != null) items.push({ seq: Number(seq), kind: kind!, json: json! });
  // Its queue rows go only with it (acknowledged or set aside): one missing is a damaged store,
  // and a body built from the rest would send other bytes under the same id.
  if (items.length !== row.seq_count) {
    throw new StoreError(`transaction ${txnId} of "${asId}" has ${items.length} of its ${row.seq_count} queue rows`);
  }
  return { ...toStoredTransaction(asId, { ...row, body: '' }), body: rebuild(asId, txnId, items, build, method) };
}

/**
 * The body of a transaction that keeps none, built from its items; without `build`, a TypeError
 * naming `method` says that the builder is needed.
 *
 * @example
 * ```ts
 * const body = rebuild('irc', entry.txnId, entry.items, build, 'nextStored');
 * ```
 */
export function rebuild(
  asId: string,
  txnId: string,
  items: readonly QueuedItem[],
  build: TransactionBuilder | undefined,
  method: string,
): string {
  if (!build) {
    throw new TypeError(
      `${method}(asId, build): transaction ${txnId} of "${asId}" keeps no body; pass the builder it was created with`,
    );
  }
  return buildBody(build, items);
}

/**
 * The AS's transaction in flight (its lowest stored id), or null.
 *
 * @example
 * ```ts
 * const txn = await readInFlight(tables, 'irc', build);
 * ```
 */
export async function readInFlight(
  { pool, t }: StoreTables,
  asId: string,
  build: TransactionBuilder | undefined,
): Promise<StoredTransaction | null> {
  const { rows } = await pool.query<StoredRow & ItemColumns>({
    ...named(
      withItems(t, `SELECT ${STORED_COLUMNS} FROM ${t('transactions')} WHERE as_id = $1 ORDER BY txn_id LIMIT 1`),
    ),
    values: [asId],
  });
  return storedTransaction(asId, rows, build, 'inFlight');
}

/**
 * The transaction stored after `txnId` (created ahead), or null; reads only.
 *
 * @example
 * ```ts
 * const ahead = await readNextStored(tables, 'irc', sent.txnId, build);
 * ```
 */
export async function readNextStored(
  { pool, t }: StoreTables,
  asId: string,
  txnId: string,
  build: TransactionBuilder | undefined,
): Promise<StoredTransaction | null> {
  const key = parseTxnId(txnId);
  if (!key) return null;
  const { rows } = await pool.query<StoredRow & ItemColumns>({
    ...named(
      withItems(
        t,
        `SELECT ${STORED_COLUMNS} FROM ${t('transactions')} WHERE as_id = $1 AND txn_id > $2 ORDER BY txn_id LIMIT 1`,
      ),
    ),
    values: [asId, key.n],
  });
  return storedTransaction(asId, rows, build, 'nextStored');
}
