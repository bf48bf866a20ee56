/**
 * PostgresStore's `acknowledgeAndCreate`: the acknowledgement and the next transaction in one
 * fenced database transaction (fence.ts) of two round trips (BEGIN, the fence and
 * acknowledge-and-read; store and COMMIT). A draining queue spends most of its time waiting on
 * round trips and, with a durable server, on the disk flush of each commit that creates. Several
 * statements go in one round trip only with the simple query protocol, which has no parameters:
 * values are inlined as literals.
 *
 * When it has to create, it stores up to TRANSACTIONS_AHEAD more full transactions after the one
 * it returns, in the same commit: the sender then sends them one after the other (`nextStored`),
 * and acknowledges each with a commit that does not wait for the disk (acknowledge.ts), so the
 * queue pays one flush per 1 + TRANSACTIONS_AHEAD transactions. When a transaction created ahead
 * is already stored after the acknowledged one, it is returned and nothing is created.
 *
 * One statement deletes the acknowledged transactions and their queue rows and says what is
 * stored next; the next one reads what follows, and no longer sees the rows just deleted. Every
 * sender write of the AS holds the AS's `as_state` row lock (fence.ts), so no other creation for
 * the AS runs meanwhile.
 */
import type pg from 'pg';
import { InFlightMismatchError } from '../../errors.ts';
import { BatchCut, buildBody } from '../batch.ts';
import type { BatchLimits, ItemKind, QueuedItem } from '../store.ts';
import { formatTxnId, NO_TXN, parseTxnId } from '../txn-id.ts';
import { acknowledgedSql } from './acknowledge.ts';
import { named, seqArray, sqlLiteral, type StoreTables } from './connection.ts';
import { fencedTransaction } from './fence.ts';
import type { CreateOutcome, StoredEntry } from './stored-cache.ts';
import { STORED_COLUMNS, storedRowColumns, storedTransaction, type StoredRow } from './stored-row.ts';

type Build = (items: readonly QueuedItem[]) => string;
type QueueRow = { seq: string; kind: ItemKind; json: string };

/**
 * With a durable server each creation's commit waits for a disk flush (a transaction must be on
 * disk before it is sent), and that flush, not the CPU, bounds a draining queue. So a creation
 * also stores up to this many full transactions after the one it returns, in the same commit.
 * They are stored like the one in flight, same ids and bytes whenever sent; only one is ever
 * sent at a time.
 */
export const TRANSACTIONS_AHEAD = 3;

