/**
 * Schema version 3 of SqliteStore: the store's birth, so that transaction ids are unique across
 * store databases too (see txn-id.ts).
 *
 * - `store_identity`: one row, `birth`, 12 random hex digits drawn when the database gets this
 *   version (a new file gets it at creation).
 * - `transactions.id_prefix`: the birth the row's id was formatted with. Rows stored before keep
 *   '' and so their plain `<n>` id: a transaction in flight may already have reached the AS,
 *   and it must be resent under the id the AS saw. New rows carry the birth.
 */
export const migration003 = `
CREATE TABLE store_identity (birth TEXT NOT NULL);
INSERT INTO store_identity (birth) VALUES (lower(hex(randomblob(6))));
ALTER TABLE transactions ADD COLUMN id_prefix TEXT NOT NULL DEFAULT '';
`;
