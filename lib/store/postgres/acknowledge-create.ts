/**
 * PostgresStore's `acknowledgeAndCreate`: the acknowledgement and the next transaction in one
 * fenced database transaction (fence.ts) of two round trips (BEGIN, the fence and
 * acknowledge-and-read; store and COMMIT) instead of the ten that `acknowledge` plus
 * `createTransaction` take. A draining queue spends most of its time waiting on those round
 * trips, each of which also waits for the server process to be scheduled: on a busy machine that
 * costs more than the statements themselves. Several statements go in one round trip only with
 * the simple query protocol, which has no parameters: values are inlined as literals.
 *
 * The reading statement deletes the acknowledged transaction and its queue rows and reads the
 * next rows in the same statement: its data-modifying CTEs see the snapshot from before the
 * deletes, so the rows just deleted are excluded by seq. The storing statement takes the next id
 * from the AS's counter row and inserts the transaction; the primary key on `transactions.as_id`
 * keeps it to one in flight even if another process creates at the same moment (then nothing is
 * inserted, the id is skipped, never reused, and the caller gets the InFlightMismatchError).
 */
import type pg from 'pg';
import { InFlightMismatchError } from '../../errors.ts';
import { BatchCut, buildBody } from '../batch.ts';
import type { BatchLimits, ItemKind, QueuedItem } from '../store.ts';
import { formatTxnId, NO_TXN, parseTxnId } from '../txn-id.ts';
import { named, seqArray, sqlLiteral, TXN_ID_SQL, type StoreTables } from './connection.ts';
import { fencedTransaction } from './fence.ts';
import type { CreateOutcome } from './create-transaction.ts';

type Build = (items: readonly QueuedItem[]) => string;

/**
 * The outcome is committed either way: a failed creation still commits the acknowledgement.
 * Acknowledges `txnId` (a no-op unless it is the AS's transaction in flight) and stores the next
 * transaction from the AS's queue. `t(table)` gives the schema-qualified table name. Database
 * failures reject; a failed creation (build() threw, a transaction is in flight) resolves with
 * its error, the acknowledgement committed.
 *
 * @example
 * ```ts
 * const outcome = await acknowledgeAndCreate(tables, 'irc', fence, sent.txnId, limits, build);
 * if ('error' in outcome) throw outcome.error;
 * ```
 */
export async function acknowledgeAndCreate(
  tables: StoreTables,
  asId: string,
  fence: string | undefined,
  txnId: string,
  limits: BatchLimits,
  build: Build,
): Promise<CreateOutcome> {
  const { t, birth } = tables;
  const acked = parseTxnId(txnId) ?? NO_TXN;
  const asIdSql = sqlLiteral(asId);
  // One more than the largest limit: a queue of one kind (the usual case) is cut from one read,
  // rather than reading (and sending to us) the rows of all three limits every time.
  const chunk =
    Math.max(limits.event, limits.ephemeral, limits.toDevice, limits.deviceList ?? 0, limits.keyCounts ?? 0) + 1;
  const ackedSql = `txn_id = ${acked.n} AND id_prefix = ${sqlLiteral(acked.birth)}`;
  // Sent with BEGIN and the fence in one round trip (fence.ts), so its values are inlined.
  const ackAndRead = `WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = ${asIdSql} AND ${ackedSql} RETURNING seqs),
            gone AS (DELETE FROM ${t('queue')} WHERE as_id = ${asIdSql} AND seq = ANY ((SELECT seqs FROM done)::bigint[]) RETURNING seq)
       SELECT q.seq, q.kind, q.json,
              (SELECT ${TXN_ID_SQL} FROM ${t('transactions')} WHERE as_id = ${asIdSql} AND NOT (${ackedSql})) AS in_flight
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (
         SELECT seq, kind, json FROM ${t('queue')}
         WHERE as_id = ${asIdSql} AND seq NOT IN (SELECT seq FROM gone)
         ORDER BY seq LIMIT ${chunk}
       ) AS q ON true`;
  let committed = false;
  return fencedTransaction<CreateOutcome>(
    tables,
    asId,
    fence,
    async (client, read) => {
      const rows = read!.rows as { seq: string | null; kind: ItemKind; json: string; in_flight: string | null }[];
      // One row at least (the LEFT JOIN), so that in_flight is read even when the queue is empty.
      const inFlight = rows[0]?.in_flight ?? null;
      if (inFlight !== null) return { error: new InFlightMismatchError(asId, inFlight) };
      const cut = new BatchCut(limits);
      for (const row of rows) {
        if (row.seq === null || !cut.take({ seq: Number(row.seq), kind: row.kind, json: row.json })) break;
      }
      // A mixed queue that the first read did not fill: the rest in this transaction, which no
      // longer sees the rows it deleted.
      type Row = { seq: string | null; kind: ItemKind; json: string };
      for (let read: readonly Row[] = rows; !cut.full && read.length === chunk;) {
        read = (
          await client.query<{ seq: string; kind: ItemKind; json: string }>({
            ...named(`SELECT seq, kind, json FROM ${t('queue')} WHERE as_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`),
            values: [asId, read[read.length - 1]!.seq, chunk],
          })
        ).rows;
        for (const row of read) if (!cut.take({ seq: Number(row.seq), kind: row.kind, json: row.json })) break;
      }
      const { items, counts } = cut;
      if (items.length === 0) return { txn: null };
      let body: string;
      try {
        body = buildBody(build, items);
      } catch (error) {
        return { error };
      }
      // The store and the COMMIT in one round trip: one simple query, values inlined.
      const [insert] = (await client.query(
        `WITH id AS (
         INSERT INTO ${t('as_state')} AS s (as_id, next_txn_id) VALUES (${asIdSql}, 2)
         ON CONFLICT (as_id) DO UPDATE SET next_txn_id = s.next_txn_id + 1 RETURNING next_txn_id - 1 AS txn_id)
       INSERT INTO ${t('transactions')} (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at, device_list_count, key_counts_count)
       SELECT ${asIdSql}, txn_id, ${sqlLiteral(birth)}, ${sqlLiteral(body)}, ${counts.event}, ${counts.ephemeral}, ${counts.toDevice},
              '${seqArray(items)}'::bigint[], ${Date.now()}, ${counts.deviceList ?? 0}, ${counts.keyCounts ?? 0} FROM id
       ON CONFLICT (as_id) DO NOTHING RETURNING txn_id; COMMIT`,
      )) as unknown as pg.QueryResult<{ txn_id: string }>[];
      committed = true;
      const stored = insert?.rows[0];
      if (!stored) return { error: new InFlightMismatchError(asId) };
      return { txn: { asId, txnId: formatTxnId(birth, stored.txn_id), body, counts } };
    },
    () => (committed ? 'committed' : true),
    ackAndRead,
  );
}

/**
 * Deletes the acknowledged transaction and its queue rows in one fenced database transaction; a
 * no-op unless `txnId` is the AS's transaction in flight.
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
  const { t } = tables;
  await fencedTransaction(
    tables,
    asId,
    fence,
    (client) =>
      client.query({
        ...named(`WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2 AND id_prefix = $3 RETURNING seqs)
     DELETE FROM ${t('queue')} WHERE as_id = $1 AND seq = ANY ((SELECT seqs FROM done)::bigint[])`),
        values: [asId, acked.n, acked.birth],
      }),
    () => true,
  );
}
