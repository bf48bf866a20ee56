/**
 * Schema version 5 of SqliteStore: a transaction row may leave its body out.
 *
 * A transaction's items are its AS's queue rows after the previous transaction's `last_seq` (or
 * from the head of the queue) up to its own, and the sender's builder is pure: the store rebuilds
 * the body from those rows when it hands the transaction out again (`inFlight`, `nextStored`, a
 * transaction created ahead), instead of writing every item a second time inside a stored body.
 *
 * - `transactions.body`: nullable. Rows stored before keep their body and are resent with those
 *   exact bytes (they may have reached the AS already); new rows store NULL. SQLite cannot drop a
 *   NOT NULL, so the table is rebuilt with its rows, key and columns unchanged.
 */
export const migration005 = `
CREATE TABLE transactions_v5 (
  as_id             TEXT    NOT NULL,
  txn_id            INTEGER NOT NULL,
  body              TEXT,
  event_count       INTEGER NOT NULL,
  ephemeral_count   INTEGER NOT NULL,
  to_device_count   INTEGER NOT NULL,
  last_seq          INTEGER NOT NULL,
  created_at        INTEGER NOT NULL,
  id_prefix         TEXT    NOT NULL DEFAULT '',
  device_list_count INTEGER NOT NULL DEFAULT 0,
  key_counts_count  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (as_id, txn_id)
) WITHOUT ROWID;
INSERT INTO transactions_v5 (as_id, txn_id, body, event_count, ephemeral_count, to_device_count, last_seq, created_at, id_prefix, device_list_count, key_counts_count)
  SELECT as_id, txn_id, body, event_count, ephemeral_count, to_device_count, last_seq, created_at, id_prefix, device_list_count, key_counts_count FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_v5 RENAME TO transactions;
`;
