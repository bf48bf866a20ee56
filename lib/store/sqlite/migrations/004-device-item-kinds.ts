/**
 * Schema version 4 of SqliteStore: the MSC3202 item kinds, `deviceList` and `keyCounts`
 * (`publishDeviceListUpdate`, `publishKeyCounts`).
 *
 * - `queue.kind`: its CHECK admits the two kinds. SQLite cannot alter a CHECK, so the table is
 *   rebuilt: rows keep their rowid, AS, seq and bytes, so the queue order, the backlog and the
 *   transactions' `last_seq` ranges are unchanged.
 * - `dead_letters`: the same CHECK, the same rebuild. The table used to appear on first use; it is
 *   made here when missing so that the rebuild has one shape to start from. Ids are kept and
 *   so is the AUTOINCREMENT high-water mark: an id a deleted letter had is never handed out again.
 * - `transactions.device_list_count`, `transactions.key_counts_count`: the transaction's items of
 *   the two kinds, 0 for rows stored before.
 */
export const migration004 = `
CREATE TABLE queue_v4 (
  id          INTEGER PRIMARY KEY,
  as_id       TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts')),
  json        TEXT    NOT NULL,
  enqueued_at INTEGER NOT NULL
);
INSERT INTO queue_v4 (id, as_id, seq, kind, json, enqueued_at) SELECT id, as_id, seq, kind, json, enqueued_at FROM queue;
DROP TABLE queue;
ALTER TABLE queue_v4 RENAME TO queue;
CREATE UNIQUE INDEX queue_by_as ON queue (as_id, seq);

CREATE TABLE IF NOT EXISTS dead_letters (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  as_id        TEXT    NOT NULL,
  kind         TEXT    NOT NULL,
  json         TEXT    NOT NULL,
  txn_id       TEXT    NOT NULL,
  reason       TEXT    NOT NULL,
  set_aside_at INTEGER NOT NULL
);
CREATE TABLE dead_letters_v4 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  as_id        TEXT    NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts')),
  json         TEXT    NOT NULL,
  txn_id       TEXT    NOT NULL,
  reason       TEXT    NOT NULL,
  set_aside_at INTEGER NOT NULL
);
INSERT INTO dead_letters_v4 SELECT id, as_id, kind, json, txn_id, reason, set_aside_at FROM dead_letters;
-- sqlite_sequence has no key: update the copy's row when the copy made one, insert it otherwise.
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'dead_letters'), 0))
  WHERE name = 'dead_letters_v4';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'dead_letters_v4', seq FROM sqlite_sequence
  WHERE name = 'dead_letters' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'dead_letters_v4');
DROP TABLE dead_letters;
ALTER TABLE dead_letters_v4 RENAME TO dead_letters;
CREATE INDEX dead_letters_by_as ON dead_letters (as_id, id);

ALTER TABLE transactions ADD COLUMN device_list_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN key_counts_count INTEGER NOT NULL DEFAULT 0;
`;
