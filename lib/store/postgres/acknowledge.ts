/**
 * PostgresStore's `acknowledge`: deletes the acknowledged transaction and its queue rows in one
 * fenced database transaction of one round trip.
 *
 * Only the AS's transaction in flight (its lowest stored id) can be acknowledged: one created
 * ahead has not been sent yet. The commit does not wait for its WAL to reach the disk
 * (`synchronous_commit = off` for this transaction alone): an acknowledgement lost in a crash only
 * makes the sender resend a transaction the AS already has, same id and bytes, which it
 * deduplicates; and because the WAL is one sequential log, the next durable commit (the next
 * creation) flushes it along. So a draining queue pays one disk flush per creation, which stores
 * several transactions, rather than one per transaction sent.
 */
import type pg from 'pg';
import { parseTxnId } from '../txn-id.ts';
import { inTransaction, sqlLiteral, type StoreTables } from './connection.ts';
import { lockAsState, QUEUE_SCAN_SETTINGS, SenderFencedError } from './fence.ts';

/**
 * `txn_id = … AND id_prefix = …` for a parsed id, and the condition that it is the AS's lowest
 * stored transaction (the one in flight).
 */
export function inFlightKeySql(t: (table: string) => string, asIdSql: string, key: { birth: string; n: number }) {
  const sameId = `txn_id = ${key.n} AND id_prefix = ${sqlLiteral(key.birth)}`;
  return {
    sameId,
    lowest: `${sameId} AND txn_id = (SELECT min(txn_id) FROM ${t('transactions')} WHERE as_id = ${asIdSql})`,
  };
}

/**
 * Deletes the acknowledged transaction and its queue rows; a no-op unless `txnId` is the AS's
 * transaction in flight. BEGIN, the lock, the delete (which writes only while the sender epoch
 * is still `fence`) and COMMIT go in one simple query; a refused fence then rejects with
 * SenderFencedError, nothing written.
 *
 * @example
 * ```ts
 * await acknowledge(tables, 'irc', fence, sent.txnId);
 * ```
 */
export async function acknowledge(
  tables: StoreTables,
  asId: string,
  fence: string | undefined,
  txnId: string,
): Promise<void> {
  const acked = parseTxnId(txnId);
  if (!acked) return;
  const { pool, t } = tables;
  const asIdSql = sqlLiteral(asId);
  const { lowest } = inFlightKeySql(t, asIdSql, acked);
  const fenced =
    fence === undefined
      ? ''
      : ` AND (SELECT sender_epoch FROM ${t('as_state')} WHERE as_id = ${asIdSql}) = ${sqlLiteral(fence)}`;
  const text =
    `BEGIN; ${QUEUE_SCAN_SETTINGS} ${lockAsState(t, asIdSql)}` +
    ` WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = ${asIdSql} AND ${lowest}${fenced} RETURNING seqs)` +
    ` DELETE FROM ${t('queue')} WHERE as_id = ${asIdSql} AND seq = ANY ((SELECT seqs FROM done)::bigint[]);` +
    ' SET LOCAL synchronous_commit = off; COMMIT';
  const results = await inTransaction(
    pool,
    async (_client, begun: pg.QueryResult[]) => begun,
    () => 'committed',
    (client) => client.query(text) as unknown as Promise<pg.QueryResult[]>,
  );
  // The one SELECT of the lot reads the epoch, under the lock, before the DELETE.
  const epoch = (results.find((r) => r.command === 'SELECT')?.rows[0] as { sender_epoch: string } | undefined)
    ?.sender_epoch;
  if (fence !== undefined && epoch !== fence) throw new SenderFencedError(asId);
}
