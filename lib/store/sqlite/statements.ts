/**
 * SqliteStore's SQL (schema version 2, see migrations/002-queue-rows-carry-json.ts; bodies are
 * rebuilt from queue rows since version 5, see stored-transactions.ts), prepared
 * once per open store, and its operations, each wrapped once in a better-sqlite3 transaction
 * function. Preparing a statement or wrapping a transaction costs more than running a small one,
 * so nothing here is built per call.
 */
import type Database from 'better-sqlite3';
import { InFlightMismatchError } from '../../errors.ts';
import { BatchCut, buildBody } from '../batch.ts';
import { uniqueAsIds } from '../check-input.ts';
import type { BatchLimits, ItemKind, StoredTransaction, TransactionBuilder } from '../store.ts';
import { NO_TXN, formatTxnId } from '../txn-id.ts';
import { DeferredAcks } from './deferred-acks.ts';
import type { CreateOutcome, PendingEnqueue, SqliteOperations, TxnKey } from './operations.ts';
import { SQLITE_TRANSACTION_COLUMNS, storedTransactions, type SqliteTransactionRow } from './stored-transactions.ts';

export type { CreateOutcome, PendingEnqueue, SqliteOperations, TxnKey } from './operations.ts';

type Build = TransactionBuilder;

/**
 * With synchronous = FULL every creation costs an fsync (a transaction must be on disk before
 * it is sent), and on an ordinary disk that fsync, not the CPU, bounds a draining queue. So
 * `acknowledgeAndCreate`, when it has to create, also creates up to this many full transactions
 * after the one it returns, in the same commit: later calls hand them out with no fsync. They
 * are stored like the one in flight, same ids and bytes whenever sent; only one is ever sent at
 * a time. Only full ones: a short batch would be sent short while more items may still come.
 */
export const TRANSACTIONS_AHEAD = 3;

/** Rows per multi-row INSERT: 5 parameters each, well under SQLite's limit of 32766. */
const ROWS_PER_INSERT = 50;
const COLUMNS = 5;

