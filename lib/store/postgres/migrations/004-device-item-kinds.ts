/**
 * Schema version 4 of PostgresStore: the MSC3202 item kinds, `deviceList` and `keyCounts`
 * (`publishDeviceListUpdate`, `publishKeyCounts`).
 *
 * - `queue.kind`: its CHECK (named by PostgreSQL `queue_kind_check`) admits the two kinds. Added
 *   NOT VALID: the rows already queued hold older kinds, so the check needs no scan of the queue
 *   under the migration's lock; new rows are checked all the same.
 * - `transactions.device_list_count`, `transactions.key_counts_count`: the transaction's items of
 *   the two kinds, 0 for rows stored before.
 *
 * `dead_letters` has no CHECK on its kind: nothing to do there.
 */
export const migration004 = `
ALTER TABLE queue DROP CONSTRAINT queue_kind_check;
ALTER TABLE queue ADD CONSTRAINT queue_kind_check
  CHECK (kind IN ('event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts')) NOT VALID;
ALTER TABLE transactions
  ADD COLUMN device_list_count integer NOT NULL DEFAULT 0,
  ADD COLUMN key_counts_count integer NOT NULL DEFAULT 0;
`;
