/**
 * Schema version 5 of PostgresStore: an AS may have several stored transactions, and a stored
 * transaction need not keep its body.
 *
 * - `transactions`: keyed by (as_id, txn_id) instead of as_id, so that a commit can store the next
 *   few transactions ahead of sending (see TRANSACTIONS_AHEAD in acknowledge-create.ts). The AS's
 *   lowest id is the one in flight; the others are sent after it, one at a time, in id order.
 *   That at most one creation runs at a time per AS is now kept by the AS's `as_state` row, which
 *   every sender write locks first (fence.ts), rather than by the key.
 * - `transactions.body`: nullable. A row stored from this version on keeps only its items' seqs,
 *   and its body is rebuilt from those queue rows with the sender's builder (the same items and
 *   the same pure builder give the same bytes), so each event is written once. A row stored
 *   before keeps its body and is resent with exactly those bytes.
 *
 * The rows already stored stay as they are: the transaction in flight keeps its id, body and items.
 */
export const migration005 = `
ALTER TABLE transactions DROP CONSTRAINT transactions_pkey;
ALTER TABLE transactions ADD PRIMARY KEY (as_id, txn_id);
ALTER TABLE transactions ALTER COLUMN body DROP NOT NULL;
`;
