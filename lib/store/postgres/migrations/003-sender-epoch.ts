/**
 * Schema version 3 of PostgresStore: `as_state.sender_epoch`, the fencing token of an AS's sender.
 * A process that wins the AS's sender lock increments it and remembers the value; each of its
 * writes locks the AS's `as_state` row first and goes ahead only while the epoch is still its
 * own. A sender that lost its lock without knowing (killed, its lock connection cut) while a
 * write of its was in flight can then no longer commit over what the new sender has read.
 */
export const migration003 = `
ALTER TABLE as_state ADD COLUMN sender_epoch bigint NOT NULL DEFAULT 0;
`;
