/**
 * Schema version 1 of SqliteStore.
 *
 * - `items`: each enqueued item once, however many ASes want it; `refs` counts the queue rows
 *   that point at it, so acknowledging deletes the item with its last reference without an
 *   index on `queue.item_id`.
 * - `queue`: one row per (AS, item), in enqueue order (`seq`; AUTOINCREMENT so a seq is never
 *   handed out twice). The index on `as_id` carries the rowid, so "this AS's rows by seq" and
 *   "this AS's rows up to seq N" are index range scans.
 * - `transactions`: at most one in flight per AS (the primary key says so). Its items are exactly
 *   the AS's queue rows with `seq <= last_seq`, because a transaction always takes a prefix of the
 *   queue and only one exists at a time: marking items costs no write per item.
 * - `as_state`: the next transaction id (a counter, never MAX()+1, so ids are not reused after
 *   everything is acknowledged) and the queued count that backs the backlog metric.
 */
export const migration001 = `
CREATE TABLE items (
  id          INTEGER PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice')),
  json        TEXT    NOT NULL,
  enqueued_at INTEGER NOT NULL,
  refs        INTEGER NOT NULL
);

CREATE TABLE queue (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  as_id   TEXT    NOT NULL,
  item_id INTEGER NOT NULL
);
CREATE INDEX queue_by_as ON queue (as_id);

CREATE TABLE transactions (
  as_id           TEXT    NOT NULL PRIMARY KEY,
  txn_id          INTEGER NOT NULL,
  body            TEXT    NOT NULL,
  event_count     INTEGER NOT NULL,
  ephemeral_count INTEGER NOT NULL,
  to_device_count INTEGER NOT NULL,
  last_seq        INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE as_state (
  as_id       TEXT    NOT NULL PRIMARY KEY,
  next_txn_id INTEGER NOT NULL DEFAULT 1,
  queued      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;
