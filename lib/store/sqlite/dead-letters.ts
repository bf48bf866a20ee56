/**
 * SqliteStore's side of `OversizeSupport` (lib/store/dead-letters.ts): splitting a refused
 * transaction and keeping the items an AS refuses even alone.
 *
 * The `dead_letters` table is made by schema version 4 (migrations/004-device-item-kinds.ts); the
 * `IF NOT EXISTS` statements below find it there and change nothing.
 */
import type Database from 'better-sqlite3';
import type { DeadLetter } from '../dead-letters.ts';
import type { BatchLimits, ItemKind, QueuedItem, StoredTransaction } from '../store.ts';
import { formatTxnId, parseTxnId } from '../txn-id.ts';
import type { SqliteOperations } from './statements.ts';

// AUTOINCREMENT: without it SQLite hands a deleted (replayed) letter's id to the next one, and an
// operator holding an old listing would drop or replay the wrong letter.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS dead_letters (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  as_id        TEXT    NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts')),
  json         TEXT    NOT NULL,
  txn_id       TEXT    NOT NULL,
  reason       TEXT    NOT NULL,
  set_aside_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_as ON dead_letters (as_id, id);
`;

interface DeadLetterRow {
  id: number;
  as_id: string;
  kind: ItemKind;
  json: string;
  txn_id: string;
  reason: string;
  set_aside_at: number;
}

/** Synchronous operations, each in its own IMMEDIATE transaction. */
export interface SqliteDeadLetters {
  replaceInFlight(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): StoredTransaction | null;
  setAside(asId: string, txnId: string, reason: string): number;
  list(asId: string): DeadLetter[];
  replay(asId: string, id: number): boolean;
  drop(asId: string, id: number): boolean;
}

/**
 * Creates the table if needed and prepares the statements, on an open, migrated database.
 *
 * @example
 * const dead = sqliteDeadLetters(db, ops);
 * dead.setAside('irc', txn.txnId, 'HTTP 413');
 */
export function sqliteDeadLetters(db: Database.Database, ops: SqliteOperations): SqliteDeadLetters {
  db.exec(SCHEMA);
  const s = {
    // The AS's first stored transaction (by its counter, as in statements.ts) is the one in flight.
    inFlight: db.prepare<[string], { txn_id: number; id_prefix: string; last_seq: number }>(
      'SELECT txn_id, id_prefix, last_seq FROM transactions WHERE as_id = ? ORDER BY txn_id LIMIT 1',
    ),
    deleteStored: db.prepare<[string]>('DELETE FROM transactions WHERE as_id = ?'),
    deleteTxn: db.prepare<[string, number]>('DELETE FROM transactions WHERE as_id = ? AND txn_id = ?'),
    // The in-flight transaction's items are exactly its AS's queue rows up to its last seq.
    keep: db.prepare<[string, string, number, string, number]>(
      `INSERT INTO dead_letters (as_id, kind, json, txn_id, reason, set_aside_at)
       SELECT as_id, kind, json, ?, ?, ? FROM queue WHERE as_id = ? AND seq <= ? ORDER BY seq`,
    ),
    deleteRows: db.prepare<[string, number]>('DELETE FROM queue WHERE as_id = ? AND seq <= ?'),
    list: db.prepare<[string], DeadLetterRow>(
      'SELECT id, as_id, kind, json, txn_id, reason, set_aside_at FROM dead_letters WHERE as_id = ? ORDER BY id',
    ),
    take: db.prepare<[string, number], { kind: ItemKind; json: string }>(
      'DELETE FROM dead_letters WHERE as_id = ? AND id = ? RETURNING kind, json',
    ),
  };

  /** The AS's transaction in flight when its id is `txnId`, else undefined. */
  const inFlightAs = (asId: string, txnId: string) => {
    const first = s.inFlight.get(asId);
    const key = parseTxnId(txnId);
    return first !== undefined && key !== null && first.txn_id === key.n && first.id_prefix === key.birth
      ? first
      : undefined;
  };

  const replaceInFlight = db.transaction(
    (asId: string, txnId: string, limits: BatchLimits, build: (items: readonly QueuedItem[]) => string) => {
      ops.catchUp(asId);
      if (inFlightAs(asId, txnId) === undefined) return null;
      // The ones created ahead go too: the new transaction takes the queue from its head again.
      s.deleteStored.run(asId);
      return ops.createTransaction(asId, limits, build);
    },
  );

  const setAside = db.transaction((asId: string, txnId: string, reason: string): number => {
    ops.catchUp(asId);
    const first = inFlightAs(asId, txnId);
    if (first === undefined) return 0;
    const kept = s.keep.run(
      formatTxnId(first.id_prefix, first.txn_id),
      reason,
      Date.now(),
      asId,
      first.last_seq,
    ).changes;
    s.deleteTxn.run(asId, first.txn_id);
    s.deleteRows.run(asId, first.last_seq);
    return kept;
  });

  const replay = db.transaction((asId: string, id: number): boolean => {
    const letter = s.take.get(asId, id);
    if (letter === undefined) return false;
    ops.enqueue([{ items: [{ kind: letter.kind, json: letter.json, asIds: [asId] }], enqueuedAt: Date.now() }]);
    return true;
  });

  return {
    replaceInFlight: (asId, txnId, limits, build) => replaceInFlight.immediate(asId, txnId, limits, build),
    setAside: (asId, txnId, reason) => setAside.immediate(asId, txnId, reason),
    list: (asId) =>
      s.list.all(asId).map((row) => ({
        id: row.id,
        asId: row.as_id,
        kind: row.kind,
        json: row.json,
        txnId: row.txn_id,
        reason: row.reason,
        setAsideAt: row.set_aside_at,
      })),
    replay: (asId, id) => replay.immediate(asId, id),
    drop: (asId, id) => s.take.get(asId, id) !== undefined,
  };
}