// Inferred types, kept private: the statements never leave this file.
function prepare(db: Database.Database) {
  return {
    nextSeq: db.prepare<[string], number>('SELECT next_seq FROM as_state WHERE as_id = ?').pluck(),
    insertRow: db.prepare<[string, number, ItemKind, string, number]>(
      'INSERT INTO queue (as_id, seq, kind, json, enqueued_at) VALUES (?, ?, ?, ?, ?)',
    ),
    // A statement costs a round through the binding and the VDBE whatever its size: a burst goes
    // in ROWS_PER_INSERT rows at a time (about 1 µs less per row than one by one).
    insertRows: db.prepare<unknown[]>(
      `INSERT INTO queue (as_id, seq, kind, json, enqueued_at) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?)').join(', ')}`,
    ),
    setNextSeq: db.prepare<[string, number]>(
      'INSERT INTO as_state (as_id, next_seq) VALUES (?, ?) ON CONFLICT (as_id) DO UPDATE SET next_seq = excluded.next_seq',
    ),
    // The AS's first stored transaction is the one in flight; any others were created ahead.
    inFlight: db.prepare<[string], SqliteTransactionRow>(
      `SELECT ${SQLITE_TRANSACTION_COLUMNS} FROM transactions WHERE as_id = ? ORDER BY txn_id LIMIT 1`,
    ),
    storedNext: db.prepare<[string, number], SqliteTransactionRow>(
      `SELECT ${SQLITE_TRANSACTION_COLUMNS} FROM transactions WHERE as_id = ? AND txn_id > ? ORDER BY txn_id LIMIT 1`,
    ),
    inFlightId: db.prepare<[string], { txn_id: number; id_prefix: string }>(
      'SELECT txn_id, id_prefix FROM transactions WHERE as_id = ? ORDER BY txn_id LIMIT 1',
    ),
    storedAfter: db
      .prepare<[string, number], number>('SELECT count(*) FROM transactions WHERE as_id = ? AND txn_id > ?')
      .pluck(),
    // Read a chunk at a time, and only as far as one transaction's worth. Rows as arrays: better-sqlite3
    // builds those faster than objects, and iterate() pays a native call per row.
    pending: db
      .prepare<[string, number, number], [number, ItemKind, string]>(
        'SELECT seq, kind, json FROM queue WHERE as_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      )
      .raw(),
    takeTxnId: db
      .prepare<[string], number>(
        'UPDATE as_state SET next_txn_id = next_txn_id + 1 WHERE as_id = ? RETURNING next_txn_id - 1',
      )
      .pluck(),
    // No body: it is rebuilt from the queue rows it covers (see stored-transactions.ts).
    insertTxn: db.prepare<[string, number, string, number, number, number, number, number, number, number]>(
      `INSERT INTO transactions (as_id, txn_id, id_prefix, event_count, ephemeral_count, to_device_count, last_seq, created_at, device_list_count, key_counts_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // Only the transaction in flight can be acknowledged: one created ahead is not sent yet.
    deleteTxn: db
      .prepare<[string, number, string, string], number>(
        `DELETE FROM transactions WHERE as_id = ? AND txn_id = ? AND id_prefix = ?
         AND txn_id = (SELECT min(txn_id) FROM transactions WHERE as_id = ?) RETURNING last_seq`,
      )
      .pluck(),
    deleteRows: db.prepare<[string, number]>('DELETE FROM queue WHERE as_id = ? AND seq <= ?'),
    first: db.prepare<[string], { seq: number; enqueued_at: number }>(
      'SELECT seq, enqueued_at FROM queue WHERE as_id = ? ORDER BY seq LIMIT 1',
    ),
  };
}

/**
 * Prepares the statements and wraps the operations once. The write transactions are IMMEDIATE:
 * they take the write lock at once, so a reader never has to upgrade mid-way.
 * `relaxAcknowledgements`: commit acknowledgements without an fsync (with synchronous = FULL).
 *
 * @example
 * ```ts
 * const ops = sqliteOperations(db, true); // after migrateSqlite(db, path)
 * ops.enqueue([{ items: [{ kind: 'event', json: '{}', asIds: ['irc'] }], enqueuedAt: Date.now() }]);
 * ```
 */
export function sqliteOperations(
  db: Database.Database,
  relaxAcknowledgements: boolean,
  birth: string,
): SqliteOperations {
  const s = prepare(db);
  const stored = storedTransactions(db);
  const deferred = new DeferredAcks();
  // Not prepared statements: SQLite applies `PRAGMA synchronous = …` when it compiles the
  // statement, not when it runs it, so preparing one switches the connection at once (a 'normal'
  // store prepared with a FULL statement ran every commit with an fsync) and its first run after
  // that does nothing. exec() compiles and runs it each time, which is what takes effect.
  const relaxSync = (): void => void db.exec('PRAGMA synchronous = NORMAL');
  const fullSync = (): void => void db.exec('PRAGMA synchronous = FULL');

  function enqueue(batch: readonly PendingEnqueue[]): void {
    // Each AS's next seq is read once per group and written back once.
    const next = new Map<string, number>();
    const values: unknown[] = [];
    for (const { items, enqueuedAt } of batch) {
      for (const item of items) {
        for (const asId of uniqueAsIds(item.asIds)) {
          const seq = next.get(asId) ?? s.nextSeq.get(asId) ?? 1;
          values.push(asId, seq, item.kind, item.json, enqueuedAt);
          if (values.length === ROWS_PER_INSERT * COLUMNS) {
            s.insertRows.run(values);
            values.length = 0;
          }
          next.set(asId, seq + 1);
        }
      }
    }
    for (let i = 0; i < values.length; i += COLUMNS) {
      s.insertRow.run(
        values[i] as string,
        values[i + 1] as number,
        values[i + 2] as ItemKind,
        values[i + 3] as string,
        values[i + 4] as number,
      );
    }
    for (const [asId, seq] of next) s.setNextSeq.run(asId, seq);
  }

  /**
   * Stores the next transaction from the AS's queue rows after `afterSeq`. `full`: it stopped at a
   * limit with rows left over, so another full one could follow.
   */
  function createOne(
    asId: string,
    afterSeq: number,
    limits: BatchLimits,
    build: Build,
  ): { txn: StoredTransaction; lastSeq: number; full: boolean } | null {
    const cut = new BatchCut(limits);
    // One more than the largest limit: a queue of one kind (the usual case) takes a single read.
    const chunk =
      Math.max(limits.event, limits.ephemeral, limits.toDevice, limits.deviceList ?? 0, limits.keyCounts ?? 0) + 1;
    for (let after = afterSeq; !cut.full;) {
      const rows = s.pending.all(asId, after, chunk);
      for (const [seq, kind, json] of rows) if (!cut.take({ seq, kind, json })) break;
      if (rows.length < chunk) break;
      after = rows[rows.length - 1]![0];
    }
    const { items, counts, full } = cut;
    if (items.length === 0) return null;
    const txnId = s.takeTxnId.get(asId)!;
    // A throwing build() rolls the whole transaction back, the txn id included.
    const body = buildBody(build, items);
    const lastSeq = items[items.length - 1]!.seq;
    s.insertTxn.run(
      asId,
      txnId,
      birth,
      counts.event,
      counts.ephemeral,
      counts.toDevice,
      lastSeq,
      Date.now(),
      counts.deviceList ?? 0,
      counts.keyCounts ?? 0,
    );
    return { txn: { asId, txnId: formatTxnId(birth, txnId), body, counts }, lastSeq, full };
  }

  /** `idle`: the caller has just seen that nothing is stored for the AS (no need to look again). */
  function create(asId: string, limits: BatchLimits, build: Build, ahead = 0, idle = false): StoredTransaction | null {
    if (deferred.has(asId)) acknowledge(asId, NO_TXN);
    const current = idle ? undefined : s.inFlightId.get(asId);
    if (current !== undefined) throw new InFlightMismatchError(asId, formatTxnId(current.id_prefix, current.txn_id));
    const first = createOne(asId, 0, limits, build);
    // Full transactions after it, created now in the same commit (see acknowledgeAndCreate).
    for (let last = first, n = 0; last?.full && n < ahead; n++) {
      last = createOne(asId, last.lastSeq, limits, build);
      if (last) stored.remember(asId, last.txn, last.lastSeq, build);
    }
    return first?.txn ?? null;
  }

  /** False when `txnId` is not the AS's transaction in flight (then nothing changes); the AS's deferred ones go first. */
  function acknowledge(asId: string, txn: TxnKey): boolean {
    for (const key of deferred.take(asId)) acknowledge(asId, key);
    const lastSeq = s.deleteTxn.get(asId, txn.n, txn.birth, asId);
    if (lastSeq === undefined) return false;
    // The transaction's items are exactly the AS's queue rows up to its last seq.
    s.deleteRows.run(asId, lastSeq);
    stored.forget(asId, txn.n);
    return true;
  }

  const enqueueTx = db.transaction(enqueue);
  const createTx = db.transaction(create);
  const acknowledgeTx = db.transaction((asId: string, txn: TxnKey): void => void acknowledge(asId, txn));
  const acknowledgeAndCreateTx = db.transaction(
    (asId: string, txn: TxnKey, limits: BatchLimits, build: Build): CreateOutcome => {
      // After an acknowledgement, a stored transaction was created ahead: it is the next one.
      // Without one, a transaction still in flight makes the creation below refuse, as it should.
      const acknowledged = acknowledge(asId, txn);
      const next = acknowledged && stored.mayHaveAhead(asId) ? s.inFlight.get(asId) : undefined;
      try {
        if (next) return { txn: stored.toStored('acknowledgeAndCreate', asId, next, build) };
        if (acknowledged) stored.noneAhead(asId);
        // Nested: a savepoint, so a failure undoes the creation only.
        return { txn: createTx(asId, limits, build, TRANSACTIONS_AHEAD, acknowledged) };
      } catch (error) {
        return { error };
      }
    },
  );

  function writeAcknowledgement(asId: string, txn: TxnKey): void {
    // Inside a group of writes (commit-group.ts) the group has chosen the commit's sync level.
    if (!relaxAcknowledgements || db.inTransaction) return acknowledgeTx.immediate(asId, txn);
    relaxSync();
    try {
      acknowledgeTx.immediate(asId, txn);
    } finally {
      fullSync();
    }
  }

  return {
    enqueue: (batch) => enqueueTx.immediate(batch),
    inFlight(asId, build) {
      this.catchUp(asId);
      const row = s.inFlight.get(asId);
      return row ? stored.toStored('inFlight', asId, row, build) : null;
    },
    nextStored(asId, txn, build) {
      const row = stored.mayHaveAhead(asId) ? s.storedNext.get(asId, txn.n) : undefined;
      return row ? stored.toStored('nextStored', asId, row, build) : null;
    },
    createTransaction: (asId, limits, build) => createTx.immediate(asId, limits, build),
    acknowledge(asId, txn) {
      // A transaction created ahead follows it: written with the AS's next write (deferred-acks.ts).
      if (stored.mayHaveAhead(asId) && s.storedAfter.get(asId, txn.n)! > 0 && deferred.defer(asId, txn)) return;
      writeAcknowledgement(asId, txn);
    },
    acknowledgeAndCreate(asId, txn, limits, build) {
      // Handing out a transaction created ahead writes nothing that must reach the disk before
      // it is sent: only the acknowledgement, which may be lost (see SqliteStore.acknowledge).
      const relaxed =
        relaxAcknowledgements && !db.inTransaction && stored.mayHaveAhead(asId) && s.storedAfter.get(asId, txn.n)! > 0;
      if (!relaxed) return acknowledgeAndCreateTx.immediate(asId, txn, limits, build);
      relaxSync();
      try {
        return acknowledgeAndCreateTx.immediate(asId, txn, limits, build);
      } finally {
        fullSync();
      }
    },
    catchUp(asId) {
      if (deferred.has(asId)) writeAcknowledgement(asId, NO_TXN);
    },
    rolledBack: () => stored.rereadAhead(),
    catchUpAll() {
      for (const asId of deferred.asIds()) this.catchUp(asId);
    },
    backlog(asId) {
      this.catchUp(asId);
      const first = s.first.get(asId);
      if (!first) return { size: 0, oldestEnqueuedAt: null };
      // An AS's queued seqs are contiguous (see the migration to schema version 2).
      return { size: s.nextSeq.get(asId)! - first.seq, oldestEnqueuedAt: first.enqueued_at };
    },
  };
}
