/**
 * Schema version 2 of SqliteStore: one queue row per (AS, item) carrying the item's JSON, with a
 * sequence number per AS.
 *
 * Version 1 stored each item once in `items`, with reference-counted `queue` rows pointing at it
 * and an AUTOINCREMENT `seq`. Most events go to one AS, and for them that cost an items row, a
 * queue row, a sqlite_sequence update and three statements to acknowledge; the push benchmark
 * spent about half of its time in the store. Now:
 *
 * - `queue`: one row per (AS, item). An item several ASes want is stored once per AS (the
 *   PostgresStore does the same); in exchange enqueueing is one INSERT per row and acknowledging
 *   one range DELETE. `seq` counts per AS from 1 and is taken from `as_state.next_seq`, so it is
 *   never reused; the rowid is only the table's physical key.
 * - Because a transaction always takes a prefix of its AS's queue and acknowledging deletes that
 *   prefix, the AS's queued seqs are the contiguous range [first queued seq, next_seq): the
 *   backlog size is `next_seq - first`, read from the index, with no counter to keep up to date.
 *   `as_state.queued` is gone.
 * - `transactions`: keyed by (as_id, txn_id) now, since a store may create the next few
 *   transactions ahead of sending (see TRANSACTIONS_AHEAD in sqlite-statements.ts); the AS's
 *   lowest is the one in flight. Each still covers its AS's queue rows from the previous one's
 *   `last_seq` (exclusive) to its own; `last_seq` is renumbered to the new per-AS seqs.
 *
 * The data migrate with it: queued items keep their order, the in-flight transaction keeps its
 * id, body and items, and the next transaction ids are untouched.
 */
export const migration002 = `
CREATE TABLE queue_v2 (
  id          INTEGER PRIMARY KEY,
  as_id       TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice')),
  json        TEXT    NOT NULL,
  enqueued_at INTEGER NOT NULL
);

INSERT INTO queue_v2 (as_id, seq, kind, json, enqueued_at)
  SELECT q.as_id, ROW_NUMBER() OVER (PARTITION BY q.as_id ORDER BY q.seq), i.kind, i.json, i.enqueued_at
  FROM queue q JOIN items i ON i.id = q.item_id
  ORDER BY q.seq;

-- A transaction's items are its AS's first queue rows: its new last_seq is how many there are.
UPDATE transactions SET last_seq =
  (SELECT count(*) FROM queue q WHERE q.as_id = transactions.as_id AND q.seq <= transactions.last_seq);

INSERT OR IGNORE INTO as_state (as_id) SELECT DISTINCT as_id FROM queue;
ALTER TABLE as_state ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 1;
UPDATE as_state SET next_seq = 1 + (SELECT count(*) FROM queue q WHERE q.as_id = as_state.as_id);
ALTER TABLE as_state DROP COLUMN queued;

DROP TABLE queue;
DROP TABLE items;
ALTER TABLE queue_v2 RENAME TO queue;
CREATE UNIQUE INDEX queue_by_as ON queue (as_id, seq);

CREATE TABLE transactions_v2 (
  as_id           TEXT    NOT NULL,
  txn_id          INTEGER NOT NULL,
  body            TEXT    NOT NULL,
  event_count     INTEGER NOT NULL,
  ephemeral_count INTEGER NOT NULL,
  to_device_count INTEGER NOT NULL,
  last_seq        INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (as_id, txn_id)
) WITHOUT ROWID;
INSERT INTO transactions_v2 SELECT as_id, txn_id, body, event_count, ephemeral_count, to_device_count, last_seq, created_at FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_v2 RENAME TO transactions;
`;
