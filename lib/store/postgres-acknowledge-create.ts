/**
 * PostgresStore's `acknowledgeAndCreate`: the acknowledgement and the next transaction in one
 * database transaction of four round trips (BEGIN, acknowledge-and-read, store, COMMIT) instead of
 * the nine that `acknowledge` plus `createTransaction` take. On loopback a draining queue spends
 * most of its time waiting on those round trips.
 *
 * The reading statement deletes the acknowledged transaction and its queue rows and reads the
 * next rows in the same statement: its data-modifying CTEs see the snapshot from before the
 * deletes, so the rows just deleted are excluded by seq. The storing statement takes the next id
 * from the AS's counter row and inserts the transaction; the primary key on `transactions.as_id`
 * keeps it to one in flight even if another process creates at the same moment (then nothing is
 * inserted, the id is skipped, never reused, and the caller gets the in-flight StoreError).
 */
import type pg from 'pg';
import { StoreError } from '../errors.ts';
import { fitsBytes, itemBytes } from './batch-bytes.ts';
import { inTransaction } from './postgres-connection.ts';
import type { BatchLimits, ItemKind, QueuedItem, StoredTransaction } from './store.ts';

type Build = (items: readonly QueuedItem[]) => string;

/** The transaction's outcome; a failed creation still commits the acknowledgement. */
export type CreateOutcome = { txn: StoredTransaction | null } | { error: unknown };

/**
 * Acknowledges `txnId` (a no-op unless it is the AS's transaction in flight) and stores the next
 * transaction from the AS's queue. `t(table)` gives the schema-qualified table name. Database
 * failures reject; a failed creation (build() threw, a transaction is in flight) resolves with
 * its error, the acknowledgement committed.
 *
 * @example
 * ```ts
 * const outcome = await acknowledgeAndCreate(pool, (table) => `"koa_appservice".${table}`, 'irc', 7, limits, build);
 * if ('error' in outcome) throw outcome.error;
 * ```
 */
export async function acknowledgeAndCreate(
  pool: pg.Pool,
  t: (table: string) => string,
  asId: string,
  txnId: number,
  limits: BatchLimits,
  build: Build,
): Promise<CreateOutcome> {
  return inTransaction<CreateOutcome>(pool, async (client) => {
    const { rows } = await client.query<{ seq: string; kind: ItemKind; json: string; in_flight: string | null }>(
      `WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2 RETURNING seqs),
            gone AS (DELETE FROM ${t('queue')} WHERE as_id = $1 AND seq IN (SELECT unnest(seqs) FROM done) RETURNING seq)
       SELECT q.seq, q.kind, q.json,
              (SELECT txn_id FROM ${t('transactions')} WHERE as_id = $1 AND txn_id <> $2) AS in_flight
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (
         SELECT seq, kind, json FROM ${t('queue')}
         WHERE as_id = $1 AND seq NOT IN (SELECT seq FROM gone)
         ORDER BY seq LIMIT $3
       ) AS q ON true`,
      [asId, txnId, limits.event + limits.ephemeral + limits.toDevice]);
    // One row at least (the LEFT JOIN), so that in_flight is read even when the queue is empty.
    const inFlight = rows[0]?.in_flight ?? null;
    if (inFlight !== null) return { error: new StoreError(`appservice "${asId}" already has transaction ${inFlight} in flight`) };
    const counts: Record<ItemKind, number> = { event: 0, ephemeral: 0, toDevice: 0 };
    const items: QueuedItem[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (row.seq === null) break;
      const size = limits.bytes === undefined ? 0 : itemBytes(row.json);
      if (counts[row.kind] >= limits[row.kind] || !fitsBytes(limits, items.length, bytes, size)) break;
      bytes += size;
      counts[row.kind]++;
      items.push({ seq: Number(row.seq), kind: row.kind, json: row.json });
    }
    if (items.length === 0) return { txn: null };
    let body: string;
    try {
      body = build(items);
      if (typeof body !== 'string') throw new TypeError('createTransaction(): build() must return a string');
    } catch (error) {
      return { error };
    }
    const { rows: [stored] } = await client.query<{ txn_id: string }>(
      `WITH id AS (
         INSERT INTO ${t('as_state')} AS s (as_id, next_txn_id) VALUES ($1, 2)
         ON CONFLICT (as_id) DO UPDATE SET next_txn_id = s.next_txn_id + 1 RETURNING next_txn_id - 1 AS txn_id)
       INSERT INTO ${t('transactions')} (as_id, txn_id, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
       SELECT $1, txn_id, $2, $3, $4, $5, $6::bigint[], $7 FROM id
       ON CONFLICT (as_id) DO NOTHING RETURNING txn_id`,
      [asId, body, counts.event, counts.ephemeral, counts.toDevice, items.map((i) => i.seq), Date.now()]);
    if (!stored) return { error: new StoreError(`appservice "${asId}" already has a transaction in flight`) };
    return { txn: { asId, txnId: Number(stored.txn_id), body, counts } };
  }, () => true);
}
