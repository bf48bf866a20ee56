/**
 * PostgresStore's `createTransaction`: look first without writing (an idle sender's polls then
 * cost one read and no counter update), then, in one fenced database transaction (fence.ts), take
 * the next id from the AS's counter row, cut the batch from the AS's queue and store the
 * transaction.
 */
import { InFlightMismatchError } from '../../errors.ts';
import { BatchCut, buildBody } from '../batch.ts';
import type { BatchLimits, ItemKind, QueuedItem } from '../store.ts';
import { formatTxnId } from '../txn-id.ts';
import { named, seqArray, TXN_ID_SQL, type StoreTables } from './connection.ts';
import { fencedTransaction } from './fence.ts';
import type { CreateOutcome } from './stored-cache.ts';

type Build = (items: readonly QueuedItem[]) => string;

/**
 * Stores the AS's next transaction, or resolves `{ txn: null }` when its queue is empty.
 * Database failures reject.
 *
 * @example
 * ```ts
 * const outcome = await createTransaction({ pool, t: (table) => `"koa_appservice".${table}`, birth }, 'irc', fence, limits, build);
 * if ('error' in outcome) throw outcome.error;
 * ```
 */
export async function createTransaction(
  tables: StoreTables,
  asId: string,
  fence: string | undefined,
  limits: BatchLimits,
  build: Build,
): Promise<CreateOutcome> {
  const { pool, t, birth } = tables;
  const {
    rows: [look],
  } = await pool.query<{ in_flight: string | null; pending: boolean }>(
    `SELECT (SELECT ${TXN_ID_SQL} FROM ${t('transactions')} WHERE as_id = $1 ORDER BY txn_id LIMIT 1) AS in_flight,
            EXISTS (SELECT 1 FROM ${t('queue')} WHERE as_id = $1) AS pending`,
    [asId],
  );
  if (look?.in_flight != null) return { error: new InFlightMismatchError(asId, look.in_flight) };
  if (!look?.pending) return { txn: null };
  return fencedTransaction<CreateOutcome>(
    tables,
    asId,
    fence,
    async (client) => {
      // The counter row is locked by the fence (fence.ts): creations for one AS
      // take turns across processes, and each sees what the previous one committed.
      const {
        rows: [id],
      } = await client.query<{ txn_id: string }>({
        ...named(`INSERT INTO ${t('as_state')} AS s (as_id, next_txn_id) VALUES ($1, 2)
       ON CONFLICT (as_id) DO UPDATE SET next_txn_id = s.next_txn_id + 1 RETURNING next_txn_id - 1 AS txn_id`),
        values: [asId],
      });
      const current = await client.query<{ txn_id: string }>({
        ...named(`SELECT ${TXN_ID_SQL} AS txn_id FROM ${t('transactions')} WHERE as_id = $1 ORDER BY txn_id LIMIT 1`),
        values: [asId],
      });
      if (current.rows[0]) return { error: new InFlightMismatchError(asId, current.rows[0].txn_id) };
      // No transaction is in flight, so every queued row of the AS is free to take.
      const { rows } = await client.query<{ seq: string; kind: ItemKind; json: string }>({
        ...named(`SELECT seq, kind, json FROM ${t('queue')} WHERE as_id = $1 ORDER BY seq LIMIT $2`),
        values: [asId, BatchCut.maxItems(limits)],
      });
      const cut = new BatchCut(limits);
      for (const row of rows) if (!cut.take({ seq: Number(row.seq), kind: row.kind, json: row.json })) break;
      const { items, counts } = cut;
      if (items.length === 0) return { txn: null }; // rolls back: the id is not used up
      const n = id!.txn_id;
      let body: string;
      try {
        body = buildBody(build, items);
      } catch (error) {
        return { error };
      }
      await client.query({
        ...named(`INSERT INTO ${t('transactions')} (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at, device_list_count, key_counts_count)
       VALUES ($1, $2, $8, NULL, $3, $4, $5, $6::bigint[], $7, $9, $10)`),
        values: [
          asId,
          n,
          counts.event,
          counts.ephemeral,
          counts.toDevice,
          seqArray(items),
          Date.now(),
          birth,
          counts.deviceList ?? 0,
          counts.keyCounts ?? 0,
        ],
      });
      const txnId = formatTxnId(birth, n);
      return { txn: { asId, txnId, body, counts }, stored: [{ n: Number(n), txnId, counts, items }] };
    },
    (outcome) => 'txn' in outcome && outcome.txn !== null,
  );
}
