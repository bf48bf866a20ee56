/**
 * Schema version 1 of PostgresStore. Runs with `search_path` set to the store's schema, so the
 * names are unqualified here and the same SQL serves any schema.
 *
 * - `queue`: one row per (AS, item), carrying the item's JSON. Unlike SqliteStore there is no
 *   shared `items` table: most events go to one AS, so one row per item is the cheaper write, and
 *   acknowledging is one DELETE with no reference counts for other processes to contend on.
 *   `seq` comes from an identity sequence, so it is unique across processes. `txn_id` marks the
 *   rows taken by the AS's in-flight transaction: with several processes committing enqueues at
 *   different moments, a transaction is not always a seq prefix of the queue, so it is marked.
 * - `transactions`: at most one in flight per AS (the primary key says so): the stored id and
 *   the exact body to resend until acknowledged.
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
  txn_id      bigint,
  PRIMARY KEY (as_id, seq)
);
CREATE INDEX queue_in_flight ON queue (as_id, txn_id) WHERE txn_id IS NOT NULL;

CREATE TABLE transactions (
  as_id           text    NOT NULL PRIMARY KEY,
  txn_id          bigint  NOT NULL,
  body            text    NOT NULL,
  event_count     integer NOT NULL,
  ephemeral_count integer NOT NULL,
  to_device_count integer NOT NULL,
  created_at      bigint  NOT NULL
);

CREATE TABLE as_state (
  as_id       text   NOT NULL PRIMARY KEY,
  next_txn_id bigint NOT NULL DEFAULT 1
);
`;
