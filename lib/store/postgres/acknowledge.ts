/**
 * PostgresStore's `acknowledge`: deletes acknowledged transactions and their queue rows in one
 * fenced database transaction of one round trip.
 *
 * Only the AS's transactions in flight can be acknowledged: the lowest stored id, and after it
 * the next ones when acknowledgements held back (stored-cache.ts) are written together. One
 * created ahead and not yet sent is never deleted. The commit does not wait for its WAL to reach
 * the disk (`synchronous_commit = off` for this transaction alone): an acknowledgement lost in a
 * crash only makes the sender resend a transaction the AS already has, same id and bytes, which
 * it deduplicates; and because the WAL is one sequential log, the next durable commit (the next
 * creation) flushes it along.
 */
import type pg from 'pg';
import { parseTxnId } from '../txn-id.ts';
import { inTransaction, sqlLiteral, type StoreTables } from './connection.ts';
import { lockAsState, QUEUE_SCAN_SETTINGS, SenderFencedError } from './fence.ts';

type Key = { readonly birth: string; readonly n: number };

/**
 * SQL for acknowledging `keys` (in order; the last is the one the caller names): `isIn`, a row is
 * one of them; `ctes`, the WITH entries `done`, the DELETE … RETURNING of those that are in
 * flight, that is with no other stored transaction of the AS before them, and `gone`, the seqs of
 * their queue rows, deleted.
 *
 * `seqs`, when the caller knows them (stored-cache.ts), are those of every key's queue rows: they
 * are then deleted by value, one walk of the index over their range with a hashed filter, as long
 * as `done` took every key; otherwise (a key already gone, or not in flight) by the seqs `done`
 * returns. A seq array known only at run time makes PostgreSQL descend the index once per element
 * and compare each row with the whole array: several times the cost, on every acknowledgement.
 */
export function acknowledgedSql(
  t: (table: string) => string,
  asIdSql: string,
  keys: readonly Key[],
  extra = '',
  seqs?: readonly number[],
) {
  const list = keys.map((key) => `(${key.n}, ${sqlLiteral(key.birth)})`).join(', ');
  const isIn = `(txn_id, id_prefix) IN (${list})`;
  const done = `done AS (DELETE FROM ${t('transactions')} AS d WHERE as_id = ${asIdSql} AND ${isIn}${extra}
             AND NOT EXISTS (SELECT 1 FROM ${t('transactions')} AS o WHERE o.as_id = ${asIdSql}
                             AND o.txn_id < d.txn_id AND (o.txn_id, o.id_prefix) NOT IN (${list}))
           RETURNING txn_id, seqs)`;
  // Built whole, never by editing SQL text: the AS id and schema name inside it are anyone's words.
  const returned = (condition: string) => `DELETE FROM ${t('queue')} WHERE as_id = ${asIdSql}
             AND seq = ANY (ARRAY(SELECT unnest(seqs) FROM done))${condition} RETURNING seq`;
  if (seqs === undefined || seqs.length === 0) return { isIn, ctes: `${done}, gone AS (${returned('')})` };
  const all = `(SELECT count(*) FROM done) = ${keys.length}`;
  const [low, high] = [Math.min(...seqs), Math.max(...seqs)];
  // `seq + 0` keeps the array out of the index condition: filtered, and hashed, not descended.
  return {
    isIn,
    ctes: `${done},
           listed AS (DELETE FROM ${t('queue')} WHERE as_id = ${asIdSql} AND seq BETWEEN ${low} AND ${high}
             AND seq + 0 = ANY ('{${seqs.join(',')}}'::bigint[]) AND ${all} RETURNING seq),
           found AS (${returned(` AND NOT ${all}`)}),
           gone AS (SELECT seq FROM listed UNION ALL SELECT seq FROM found)`,
  };
}

/**
 * Deletes the acknowledged transactions and their queue rows: `txnIds`, in order, each a no-op
 * unless it is in flight; `seqs`, when known, those of all their queue rows (see acknowledgedSql). BEGIN, the lock, the deletes (which write only while the sender epoch
 * is still `fence`) and COMMIT go in one simple query; a refused fence then rejects with
 * SenderFencedError, nothing written.
 *
 * @example
 * ```ts
 * await acknowledge(tables, 'irc', fence, [sent.txnId]);
 * ```
 */
export async function acknowledge(
  tables: StoreTables,
  asId: string,
  fence: string | undefined,
  txnIds: readonly string[],
  seqs?: readonly number[],
): Promise<void> {
  const keys = txnIds.map(parseTxnId).filter((key) => key !== null);
  if (keys.length === 0) return;
  const { pool, t } = tables;
  const asIdSql = sqlLiteral(asId);
  const fenced =
    fence === undefined
      ? ''
      : ` AND (SELECT sender_epoch FROM ${t('as_state')} WHERE as_id = ${asIdSql}) = ${sqlLiteral(fence)}`;
  // Known seqs are those of every id: usable only when every id parses.
  const { ctes } = acknowledgedSql(t, asIdSql, keys, fenced, keys.length === txnIds.length ? seqs : undefined);
  const text =
    `BEGIN; ${QUEUE_SCAN_SETTINGS} ${lockAsState(t, asIdSql)}` +
    ` WITH ${ctes} SELECT count(*) FROM gone;` +
    ' SET LOCAL synchronous_commit = off; COMMIT';
  const results = await inTransaction(
    pool,
    async (_client, begun: pg.QueryResult[]) => begun,
    () => 'committed',
    (client) => client.query(text) as unknown as Promise<pg.QueryResult[]>,
  );
  // The first SELECT of the lot reads the epoch, under the lock, before the deletes.
  const epoch = (results.find((r) => r.command === 'SELECT')?.rows[0] as { sender_epoch: string } | undefined)
    ?.sender_epoch;
  if (fence !== undefined && epoch !== fence) throw new SenderFencedError(asId);
}
