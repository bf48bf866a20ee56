/**
 * Schema version 2 of PostgresStore: the store's birth, so that transaction ids are unique across
 * store databases too (see txn-id.ts).
 *
 * - `store_identity`: one row, `birth`, 12 random hex digits drawn when the schema gets this
 *   version. Every process sharing the schema reads the same birth.
 * - `transactions.id_prefix`: the birth the row's id was formatted with. A row stored before
 *   keeps '' and so its plain `<n>` id: it may already have reached the AS, and must be resent
 *   under the id the AS saw.
 */
export const migration002 = `
CREATE TABLE store_identity (birth text NOT NULL);
INSERT INTO store_identity (birth) VALUES (substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 12));
ALTER TABLE transactions ADD COLUMN id_prefix text NOT NULL DEFAULT '';
`;
