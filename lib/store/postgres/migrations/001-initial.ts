/**
 * Schema version 1 of PostgresStore. Runs with `search_path` set to the store's schema, so the
 * names are unqualified here and the same SQL serves any schema.
 *
 * - `queue`: one row per (AS, item), carrying the item's JSON. Unlike SqliteStore there is no
 *   shared `items` table: most events go to one AS, so one row per item is the cheaper write, and
 *   acknowledging is one DELETE with no reference counts for other processes to contend on.
 *   `seq` comes from an identity sequence, so it is unique across processes. A row is inserted
 *   once and deleted once, never updated: a queue table that updates its rows fills its indexes
 *   with dead versions that every read of the queue head then walks.
 * - `transactions`: at most one in flight per AS (the primary key says so): the stored id, the
 *   exact body to resend until acknowledged, and the seqs of its rows. A transaction is created
 *   only when none is in flight, so it takes the AS's first rows; but with several processes
 *   committing enqueues at different moments, a row with a lower seq may commit after it was
 *   created, so its rows are listed rather than given as a seq range.
 * - `as_state`: the next transaction id per AS, a counter row taken FOR UPDATE by whoever creates
 *   a transaction, so ids stay unique and increasing whichever process creates them.
 */
export const migration001 = `
CREATE TABLE queue (
  as_id       text   NOT NULL,
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  kind        text   NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice')),
  json        text   NOT NULL,
  enqueued_at bigint NOT NULL,
  PRIMARY KEY (as_id, seq)
);
-- A queue churns: have autovacuum clean and re-analyze it after a small share of changes, so
-- dead rows at the head do not pile up and plans follow the real size.
ALTER TABLE queue SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE transactions (
  as_id           text    NOT NULL PRIMARY KEY,
  txn_id          bigint  NOT NULL,
  body            text    NOT NULL,
  event_count     integer NOT NULL,
  ephemeral_count integer NOT NULL,
  to_device_count integer NOT NULL,
  seqs            bigint[] NOT NULL,
  created_at      bigint  NOT NULL
);

CREATE TABLE as_state (
  as_id       text   NOT NULL PRIMARY KEY,
  next_txn_id bigint NOT NULL DEFAULT 1
);
`;