/**
 * The outcome is committed either way: a failed creation still commits the acknowledgement.
 * Acknowledges `txnId` (a no-op unless it is the AS's transaction in flight; the `deferred`
 * acknowledgements of the ones before it are written first), then returns the
 * stored transaction that follows it, or creates the next ones from the AS's queue. Database
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
  deferred: readonly string[] = [],
  seqs?: readonly number[],
): Promise<CreateOutcome> {
  const { t } = tables;
  const asIdSql = sqlLiteral(asId);
  // Acknowledgements held back (stored-cache.ts) go first, in the same statement.
  const acked = parseTxnId(txnId) ?? NO_TXN;
  const keys = [...deferred.map(parseTxnId).filter((key) => key !== null), acked];
  // Known seqs are those of every id: usable only when every id parses.
  const known = keys.length === deferred.length + 1 && acked !== NO_TXN ? seqs : undefined;
  const { isIn, ctes } = acknowledgedSql(t, asIdSql, keys, '', known);
  // Enough rows for every transaction a creation may store when the queue holds one kind (the
  // usual case), plus one to learn whether more follow; a mixed queue reads on as it needs.
  const chunk = (1 + TRANSACTIONS_AHEAD) * largestLimit(limits) + 1;
  // Sent with BEGIN and the fence in one round trip (fence.ts), so its values are inlined. The
  // first statement acknowledges and says what is stored next; the second, which sees the first's
  // deletes, reads the items of that stored transaction when there is one and it keeps no body,
  // otherwise the queue's head, from which this call creates. Two statements, so that the
  // transaction's columns come once rather than on every item's row.
  const ackAndRead = `WITH ${ctes},
            stored AS (SELECT ${STORED_COLUMNS} FROM ${t('transactions')} WHERE as_id = ${asIdSql} AND NOT ${isIn} ORDER BY txn_id LIMIT 1)
       SELECT (SELECT count(*) FROM done WHERE txn_id = ${acked.n})::int AS acked, ${storedRowColumns('stored')}
       FROM (SELECT 1) AS one LEFT JOIN stored ON true;
       (SELECT seq, kind, json FROM ${t('queue')}
        WHERE as_id = ${asIdSql} AND NOT EXISTS (SELECT 1 FROM ${t('transactions')} WHERE as_id = ${asIdSql})
        ORDER BY seq LIMIT ${chunk})
       UNION ALL
       (SELECT seq, kind, json FROM ${t('queue')} WHERE as_id = ${asIdSql} AND seq = ANY (
          (SELECT seqs FROM ${t('transactions')} WHERE as_id = ${asIdSql} AND body IS NULL ORDER BY txn_id LIMIT 1)::bigint[])
        ORDER BY seq)`;
  let committed = false;
  return fencedTransaction<CreateOutcome>(
    tables,
    asId,
    fence,
    async (client, _last, [status, read]) => {
      const head = status!.rows[0] as StoredRow & { acked: number };
      const items = read!.rows as QueueRow[];
      if (head.txn_id != null) {
        // Not acknowledged: that one is still in flight, and nothing may be created meanwhile.
        if (head.acked === 0) {
          return { error: new InFlightMismatchError(asId, formatTxnId(head.id_prefix, head.txn_id)) };
        }
        // Created ahead: hand it out. The commit stores only the acknowledgement (see acknowledge.ts).
        await client.query('SET LOCAL synchronous_commit = off; COMMIT');
        committed = true;
        try {
          const rows = items.length === 0 ? [head] : items.map((item) => ({ ...head, ...item }));
          return { txn: storedTransaction(asId, rows, build, 'acknowledgeAndCreate') };
        } catch (error) {
          return { error };
        }
      }
      return create(client, tables, asIdSql, asId, items, chunk, limits, build, () => (committed = true));
    },
    () => (committed ? 'committed' : true),
    ackAndRead,
  );
}

/** Cuts and stores the next transactions from `rows` (the queue's head), COMMIT included. */
async function create(
  client: pg.PoolClient,
  { t, birth }: StoreTables,
  asIdSql: string,
  asId: string,
  rows: readonly QueueRow[],
  chunk: number,
  limits: BatchLimits,
  build: Build,
  onCommit: () => void,
): Promise<CreateOutcome> {
  // The rows in order, read on past the first chunk when a mixed queue needs more; this
  // transaction no longer sees the rows it deleted.
  let buffer = rows;
  let pos = 0;
  let more = buffer.length === chunk;
  const peek = async (): Promise<QueueRow | undefined> => {
    if (pos < buffer.length) return buffer[pos];
    if (!more) return undefined;
    const after = buffer[buffer.length - 1]!.seq;
    buffer = (
      await client.query<QueueRow>({
        ...named(`SELECT seq, kind, json FROM ${t('queue')} WHERE as_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`),
        values: [asId, after, chunk],
      })
    ).rows;
    pos = 0;
    more = buffer.length === chunk;
    return buffer[0];
  };
  const cuts: BatchCut[] = [];
  for (
    let previous: BatchCut | undefined;
    cuts.length === 0 || (previous!.full && cuts.length <= TRANSACTIONS_AHEAD);
  ) {
    const cut = new BatchCut(limits);
    for (let row = await peek(); row; row = pos < buffer.length ? buffer[pos] : await peek()) {
      if (!cut.take({ seq: Number(row.seq), kind: row.kind, json: row.json })) break;
      pos++;
    }
    if (cut.items.length === 0) break;
    cuts.push(cut);
    previous = cut;
  }
  if (cuts.length === 0) return { txn: null };
  // Only the one handed out now is built: the rows keep no body (stored-row.ts), and the ones
  // ahead are built when they are handed out.
  let body: string;
  try {
    body = buildBody(build, cuts[0]!.items);
  } catch (error) {
    return { error };
  }
  // The store and the COMMIT in one round trip: one simple query, values inlined. The ids are
  // taken from the AS's counter in one step, in the order of the cuts.
  const k = cuts.length;
  const values = cuts
    .map(({ items, counts }, i) => {
      return `(${i}, NULL::text, ${counts.event}, ${counts.ephemeral}, ${counts.toDevice}, '${seqArray(items)}', ${counts.deviceList ?? 0}, ${counts.keyCounts ?? 0})`;
    })
    .join(', ');
  const [insert] = (await client.query(
    `WITH id AS (
       INSERT INTO ${t('as_state')} AS s (as_id, next_txn_id) VALUES (${asIdSql}, ${1 + k})
       ON CONFLICT (as_id) DO UPDATE SET next_txn_id = s.next_txn_id + ${k} RETURNING next_txn_id - ${k} AS first)
     INSERT INTO ${t('transactions')} (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at, device_list_count, key_counts_count)
     SELECT ${asIdSql}, id.first + v.i, ${sqlLiteral(birth)}, v.body, v.e, v.ep, v.td, v.seqs::bigint[], ${Date.now()}, v.dl, v.kc
     FROM id, (VALUES ${values}) AS v(i, body, e, ep, td, seqs, dl, kc)
     RETURNING txn_id; COMMIT`,
  )) as unknown as pg.QueryResult<{ txn_id: string }>[];
  onCommit();
  const ids = insert?.rows.map((row) => Number(row.txn_id)) ?? [];
  if (ids.length !== k) return { error: new InFlightMismatchError(asId) };
  // The VALUES row i took the id first + i.
  const first = Math.min(...ids);
  const stored: StoredEntry[] = cuts.map(({ items, counts }, i) => ({
    n: first + i,
    txnId: formatTxnId(birth, first + i),
    counts: { ...counts },
    items,
  }));
  return { txn: { asId, txnId: stored[0]!.txnId, body, counts: stored[0]!.counts }, stored };
}

function largestLimit(limits: BatchLimits): number {
  return Math.max(limits.event, limits.ephemeral, limits.toDevice, limits.deviceList ?? 0, limits.keyCounts ?? 0);
}
