/**
 * SqliteStore's side of `OversizeSupport` (lib/store/dead-letters.ts): splitting a refused
 * transaction and keeping the items an AS refuses even alone.
 *
 * The `dead_letters` table is created on first use (`IF NOT EXISTS`): a database without dead
 * letters never gets it, and the schema version of the queue is not touched by it.
 */
import type Database from 'better-sqlite3';
import type { DeadLetter } from './dead-letters.ts';
import type { SqliteOperations } from './sqlite-statements.ts';
import type { BatchLimits, ItemKind, QueuedItem, StoredTransaction } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dead_letters (
  id           INTEGER PRIMARY KEY,
  as_id        TEXT    NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice')),
  json         TEXT    NOT NULL,
  txn_id       INTEGER NOT NULL,
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
  txn_id: number;
  reason: string;
  set_aside_at: number;
}

/** Synchronous operations, each in its own IMMEDIATE transaction. */
export interface SqliteDeadLetters {
  replaceInFlight(asId: string, txnId: number, limits: BatchLimits, build: (items: readonly QueuedItem[]) => string): StoredTransaction | null;
  setAside(asId: string, txnId: number, reason: string): number;
  list(asId: string): DeadLetter[];
  replay(asId: string, id: number): boolean;
  drop(asId: string, id: number): boolean;
}

/**
 * Creates the table if needed and prepares the statements, on an open, migrated database.
 *
 * @example
 * const dead = sqliteDeadLetters(db, ops);
 * dead.setAside('irc', 42, 'HTTP 413');
 */
export function sqliteDeadLetters(db: Database.Database, ops: SqliteOperations): SqliteDeadLetters {
  db.exec(SCHEMA);
  const s = {
    inFlight: db.prepare<[string], { txn_id: number; last_seq: number }>(
      'SELECT txn_id, last_seq FROM transactions WHERE as_id = ? ORDER BY txn_id LIMIT 1'),
    deleteStored: db.prepare<[string]>('DELETE FROM transactions WHERE as_id = ?'),
    deleteTxn: db.prepare<[string, number]>('DELETE FROM transactions WHERE as_id = ? AND txn_id = ?'),
    // The in-flight transaction's items are exactly its AS's queue rows up to its last seq.
    keep: db.prepare<[number, string, number, string, number]>(
      `INSERT INTO dead_letters (as_id, kind, json, txn_id, reason, set_aside_at)
       SELECT as_id, kind, json, ?, ?, ? FROM queue WHERE as_id = ? AND seq <= ? ORDER BY seq`),
    deleteRows: db.prepare<[string, number]>('DELETE FROM queue WHERE as_id = ? AND seq <= ?'),
    list: db.prepare<[string], DeadLetterRow>(
      'SELECT id, as_id, kind, json, txn_id, reason, set_aside_at FROM dead_letters WHERE as_id = ? ORDER BY id'),
    take: db.prepare<[string, number], { kind: ItemKind; json: string }>(
      'DELETE FROM dead_letters WHERE as_id = ? AND id = ? RETURNING kind, json'),
  };

  const replaceInFlight = db.transaction((asId: string, txnId: number, limits: BatchLimits, build: (items: readonly QueuedItem[]) => string) => {
    if (s.inFlight.get(asId)?.txn_id !== txnId) return null;
    // The ones created ahead go too: the new transaction takes the queue from its head again.
    s.deleteStored.run(asId);
    return ops.createTransaction(asId, limits, build);
  });

  const setAside = db.transaction((asId: string, txnId: number, reason: string): number => {
    const first = s.inFlight.get(asId);
    if (first?.txn_id !== txnId) return 0;
    const kept = s.keep.run(txnId, reason, Date.now(), asId, first.last_seq).changes;
    s.deleteTxn.run(asId, txnId);
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
